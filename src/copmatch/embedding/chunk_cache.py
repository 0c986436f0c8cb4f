"""The chunk cache: where each document body was cut, by (chunker, body hash, window), so a
full rebuild does not tokenise unchanged text again.

Chunking is a pure function of the tokenizer, the chunk settings, the body and the window its
title leaves; at a million documents tokenising every body is most of a full build apart from
encoding (about 7 of 19 minutes here). Like the embedding cache, it is derived data beside the
indexes (the same SQLite file): deleting it only costs tokenising again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from copmatch.embedding.blob_table import BlobTable

#: Body spans of a document that fits one window (stored as no spans at all).
ONE_WINDOW: tuple[tuple[int, int], ...] = ()


def chunker_key(tokenizer_file: Path, *settings: int) -> str:
    """What shapes the cuts besides the body and window: the tokenizer's file and the chunk settings."""
    digest = hashlib.sha256(Path(tokenizer_file).read_bytes())
    digest.update(repr(settings).encode())
    return digest.hexdigest()[:32]


class ChunkCache:
    """Body spans keyed by (chunker key, body hash, window) in a SQLite file."""

    def __init__(self, path: Path, chunker: str) -> None:
        self.chunker = chunker
        self._table = BlobTable(path, "chunks", ("chunker", "body", "spans"), chunker)

    def close(self) -> None:
        self._table.close()

    @staticmethod
    def key(body: str, window: int) -> str:
        return f"{hashlib.sha256(body.encode('utf-8')).hexdigest()}:{window}"

    def get_many(self, keys: Sequence[str]) -> dict[str, tuple[tuple[int, int], ...]]:
        return {
            key: tuple(map(tuple, np.frombuffer(blob, dtype=np.int64).reshape(-1, 2).tolist()))
            for key, blob in self._table.get_many(keys)
        }

    def put_many(self, items: Sequence[tuple[str, Sequence[tuple[int, int]]]]) -> None:
        self._table.put_many((key, np.asarray(spans, dtype=np.int64).reshape(-1, 2).tobytes()) for key, spans in items)
