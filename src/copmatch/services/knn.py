"""Nearest neighbours among vectors (FAISS, exact up to ``exact_max`` keys), shared by the
services that link members (introductions) or documents (health topics) to their closest."""

from __future__ import annotations

import numpy as np

from copmatch.index.dense import DenseIndex, choose_spec


def nearest(keys: np.ndarray, queries: np.ndarray, k: int, exact_max: int) -> tuple[np.ndarray, np.ndarray]:
    """(sims, rows), each (n_queries, k): the k keys nearest each query by inner product,
    best first; rows are -1 (and sims meaningless) where fewer than k keys exist."""
    if len(keys) == 0 or len(queries) == 0:
        return np.zeros((len(queries), 0), dtype=np.float32), np.zeros((len(queries), 0), dtype=np.int64)
    index = DenseIndex.build(np.ascontiguousarray(keys, dtype=np.float32), choose_spec(len(keys), exact_max))
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
