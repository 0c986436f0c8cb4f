"""Ask the kernel to read a snapshot's per-query files into its page cache before queries need them.

A large snapshot keeps its full-precision vectors, BM25 postings and passage texts on disk, read
per query with ``pread`` (README, "Memory at scale"): 2.6 GB at a million passages. On a cold
page cache (after a reboot, or once memory pressure evicted them) each of those reads waits on
the disk: the first 220 queries of benchmarks/scale_e2e.py's million passages averaged 45-46 ms,
against 12-13 ms warm, and 14-15 ms with this read-ahead started as the snapshot opened (its
first query then took 5.3-5.6 s instead of 2.2-3.3; benchmarks/cold_cache.py).
``posix_fadvise(WILLNEED)`` starts the kernel's readahead without growing the process (the page
cache is not its RSS). A daemon thread issues it, and a query never waits for it. Only a
long-running server asks for it (``ServingSession``): a one-question CLI run would pay for the reads
and use none of them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from copmatch.index.snapshot import BM25_DIR, PASSAGE_TEXTS, PASSAGE_VECTORS

ADVICE_BYTES = 2 << 20  # bytes of each readahead request
#: The files a query reads by range, largest first: vectors, postings (scores, then passages), texts.
QUERY_FILES = (PASSAGE_VECTORS, f"{BM25_DIR}/data.csc.index.npy", f"{BM25_DIR}/indices.csc.index.npy", PASSAGE_TEXTS)


def read_ahead(snapshot: Path, names: Sequence[str] = QUERY_FILES) -> threading.Thread | None:
    """Start reading ``names`` of ``snapshot`` into the page cache in the background (None where
    the platform has no ``posix_fadvise``). Missing or unreadable files are skipped: opening the
    snapshot checks them."""
    if not hasattr(os, "posix_fadvise"):
        return None
    thread = threading.Thread(target=_advise, args=([snapshot / n for n in names],), name="copmatch-read-ahead")
    thread.daemon = True
    thread.start()
    return thread


def _advise(paths: list[Path]) -> None:
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            # One call for the whole file reads only its start here (Linux 6.18: the 1.5 GB of
            # vectors were still read from disk afterwards); 2 MB at a time reads all of it.
            size = os.fstat(fd).st_size
            for offset in range(0, size, ADVICE_BYTES):
                os.posix_fadvise(fd, offset, ADVICE_BYTES, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)
