"""One BLAS thread for numpy in a process that answers queries.

A query's matrix products are small (a few hundred candidate passages, one row per member
against one query vector): numpy's OpenBLAS splitting them over threads costs more in
waking and joining the threads than it saves, and on a busy machine the threads wait for
cores the ONNX query encoder has just used (measured at 100k passages: a member-profile
product of 4,081 x 384 took 9 ms on 2 threads, 0.5 ms on one). Products keep their values:
OpenBLAS splits rows and columns across threads, never a dot product, so results are
bit-identical.

Set once per process, on the first query, and never restored: OpenBLAS ignores a thread
count set from one thread after another thread set and restored it, so a per-query limit
does not hold in a server's request threads. Only numpy's own BLAS is limited; FAISS's
(OpenMP: batched searches, k-means) keeps its threads.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_applied = False


def one_blas_thread() -> None:
    """Limit numpy's BLAS to one thread for the rest of this process (idempotent, thread-safe)."""
    global _applied
    if _applied:
        return
    with _lock:
        if _applied:
            return
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        numpy_blas = {
            lib.prefix for lib in controller.lib_controllers if lib.user_api == "blas" and "numpy" in lib.filepath
        }
        for prefix in numpy_blas:
            controller.select(prefix=prefix).limit(limits=1)  # kept: the limiter is never restored
        _applied = True
