"""One way for every benchmark to get a built data dir: the sample community or a development
dump, imported, with the ONNX encoder exported and an index built.

Benchmark data dirs share one embedding cache (``benchmarks/.work/cache``, linked into each
data dir as its ``cache/`` folder): vectors are keyed by (model, text hash) and the same fp32
vectors come from sentence-transformers and the ONNX export, so a text encoded by one
benchmark is never encoded again by another. Benchmarks that measure encoding itself ask for
a private cache.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.lib.results import HERE, SHARED_DUMPS
from copmatch import Community, Settings
from copmatch.embedding.encoder import Encoder
from copmatch.sample import documents_path, members_path

SHARED_CACHE = HERE / ".work" / "cache"
SAMPLE = "sample"


def link_shared_cache(data_dir: Path) -> None:
    """Make ``data_dir``'s embedding cache the benchmarks' shared one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    SHARED_CACHE.mkdir(parents=True, exist_ok=True)
    link = data_dir / "cache"
    if link.is_symlink() or not link.exists():
        link.unlink(missing_ok=True)
        link.symlink_to(SHARED_CACHE.resolve(), target_is_directory=True)


def unlink_shared_cache(data_dir: Path) -> None:
    """Give ``data_dir`` an empty private cache again (its next build encodes everything)."""
    link = data_dir / "cache"
    if link.is_symlink():
        link.unlink()


def import_source(community: Community, source: str) -> None:
    """Import the sample community (``"sample"``) or the development dump named ``source``."""
    if source == SAMPLE:
        community.import_jsonl(members_path(), documents_path())
    else:
        community.import_stackexchange(SHARED_DUMPS / source)


def open_built(
    data_dir: Path,
    source: str = SAMPLE,
    settings: Settings | None = None,
    *,
    embedder: Encoder | None = None,
    shared_cache: bool = True,
) -> Community:
    """A data dir holding ``source``, imported once, exported to ONNX and indexed (a rebuild
    over an unchanged store encodes nothing)."""
    if shared_cache:
        link_shared_cache(data_dir)
    community = Community(data_dir, settings or Settings(), embedder=embedder)
    if community.store.counts()["documents"] == 0:
        import_source(community, source)
    if embedder is None:
        community.ensure_encoder_exported()  # queries then run torch-free, as after `make demo`
    community.build_index()
    return community
