"""Shared fixtures: the real bundled model (loaded once), real SQLite files, real FAISS."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from copmatch import Community
from copmatch.embedding.encoder import Embedder
from tests.support import DATA, open_community


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(batch_size=16)


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
