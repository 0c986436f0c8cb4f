"""A column of strings as one UTF-8 buffer and offsets: what a snapshot keeps of its titles.

numpy's fixed-width strings give every row the longest title's width in UTF-32: at 780k
documents with titles up to ~170 characters that is ~500 MB of a serving process's memory
for a column read a few rows at a time. Here a row costs its UTF-8 bytes plus an offset.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from copmatch.index.texts import runs


class TextColumn:
    def __init__(self, data: np.ndarray, offsets: np.ndarray) -> None:
        self.data = data  # (n_bytes,) uint8, the rows back to back
        self.offsets = offsets  # (n + 1,) int64

    @classmethod
    def from_strings(cls, values: Sequence[str]) -> TextColumn:
        encoded = [v.encode("utf-8") for v in values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(b) for b in encoded])
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, row: int) -> str:
        return self.data[self.offsets[row] : self.offsets[row + 1]].tobytes().decode("utf-8")

    def tolist(self) -> list[str]:
        return [self[i] for i in range(len(self))]

    def compose(self, source: np.ndarray, fresh: Sequence[str]) -> TextColumn:
        """Row i is this column's row ``source[i]`` when >= 0, else ``fresh[-source[i] - 1]``;
        runs of consecutive old rows are copied as one slice."""
        encoded = [v.encode("utf-8") for v in fresh]
        parts = []
        for first, last in runs(source):
            if source[first] >= 0:
                parts.append(self.data[self.offsets[source[first]] : self.offsets[source[last - 1] + 1]])
            else:
                parts.append(np.frombuffer(b"".join(encoded[-s - 1] for s in source[first:last]), dtype=np.uint8))
        lengths = np.where(source >= 0, np.diff(self.offsets)[np.maximum(source, 0)], 0)
        added = np.flatnonzero(source < 0)
        lengths[added] = [len(encoded[-s - 1]) for s in source[added]]
        offsets = np.zeros(len(source) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(lengths)
        data = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
        return TextColumn(data, offsets)
