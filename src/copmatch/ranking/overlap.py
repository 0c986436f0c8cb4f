"""A query's independent searches, run side by side.

BM25 (``np.add.at``), FAISS and the profile match (BLAS) each spend their time in C code that
releases the GIL, so on two cores they overlap instead of queueing: at a million passages the
lexical search alone is about as long as the dense search and the profile match together
(benchmarks/scale_e2e.py). A small pool, shared by every query in the process, rather than a
thread per query: an API under load runs many queries at once, and more threads than cores
would only trade places.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: Two cores here: one search in the background while the caller runs another.
WORKERS = 2
#: Searches a batch of queries starts before encoding them: as many as can run at once (each
#: result holds a score per passage until its query is ranked, 4 MB at a million passages).
AHEAD = WORKERS

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid = -1


def in_background(work: Callable[..., T], /, *args: object) -> Future[T]:
    """``work(*args)`` started on the shared pool; ``.result()`` returns it or raises its error."""
    return _shared_pool().submit(work, *args)


def right_away(work: Callable[..., T], /, *args: object) -> Future[T]:
    """``work(*args)`` run now, on the caller's thread, as a finished future (for work too short
    to be worth a handoff: two Python threads also contend for the GIL between C calls)."""
    future: Future[T] = Future()
    try:
        future.set_result(work(*args))
    except Exception as exc:  # raised again by .result(), as in_background's would be
        future.set_exception(exc)
    return future


def _shared_pool() -> ThreadPoolExecutor:
    # A forked child inherits the pool's bookkeeping but not its threads, and a submit there
    # would wait forever: each process makes its own.
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="copmatch-search")
            _pool_pid = os.getpid()
        return _pool
