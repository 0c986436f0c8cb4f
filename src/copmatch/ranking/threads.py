"""One BLAS thread while queries are scored.

A query's matrix products are small (a few hundred candidate passages, one row per member
against one query vector): numpy's OpenBLAS splitting them over threads costs more in
waking and joining the threads than it saves, and on a busy machine the threads wait for
cores the ONNX query encoder has just used (measured at 100k passages: a member-profile
product of 4,081 x 384 took 9 ms on 2 threads, 0.5 ms on one). Products keep their values:
OpenBLAS splits rows and columns across threads, never a dot product, so the results are
bit-identical. Queries scored at once in several threads share one limit, held from the
first that enters to the last that leaves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_active = 0
_limiter: Any = None
_controller: Any = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    global _active, _limiter, _controller
    with _lock:
        if _active == 0:
            if _controller is None:
                from threadpoolctl import ThreadpoolController

                _controller = ThreadpoolController()
            _limiter = _controller.limit(limits=1, user_api="blas")
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _limiter is not None:
                _limiter.restore_original_limits()
                _limiter = None
