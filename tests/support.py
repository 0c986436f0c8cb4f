"""Helpers the tests share (fixtures are in conftest.py): test data, opening a community."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
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


def small_dump(source, target, questions: int = 40):
    """The first QUESTIONS questions of a real dump with their answers, as a dump folder."""
    lines = (source / "Posts.xml").read_text(encoding="utf-8-sig").splitlines(keepends=True)
    rows = [(line, ET.fromstring(line.strip()).attrib) for line in lines if line.strip().startswith("<row")]
    kept_questions = {a["Id"] for _, a in rows if a.get("PostTypeId") == "1"}
    kept_questions = set(sorted(kept_questions, key=int)[:questions])
    kept = [line for line, a in rows if a["Id"] in kept_questions or a.get("ParentId") in kept_questions]
    target.mkdir(parents=True)
    (target / "Posts.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "".join(kept) + "</posts>\n"
    )
    return target


def built_tiny(data_dir: Path, settings: Settings | None = None, cache: Path | None = None) -> Community:
    """The tiny corpus imported and indexed in ``data_dir`` with the encoder a user's build picks
    (``cache``: an embedding cache to start from, so nothing is encoded again)."""
    if cache is not None:
        (data_dir / "cache").mkdir(parents=True, exist_ok=True)
        shutil.copy(cache, data_dir / "cache" / "embeddings.sqlite")
    community = Community(data_dir, settings or Settings())
    community.import_jsonl(DATA / "members.jsonl", DATA / "documents.jsonl")
    community.build_index()
    return community
