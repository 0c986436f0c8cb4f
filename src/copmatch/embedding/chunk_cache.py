"""The chunk cache: where each document body was cut, by (chunker, body hash, window), so a
full rebuild does not tokenise unchanged text again.

Chunking is a pure function of the tokenizer, the chunk settings, the body and the window its
title leaves; at a million documents tokenising every body is most of a full build apart from
encoding (about 7 of 19 minutes here). Like the embedding cache, it is derived data beside the
indexes (the same SQLite file): deleting it only costs tokenising again.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

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
        path.parent.mkdir(parents=True, exist_ok=True)
        self.chunker = chunker
        self.conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS chunks (chunker TEXT, body TEXT, spans BLOB,"
            " PRIMARY KEY (chunker, body)) WITHOUT ROWID"
        )

    def close(self) -> None:
        self.conn.close()

    @staticmethod
    def key(body: str, window: int) -> str:
        return f"{hashlib.sha256(body.encode('utf-8')).hexdigest()}:{window}"

    def get_many(self, keys: Sequence[str]) -> dict[str, tuple[tuple[int, int], ...]]:
        found: dict[str, tuple[tuple[int, int], ...]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            rows = self.conn.execute(
                f"SELECT body, spans FROM chunks WHERE chunker = ? AND body IN ({','.join('?' * len(part))})",
                [self.chunker, *part],
            )
            for key, blob in rows:
                found[key] = tuple(map(tuple, np.frombuffer(blob, dtype=np.int64).reshape(-1, 2).tolist()))
        return found

    def put_many(self, items: Sequence[tuple[str, Sequence[tuple[int, int]]]]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?)",
                [
                    (self.chunker, key, np.asarray(spans, dtype=np.int64).reshape(-1, 2).tobytes())
                    for key, spans in items
                ],
            )
