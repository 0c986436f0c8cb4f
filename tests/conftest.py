"""Shared fixtures: the real bundled model (loaded once), real SQLite files, real FAISS.

The built communities are built once per test run, whatever the number of pytest-xdist
workers: the first worker to ask builds into a folder all workers share (under a file
lock), and every worker then works on its own copy, so no two processes write one store.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from copmatch import Community, Settings
from copmatch.embedding.encoder import Embedder, Encoder
from copmatch.embedding.exports import SHARED_MODELS_ENV, ExportedModel, installed_export
from tests.support import DATA, dump_dir, open_community, small_dump

COMPLETE = ".complete"
MODEL_ID = Settings().model_id
NO_DATA_DIR = Path("/nonexistent-data-dir")  # exports are then looked up in the shared folder only


@pytest.fixture(scope="session")
def torch_embedder() -> Embedder:
    """sentence-transformers itself, for the tests about torch and the ONNX exports."""
    return Embedder(batch_size=16)


@pytest.fixture(scope="session")
def shared_export(build_once) -> ExportedModel:
    """The fp32 ONNX export that every test data dir finds in the shared models folder: the
    checkout's models/, which `make install` fills, else one exported once for this run and
    named in $COPMATCH_MODELS_DIR (child processes inherit it). Servers and CLI processes the
    tests start then query without loading torch, as a user's do after `make install`."""
    found = installed_export(NO_DATA_DIR, MODEL_ID, "fp32")
    if found is None:
        from copmatch.embedding.export import export_model

        os.environ[SHARED_MODELS_ENV] = str(build_once("models", lambda path: export_model(path, model_id=MODEL_ID)))
        found = installed_export(NO_DATA_DIR, MODEL_ID, "fp32")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def embedder(shared_export) -> Encoder:
    """The encoder the test communities are built with: the shared export (the same vectors as
    torch, cosine >= 0.9999, and the same identity, so one index serves both)."""
    return shared_export.encoder("fp32", batch_size=16)


@pytest.fixture(scope="session")
def build_once(tmp_path_factory) -> Callable[[str, Callable[[Path], None]], Path]:
    """``build_once(name, build)``: the folder ``build(folder)`` filled, built once per run."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base

    def get(name: str, build: Callable[[Path], None]) -> Path:
        target = shared / f"built-{name}"
        with FileLock(f"{target}.lock"):
            if not (target / COMPLETE).is_file():
                shutil.rmtree(target, ignore_errors=True)
                build(target)
                (target / COMPLETE).touch()
        return target

    return get


def imported_and_built(embedder: Embedder, members: Path, documents: Path) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        community = open_community(path, embedder)
        community.import_jsonl(members, documents)
        community.build_index()
        community.close()

    return build


def private_copy(built: Path, into: Path) -> Path:
    shutil.copytree(built, into, ignore=shutil.ignore_patterns(COMPLETE))
    return into


@pytest.fixture(scope="session")
def tiny_built(build_once, tmp_path_factory, embedder) -> Path:
    """The tiny test corpus imported and indexed once; tests copy it before writing."""
    built = build_once("tiny", imported_and_built(embedder, DATA / "members.jsonl", DATA / "documents.jsonl"))
    return private_copy(built, tmp_path_factory.mktemp("tiny") / "data")


@pytest.fixture
def tiny(tiny_built, tmp_path, embedder) -> Community:
    """A private, writable copy of the built tiny community."""
    community = open_community(private_copy(tiny_built, tmp_path / "tiny"), embedder)
    yield community
    community.close()


@pytest.fixture(scope="session")
def sample_built(build_once, tmp_path_factory, embedder) -> Community:
    """The shipped sample community, imported and indexed once (read-only use)."""
    from copmatch.sample import documents_path, members_path

    built = build_once("sample", imported_and_built(embedder, members_path(), documents_path()))
    community = open_community(private_copy(built, tmp_path_factory.mktemp("sample") / "data"), embedder)
    yield community
    community.close()


@pytest.fixture(scope="session")
def coffee_built(build_once, embedder) -> Path:
    """The first 40 questions of the real coffee dump with their answers, imported and indexed
    once (read-only: copy it before writing)."""
    source = dump_dir("coffee")

    def build(path: Path) -> None:
        dump = small_dump(source, path.parent / f"{path.name}-dump")
        community = open_community(path, embedder)
        community.import_stackexchange(dump)
        community.build_index()
        community.close()

    return build_once("coffee-40", build)


@pytest.fixture(scope="session")
def publications_built(build_once, tmp_path_factory, embedder) -> Community:
    """A content-only community (members and their publications, no Q&A), built once (read-only use)."""
    members, documents = DATA / "publication_members.jsonl", DATA / "publication_documents.jsonl"
    built = build_once("publications", imported_and_built(embedder, members, documents))
    community = open_community(private_copy(built, tmp_path_factory.mktemp("publications") / "data"), embedder)
    yield community
    community.close()
