"""The embedding cache: vectors by (encoder, text hash), so unchanged text is never re-encoded."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from copmatch.embedding.blob_table import BlobTable
from copmatch.embedding.encoder import Encoder
from copmatch.progress import Advance


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors keyed by (model id, text hash) in a SQLite file beside the indexes.

    Derived data: deleting it only costs re-encoding.
    """

    def __init__(self, path: Path, model_id: str) -> None:
        self.model_id = model_id
        self._table = BlobTable(path, "vectors", ("model_id", "text_hash", "vector"), model_id)

    @property
    def conn(self) -> sqlite3.Connection:
        return self._table.conn

    def close(self) -> None:
        self._table.close()

    def get_many(self, hashes: Sequence[str], dimension: int) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for digest, blob in self._table.get_many(hashes):
            vector = np.frombuffer(blob, dtype=np.float32)
            if vector.shape[0] == dimension:
                found[digest] = vector
        return found

    def put_many(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        self._table.put_many((h, v.astype(np.float32).tobytes()) for h, v in zip(hashes, vectors))


#: Texts encoded between two commits to the cache: a build killed mid-encoding loses at most
#: this many (about 10 s of encoding on 2 cores), and the next build resumes from the cache.
COMMIT_EVERY_TEXTS = 512


def encode_cached(
    embedder: Encoder,
    cache: EmbeddingCache,
    texts: Sequence[str],
    progress: Advance | None = None,
    commit_every: int = COMMIT_EVERY_TEXTS,
) -> tuple[np.ndarray, int]:
    """Vectors for texts, encoding only those not cached. Returns (vectors, n_encoded).

    Fresh vectors are committed to the cache every ``commit_every`` texts, as they are made,
    so work survives a build that dies (kill -9 included) and the next one starts where it
    stopped."""
    hashes = [text_hash(t) for t in texts]
    dimension = embedder.dimension
    cached = cache.get_many(hashes, dimension)
    missing = [i for i, h in enumerate(hashes) if h not in cached]
    out = np.empty((len(texts), dimension), dtype=np.float32)  # (n_texts, dim)
    if progress and len(texts) - len(missing):
        progress(len(texts) - len(missing))
    if missing:
        # Duplicate texts are encoded once.
        unique_rows = list({hashes[i]: i for i in missing}.values())
        # Sorted by length once, over all of them: every model call (local or on Ray) pads
        # texts of alike length, not just within one run of ``commit_every``.
        unique_rows.sort(key=lambda i: len(texts[i]))
        fresh_texts = [texts[i] for i in unique_rows]
        for positions, fresh in encoded_runs(embedder, fresh_texts, max(1, commit_every), progress):
            rows = [unique_rows[p] for p in positions]
            cache.put_many([hashes[i] for i in rows], fresh)
            cached.update({hashes[i]: v for i, v in zip(rows, fresh)})
        if progress and len(missing) > len(unique_rows):
            progress(len(missing) - len(unique_rows))
    for i, h in enumerate(hashes):
        out[i] = cached[h]
    return out, len({hashes[i] for i in missing})


def encoded_runs(
    embedder: Encoder, texts: Sequence[str], run: int, progress: Advance | None = None
) -> Iterator[tuple[list[int], np.ndarray]]:
    """(positions in ``texts``, their vectors) in runs of about ``run`` texts, all of them once.

    An encoder with ``encode_stream`` (the Ray pipeline's) gets every text in one call and
    yields vectors as they are made: one job on the cluster, not one per run."""
    stream = getattr(embedder, "encode_stream", None)
    if stream is None:
        for start in range(0, len(texts), run):
            yield (
                list(range(start, min(start + run, len(texts)))),
                embedder.encode(texts[start : start + run], progress=progress),
            )
        return
    positions: list[int] = []
    vectors: list[np.ndarray] = []
    for rows, fresh in stream(texts, progress=progress):
        positions.extend(rows.tolist())
        vectors.append(fresh)
        if len(positions) >= run:
            yield positions, np.concatenate(vectors)
            positions, vectors = [], []
    if positions:
        yield positions, np.concatenate(vectors)
