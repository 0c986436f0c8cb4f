"""Helpers the tests share (fixtures are in conftest.py): test data, opening a community."""

from __future__ import annotations

from pathlib import Path

import pytest

from copmatch import Community, Settings
from copmatch.embedding.encoder import Embedder

DATA = Path(__file__).parent / "data"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "stackexchange"


def open_community(path: Path, embedder: Embedder, settings: Settings | None = None) -> Community:
    return Community(path, settings or Settings(), embedder=embedder)


def dump_dir(name: str) -> Path:
    path = SHARED_DATA / name
    if not (path / "Posts.xml").is_file():
        pytest.skip(f"development dump {path} is not present (../shared beside the repo)")
    return path
