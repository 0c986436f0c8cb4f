"""The page-cache read-ahead of a served snapshot's per-query files (index/read_ahead.py)."""

from __future__ import annotations

import os
from pathlib import Path

from copmatch.index.read_ahead import ADVICE_BYTES, QUERY_FILES, read_ahead
from copmatch.index.snapshot import PASSAGE_TEXTS, PASSAGE_VECTORS


def test_read_ahead_advises_every_byte_of_each_query_file_and_skips_missing_ones(tmp_path, monkeypatch):
    snapshot = tmp_path / "snapshot"
    (snapshot / "bm25").mkdir(parents=True)
    sizes = {PASSAGE_VECTORS: 3 * ADVICE_BYTES + 7, "bm25/data.csc.index.npy": 10, "bm25/indices.csc.index.npy": 0}
    for name, size in sizes.items():
        (snapshot / name).write_bytes(b"\0" * size)
    assert PASSAGE_TEXTS in QUERY_FILES and not (snapshot / PASSAGE_TEXTS).exists()
    advised: dict[str, list[tuple[int, int]]] = {}
    real = os.posix_fadvise

    def spy(fd: int, offset: int, length: int, advice: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if snapshot in path.parents:  # a server another test started may be reading ahead too
            assert advice == os.POSIX_FADV_WILLNEED
            advised.setdefault(str(path.relative_to(snapshot)), []).append((offset, length))
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", spy)
    thread = read_ahead(snapshot)
    assert thread is not None and thread.daemon
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert set(advised) == {name for name, size in sizes.items() if size}  # the missing file is skipped
    for name, ranges in advised.items():
        ends = [offset + length for offset, length in ranges]
        # Back to back from 0, in requests of ADVICE_BYTES, through the file's last byte.
        assert [offset for offset, _ in ranges] == [0, *ends[:-1]]
        assert {length for _, length in ranges} == {ADVICE_BYTES} and ends[-1] >= sizes[name]


def test_a_community_reads_ahead_only_once_asked_and_then_every_snapshot_it_serves(tiny, monkeypatch):
    read: list = []
    monkeypatch.setattr("copmatch.serving.read_ahead", read.append)
    tiny.find_experts("pump vibration")
    assert read == []  # a CLI run answers one question: reading gigabytes ahead would only cost it
    tiny.enable_read_ahead()
    served = tiny.serving.current().searcher.path
    assert read == [served]
    tiny.find_experts("chlorine dosing")
    assert read == [served]  # the same snapshot is not read again per query
    rebuilt = tiny.build_index(full=True).path
    tiny.find_experts("chlorine dosing")
    assert rebuilt != served and read == [served, rebuilt]  # the new snapshot, once it serves
