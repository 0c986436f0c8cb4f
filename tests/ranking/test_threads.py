"""One BLAS thread while queries are scored, restored once the last concurrent query is done."""

from __future__ import annotations

import threading

import numpy as np
from threadpoolctl import threadpool_info

from copmatch.ranking.threads import one_blas_thread


def _blas_threads() -> list[tuple[str, int]]:
    """Threads of numpy's own BLAS (the one a query's products run on)."""
    return [(lib["prefix"], lib["num_threads"]) for lib in threadpool_info() if "numpy" in lib["filepath"]]


def test_queries_overlapping_in_threads_share_one_limit_and_restore_it():
    before = _blas_threads()
    vectors = np.random.default_rng(0).standard_normal((2000, 64)).astype(np.float32)
    query = vectors[0]
    expected = vectors @ query
    entered, release = threading.Barrier(3), threading.Event()
    seen: list[list[int]] = []

    def query_thread() -> None:
        with one_blas_thread():
            entered.wait(timeout=30)
            release.wait(timeout=30)
            with lock:  # threadpoolctl's library scan is not safe from two threads at once
                seen.append(_blas_threads())
            same.append(np.array_equal(vectors @ query, expected))  # bit-identical on one thread

    lock = threading.Lock()
    same: list[bool] = []
    threads = [threading.Thread(target=query_thread, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    entered.wait(timeout=30)
    with lock:
        inside = _blas_threads()
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert inside and all(n == 1 for _, n in inside), inside
    assert same == [True, True]
    assert len(seen) == 2 and all(n == 1 for counts in seen for _, n in counts)
    assert _blas_threads() == before  # the first to leave did not restore it under the second
