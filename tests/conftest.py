"""Shared fixtures: the real bundled model (loaded once), real SQLite files, real FAISS."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from copmatch import Community, Settings  # noqa: E402
from copmatch.embed import Embedder  # noqa: E402

DATA = Path(__file__).parent / "data"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "stackexchange"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(batch_size=16)


def open_community(path: Path, embedder: Embedder, settings: Settings | None = None) -> Community:
    return Community(path, settings or Settings(), embedder=embedder)


@pytest.fixture(scope="session")
def tiny_built(tmp_path_factory, embedder) -> Path:
    """The tiny test corpus imported and indexed once; tests copy it before writing."""
    path = tmp_path_factory.mktemp("tiny")
    community = open_community(path, embedder)
    community.import_jsonl(DATA / "members.jsonl", DATA / "documents.jsonl")
    community.build_index()
    community.close()
    return path


@pytest.fixture
def tiny(tiny_built, tmp_path, embedder) -> Community:
    """A private, writable copy of the built tiny community."""
    path = tmp_path / "tiny"
    shutil.copytree(tiny_built, path)
    community = open_community(path, embedder)
    yield community
    community.close()


@pytest.fixture(scope="session")
def sample_built(tmp_path_factory, embedder) -> Community:
    """The shipped sample community, imported and indexed once (read-only use)."""
    from copmatch.sample import documents_path, members_path

    community = open_community(tmp_path_factory.mktemp("sample"), embedder)
    community.import_jsonl(members_path(), documents_path())
    community.build_index()
    return community


def dump_dir(name: str) -> Path:
    path = SHARED_DATA / name
    if not (path / "Posts.xml").is_file():
        pytest.skip(f"development dump {path} is not present (../shared beside the repo)")
    return path
