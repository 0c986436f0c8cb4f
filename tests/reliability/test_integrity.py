"""Defects 6 and 7 of issue 13: damage is reported and never served silently; a killed build
is marked failed and its encoding is kept for the next build."""

from __future__ import annotations

import os
import signal

import httpx
import pytest
from typer.testing import CliRunner

from copmatch.cli.app import app
from copmatch.embedding.cache import EmbeddingCache
from copmatch.errors import IndexCorruptError
from copmatch.index.snapshot import CORPUS, MANIFEST, PASSAGE_VECTORS
from copmatch.services.build import fail_dead_builds
from copmatch.services.experts import ExpertQuery
from tests.reliability.live import live_server

runner = CliRunner()


def status(community, *extra):
    return runner.invoke(app, ["--data-dir", str(community.data_dir), "index", "status", *extra])


def overwrite_vectors(path):
    file = path / PASSAGE_VECTORS
    data = bytearray(file.read_bytes())
    data[-64:] = b"\x7f" * 64  # same size, other bytes
    file.write_bytes(bytes(data))


DAMAGE = {
    "overwritten vectors": overwrite_vectors,
    "truncated vectors": lambda p: (p / PASSAGE_VECTORS).write_bytes((p / PASSAGE_VECTORS).read_bytes()[:-100]),
    "truncated corpus": lambda p: (p / CORPUS).write_bytes((p / CORPUS).read_bytes()[:50]),
    "garbage vocabulary": lambda p: (p / "bm25" / "vocab.index.json").write_text("{garbage"),
    "deleted passage texts": lambda p: (p / "passage_texts.bin").unlink(),
    "deleted manifest": lambda p: (p / MANIFEST).unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damage_to_the_only_snapshot_is_an_error_with_a_hint(tiny, damage):
    DAMAGE[damage](tiny.snapshots.current_path())
    result = status(tiny, "--check")
    assert result.exit_code == 2 and "DAMAGED" in result.output, result.output
    assert "copmatch index build" in result.output
    query = runner.invoke(app, ["--data-dir", str(tiny.data_dir), "experts", "pumps"])
    assert query.exit_code == 2 and "copmatch index build" in query.output and "Traceback" not in query.output


def test_a_damaged_current_snapshot_falls_back_to_the_newest_intact_one(tiny):
    older = tiny.index_version()
    tiny.build_index()
    newer = tiny.index_version()
    overwrite_vectors(tiny.snapshots.current_path())
    fresh = type(tiny)(tiny.data_dir, tiny.settings, embedder=tiny._embedder)  # a new process's view
    try:
        answers = fresh.answer_experts([ExpertQuery("pump vibration")])
        assert answers.index_version == older != newer
        assert "Serving the older snapshot" in fresh.serving.current().warning
        with live_server(fresh) as base:
            ready = httpx.get(f"{base}/health/ready", timeout=30).json()
        assert ready["index_version"] == older and ready["warning"]
    finally:
        fresh.close()
    result = status(tiny, "--check")
    assert result.exit_code == 2 and older in result.output


def test_an_empty_current_file_and_ready_with_nothing_intact(tiny):
    tiny.snapshots.current_file.write_text("")
    result = status(tiny, "--check")
    assert result.exit_code == 2 and "KeyError" not in result.output
    overwrite_vectors(tiny.snapshots.snapshots / tiny.snapshots.versions()[0])
    with live_server(tiny) as base:
        ready = httpx.get(f"{base}/health/ready", timeout=30)
    assert ready.status_code == 503 and "index build" in ready.json()["hint"]


class Killed(BaseException):
    """Stands for kill -9 in-process: nothing after it runs (no failure is recorded)."""


def test_a_killed_build_is_marked_failed_and_its_encoding_kept(tiny):
    # A child process starts a build and is killed -9 in the middle of it.
    pid = os.fork()
    if pid == 0:  # the child: take the lock, record the build, die without a word
        try:
            with tiny.snapshots.build_lock():
                tiny.store.start_build("20990101T000000-dead", tiny.settings.model_id)
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    assert tiny.store.builds()[0]["status"] == "running"
    assert fail_dead_builds(tiny.store, tiny.snapshots.root) == ["20990101T000000-dead"]
    assert tiny.store.builds()[0]["status"] == "failed" and "died" in tiny.store.builds()[0]["error"]

    # Encoding: vectors are committed as they are made, so a build that dies keeps them.
    (tiny.data_dir / "cache" / "embeddings.sqlite").unlink()
    encoder, calls = tiny._embedder, []
    real_encode = encoder.encode

    def dying_encode(texts, progress=None):
        calls.append(len(texts))
        if len(calls) == 2:
            raise Killed
        return real_encode(texts, progress=progress)

    tiny.settings = tiny.settings.with_overrides(cache_commit_texts=4)
    encoder.encode = dying_encode
    try:
        with pytest.raises(Killed):
            tiny.build_index(full=True)  # a full build encodes everything (a derived one, nothing)
    finally:
        encoder.encode = real_encode
    cache = EmbeddingCache(tiny.data_dir / "cache" / "embeddings.sqlite", encoder.cache_key)
    kept = cache.conn.execute("SELECT count(*) FROM vectors").fetchone()[0]
    cache.close()
    assert kept == 4
    report = tiny.build_index(full=True)
    # The next build resumes: the 4 texts committed before the death are not encoded again.
    assert report.cached >= 4 and report.encoded <= report.passages + report.members - 4


def test_a_killed_incremental_build_leaves_the_previous_snapshot_serving(tiny):
    serving = tiny.index_version()
    before = [e.member_id for e in tiny.find_experts("pump vibration")]
    tiny.import_records(
        documents=[{"id": "p-new", "kind": "practice", "title": "Seal flush plans", "body": "Plan 11 for clean water."}]
    )
    tiny.delete_documents(["a1"])
    encoder = tiny._embedder
    pid = os.fork()
    if pid == 0:  # the child: a derived build, killed -9 when it starts encoding the new document
        try:
            encoder.encode = lambda texts, progress=None: os.kill(os.getpid(), signal.SIGKILL)
            tiny.build_index()
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    assert tiny.store.builds()[0]["status"] == "running"
    # Nothing after the kill ran: no snapshot was switched, and a new process serves the old one.
    assert tiny.snapshots.current_version() == serving
    fresh = type(tiny)(tiny.data_dir, tiny.settings, embedder=encoder)
    assert fresh.index_version() == serving
    assert [e.member_id for e in fresh.find_experts("pump vibration")] == before
    fresh.close()
    assert len(fail_dead_builds(tiny.store, tiny.snapshots.root)) == 1  # the dead build is marked failed
    assert tiny.store.builds()[0]["status"] == "failed"
    report = tiny.build_index()  # the next build still derives, and drops the deleted document
    assert report.mode == "incremental"
    searcher, _ = tiny.current_searcher()
    assert searcher.document_row("a1") is None and searcher.document_row("p-new") is not None


def test_index_status_check_on_an_intact_snapshot_is_zero(tiny):
    result = status(tiny, "--check")
    assert result.exit_code == 0 and "ok" in result.output
    with pytest.raises(IndexCorruptError):
        DAMAGE["truncated corpus"](tiny.snapshots.current_path())
        type(tiny)(tiny.data_dir, tiny.settings, embedder=tiny._embedder).find_experts("pumps")
