"""Dense vector search over unit vectors with FAISS, one interface for every index type.

Small collections use exact inner product (``IndexFlatIP``); above a size threshold an
HNSW graph trades a little recall for speed. Ids are row numbers of the collection.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np


@dataclass(frozen=True)
class DenseIndexSpec:
    kind: str = "flat"  # "flat" (exact inner product) or "hnsw"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 128

    def to_dict(self) -> dict:
        return asdict(self)


def choose_spec(n_vectors: int, exact_max: int) -> DenseIndexSpec:
    return DenseIndexSpec(kind="flat" if n_vectors <= exact_max else "hnsw")


class DenseIndex:
    def __init__(self, index: faiss.Index, spec: DenseIndexSpec) -> None:
        self.index = index
        self.spec = spec

    @classmethod
    def build(cls, vectors: np.ndarray, spec: DenseIndexSpec) -> DenseIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (n, dim), unit rows
        dim = vectors.shape[1]
        if spec.kind == "flat":
            base = faiss.IndexFlatIP(dim)
        elif spec.kind == "hnsw":
            base = faiss.IndexHNSWFlat(dim, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = spec.hnsw_ef_construction
        else:
            raise ValueError(f"unknown dense index kind {spec.kind!r}")
        # An id map keeps ids stable when items are later added or removed incrementally.
        index = faiss.IndexIDMap2(base)
        index.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
        dense = cls(index, spec)
        dense._apply_search_params()
        return dense

    @classmethod
    def load(cls, path: Path, spec: DenseIndexSpec) -> DenseIndex:
        dense = cls(faiss.read_index(str(path)), spec)
        dense._apply_search_params()
        return dense

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    def _apply_search_params(self) -> None:
        if self.spec.kind == "hnsw":
            faiss.downcast_index(self.index.index).hnsw.efSearch = self.spec.hnsw_ef_search

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def search(self, queries: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, k); missing slots have id -1."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        k = max(1, min(top_k, self.size))
        return self.index.search(queries, k)
