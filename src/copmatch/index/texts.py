"""Passage texts for snippets: one UTF-8 file and an offsets array, read by row with ``pread``.

A query reads the texts of a few evidence passages only, so nothing is loaded at open. A
flat file (rather than a SQLite table by row) is written in one pass by a full build, and
an incremental build copies the old file's byte ranges of unchanged passages in runs,
without re-inserting a million rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

COPY_CHUNK_BYTES = 64 << 20


def write_texts(path: Path, offsets_path: Path, texts: Sequence[str]) -> None:
    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in encoded])
    with open(path, "wb") as handle:
        handle.write(b"".join(encoded))
    np.save(offsets_path, offsets)


class TextReader:
    def __init__(self, path: Path, offsets_path: Path) -> None:
        self.path = Path(path)
        self.offsets = np.load(offsets_path)  # (n + 1,) int64 byte offsets
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()

    def texts(self, rows: Sequence[int]) -> dict[int, str]:
        out = {}
        for row in rows:
            start, end = int(self.offsets[row]), int(self.offsets[row + 1])
            out[int(row)] = os.pread(self._fd, end - start, start).decode("utf-8")
        return out


def derive_texts(
    old: TextReader,
    source: np.ndarray,
    new_texts: Sequence[str],
    path: Path,
    offsets_path: Path,
) -> None:
    """Write the texts of a changed collection: output row i is old row ``source[i]`` when
    ``source[i] >= 0``, else ``new_texts[-source[i] - 1]``. Runs of consecutive old rows are
    copied as byte ranges."""
    encoded = [t.encode("utf-8") for t in new_texts]
    old_lengths = np.diff(old.offsets)
    lengths = np.where(source >= 0, old_lengths[np.maximum(source, 0)], 0)
    fresh = np.flatnonzero(source < 0)
    lengths[fresh] = [len(encoded[-s - 1]) for s in source[fresh]]
    offsets = np.zeros(len(source) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    with open(path, "wb") as out:
        for first, last in runs(source):
            if source[first] >= 0:
                _copy(old, int(old.offsets[source[first]]), int(old.offsets[source[last - 1] + 1]), out)
            else:
                out.write(b"".join(encoded[-s - 1] for s in source[first:last]))
    np.save(offsets_path, offsets)


def runs(source: np.ndarray) -> list[tuple[int, int]]:
    """[first, last) spans of consecutive old rows, or of new texts."""
    if len(source) == 0:
        return []
    step = np.diff(source)
    is_old = source >= 0
    # A run continues while both rows are old and consecutive, or both are new.
    continues = (is_old[1:] & is_old[:-1] & (step == 1)) | (~is_old[1:] & ~is_old[:-1])
    breaks = np.flatnonzero(~continues) + 1
    bounds = np.concatenate(([0], breaks, [len(source)])).tolist()
    return list(zip(bounds[:-1], bounds[1:]))


def _copy(old: TextReader, start: int, end: int, out) -> None:
    while start < end:
        chunk = os.pread(old._fd, min(COPY_CHUNK_BYTES, end - start), start)
        if not chunk:
            raise OSError(f"{old.path}: file ends at byte {start}")
        out.write(chunk)
        start += len(chunk)
