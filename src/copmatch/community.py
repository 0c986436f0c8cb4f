"""Community: the public facade. Opens a data dir and offers every verb copmatch has.

community = Community.open("copmatch-data")
community.import_jsonl(members=Path("members.jsonl"), documents=Path("documents.jsonl"))
community.build_index()
for expert in community.find_experts("descaling an espresso machine"):
    print(expert.score, expert.name)
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .embed import Embedder
from .experts import Expert, ExpertQuery, rank_experts, validate_query
from .index.snapshot import SnapshotDir, read_manifest, verify
from .indexing import BuildReport, build_index
from .ingest.jsonl import read_import_objects, read_jsonl_import
from .progress import Progress, from_cumulative
from .rank import MemberPriors, member_priors
from .searcher import Searcher
from .settings import Settings
from .store import ImportSummary, Store

DB_FILE = "copmatch.sqlite"


class Community:
    def __init__(self, data_dir: Path, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.settings = settings or Settings()
        self.store = Store(self.data_dir / DB_FILE)
        self.snapshots = SnapshotDir(self.data_dir / "index")
        self.cache_path = self.data_dir / "cache" / "embeddings.sqlite"
        self._embedder = embedder
        self._searcher: Searcher | None = None
        self._priors: MemberPriors | None = None
        self._lock = threading.Lock()
        self._batcher = None

    @classmethod
    def open(cls, data_dir: Path | str, settings: Settings | None = None) -> Community:
        return cls(Path(data_dir), settings)

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()
        self.store.close()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(model_id=self.settings.model_id, batch_size=self.settings.encode_batch_size)
        return self._embedder

    # --- admin: import and index ----------------------------------------------------
    def import_jsonl(
        self, members: Path | None = None, documents: Path | None = None, progress: Progress | None = None
    ) -> ImportSummary:
        total = sum(p.stat().st_size for p in (members, documents) if p is not None and p.is_file())
        advance = progress.task("Reading JSONL", total) if progress else None
        batch = read_jsonl_import(members, documents, self.store.member_ids(), advance)
        return self.store.import_batch(batch)

    def import_records(self, members: list | None = None, documents: list | None = None) -> ImportSummary:
        """Import decoded JSONL records (e.g. from an API request), validated like files."""
        return self.store.import_batch(read_import_objects(members, documents, self.store.member_ids()))

    def import_stackexchange(self, dump_dir: Path, progress: Progress | None = None) -> ImportSummary:
        from .ingest.stackexchange import dump_size, read_dump

        advance = None
        if progress:
            advance = from_cumulative(progress.task("Reading dump", dump_size(Path(dump_dir))))
        return self.store.import_batch(read_dump(Path(dump_dir), advance))

    def build_index(self, progress: Progress | None = None) -> BuildReport:
        report = build_index(self.store, self.snapshots.root, self.cache_path, self.embedder, self.settings, progress)
        self._current_searcher()  # switch this process to the new snapshot now
        return report

    def index_version(self) -> str | None:
        """The snapshot version queries are answered from now."""
        return self.snapshots.current_version()

    def index_status(self, check: bool = False) -> dict[str, Any]:
        version = self.snapshots.current_version()
        status: dict[str, Any] = {
            "current": version,
            "builds": self.store.builds(limit=5),
            "store": self.store.counts(),
        }
        if version is not None:
            path = self.snapshots.current_path()
            status["manifest"] = {k: v for k, v in read_manifest(path).items() if k != "checksums"}
            status["path"] = str(path)
            if check:
                status["damaged_files"] = verify(path)
        return status

    # --- members: who knows about X? -------------------------------------------------------
    def find_experts(
        self, text: str, limit: int = 10, exclude: Collection[str] = (), candidates: Collection[str] | None = None
    ) -> list[Expert]:
        return self.find_experts_batch([ExpertQuery(text, limit, exclude, candidates)])[0]

    def find_experts_batch(self, queries: Sequence[ExpertQuery]) -> list[list[Expert]]:
        """Rank experts for many queries; their texts are encoded in one batched call."""
        for query in queries:
            validate_query(query, self.settings)
        searcher, priors = self._current_searcher()
        vectors = self.encode_queries([q.text for q in queries])  # (n_queries, dim)
        opted_out = self.store.opted_out()
        return [rank_experts(searcher, q, v, priors, opted_out, self.settings) for q, v in zip(queries, vectors)]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors; through the micro-batcher when serving concurrent requests."""
        if self._batcher is not None:
            return self._batcher.encode(texts)
        return self.embedder.encode(texts)

    def enable_query_batching(self, max_batch: int = 32, max_wait_s: float = 0.002) -> None:
        """Share model calls between concurrent queries (the HTTP server turns this on)."""
        from .batching import MicroBatcher

        if self._batcher is None:
            self._batcher = MicroBatcher(self.embedder.encode, max_batch=max_batch, max_wait_s=max_wait_s)

    def _current_searcher(self) -> tuple[Searcher, MemberPriors]:
        """The searcher for the CURRENT snapshot, reopened when a build has switched it."""
        path = self.snapshots.current_path()
        with self._lock:
            if self._searcher is None or self._searcher.path != path:
                # The old searcher is dropped, not closed: a query on another thread may still hold it.
                searcher = Searcher.open(path, self.settings.model_id)
                self._priors = member_priors(searcher.corpus, self.settings)
                self._searcher = searcher
            return self._searcher, self._priors
