"""One SQLite table of blobs keyed by (owner, key): what the embedding cache and the chunk
cache each keep beside the indexes (vectors by encoder and text hash, cuts by chunker and body)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

#: Keys per ``IN (...)`` lookup (SQLite's default limit on bound parameters is far above it).
LOOKUP_KEYS = 500


class BlobTable:
    """``table (owner_column TEXT, key_column TEXT, blob_column BLOB)`` with the primary key
    (owner, key), opened in WAL mode so readers and one writer share the file; one ``owner``'s rows."""

    def __init__(self, path: Path, table: str, columns: tuple[str, str, str], owner: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.table, self.columns, self.owner = table, columns, owner
        owner_column, key_column, blob_column = columns
        self.conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ({owner_column} TEXT, {key_column} TEXT, {blob_column} BLOB,"
            f" PRIMARY KEY ({owner_column}, {key_column})) WITHOUT ROWID"
        )

    def close(self) -> None:
        self.conn.close()

    def get_many(self, keys: Sequence[str]) -> Iterable[tuple[str, bytes]]:
        """(key, blob) of the given keys that are stored, each once."""
        owner_column, key_column, blob_column = self.columns
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), LOOKUP_KEYS):
            chunk = unique[start : start + LOOKUP_KEYS]
            marks = ",".join("?" * len(chunk))
            yield from self.conn.execute(
                f"SELECT {key_column}, {blob_column} FROM {self.table}"
                f" WHERE {owner_column} = ? AND {key_column} IN ({marks})",
                [self.owner, *chunk],
            )

    def put_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Store (key, blob) pairs in one transaction, replacing any of the same key."""
        with self.conn:
            self.conn.executemany(
                f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?, ?)", [(self.owner, k, b) for k, b in items]
            )
