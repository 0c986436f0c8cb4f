"""A snapshot's full-precision vectors, read on demand without growing the process's RSS.

Queries re-score a few hundred candidate passages exactly, so only those rows are needed.
Memory-mapping the file looked free but is not: every page fault maps the neighbouring
pages too (fault-around), and mapped pages stay in the process's RSS, so at 1M passages a
serving process grew to ~1.9 GB within 200 queries (benchmarks/scale.py). Rows are read with
``pread`` instead: the kernel's page cache keeps hot rows fast, and it is not the process's
memory. Small files are simply loaded.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

#: Vector files up to this size are loaded into memory; larger ones are read row by row.
IN_MEMORY_MAX_BYTES = 256 * 2**20
READ_CHUNK_BYTES = 1 << 30


def open_vectors(path: Path, in_memory_max_bytes: int = IN_MEMORY_MAX_BYTES) -> np.ndarray | RowReader:
    if Path(path).stat().st_size <= in_memory_max_bytes:
        return np.load(path)
    return RowReader(path)


class RowReader:
    """Rows of a 2-D .npy file, read on demand; indexes like the array for ids and slices."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else (np.lib.format.read_array_header_2_0)
            )
            shape, fortran_order, dtype = read_header(handle)
            self._offset = handle.tell()
        if fortran_order or len(shape) != 2:
            raise ValueError(f"{path}: expected a C-ordered 2-D array")
        self.path = Path(path)
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        self._fd = os.open(path, os.O_RDONLY)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.shape[0]

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __del__(self) -> None:
        self.close()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        rows = self._read_run(0, self.shape[0])
        return rows if dtype is None else rows.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            rows = self._read_run(start, max(start, stop))
            return rows[::step] if step != 1 else rows
        ids = np.asarray(key, dtype=np.int64)
        if ids.ndim == 0:
            return self._read_run(int(ids), int(ids) + 1)[0]
        return self.rows(ids)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """(len(ids), dim) rows in the order given; consecutive ids are read in one call."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) and (ids.min() < -self.shape[0] or ids.max() >= self.shape[0]):
            raise IndexError(f"row id out of range for {self.shape[0]} rows")
        unique, inverse = np.unique(np.where(ids < 0, ids + self.shape[0], ids), return_inverse=True)
        out = np.empty((len(unique), self.shape[1]), dtype=self.dtype)  # (n_unique, dim)
        if len(unique) == 0:
            return out
        # Runs of consecutive ids: a document's passages are neighbours, so candidates cluster.
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        starts = np.concatenate(([0], breaks)).tolist()
        ends = np.concatenate((breaks, [len(unique)])).tolist()
        view, row, base = memoryview(out.reshape(-1).view(np.uint8)), self._row_bytes, self._offset
        fd, first_ids = self._fd, unique[starts].tolist()
        for first, last, row_id in zip(starts, ends, first_ids):
            # Straight into the output: no intermediate buffer per run.
            if os.preadv(fd, [view[first * row : last * row]], base + row_id * row) != (last - first) * row:
                raise OSError(f"{self.path}: short read at row {row_id}")
        return out[inverse.reshape(-1)]

    def _read_run(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.shape[1]), dtype=self.dtype)  # (stop - start, dim)
        view = memoryview(out.reshape(-1).view(np.uint8))
        done, offset = 0, self._offset + start * self._row_bytes
        while done < len(view):
            # One read returns at most ~2 GB on Linux; a whole-file read takes several.
            got = os.preadv(self._fd, [view[done : done + READ_CHUNK_BYTES]], offset + done)
            if got == 0:
                raise OSError(f"{self.path}: file ends before row {stop}")
            done += got
        return out
