"""Dense vector search over unit vectors with FAISS, one interface for every index type.

Small collections use exact inner product (``IndexFlatIP``). Above a size threshold
(``Settings.exact_index_max``) an inverted file with 8-bit scalar quantization
(``IVF{nlist},SQ8``) keeps a quarter of the memory (384 B per 384-d vector instead of
1,536) and scans only ``nprobe`` of its lists per query; at 1M passages it answers in a
few milliseconds with recall@10 >= 0.95 against exact search (benchmarks/scale.py); an HNSW
graph over the full vectors was measured too and dropped: at 1M it needs ~1.8 GB and a long
build. Ids are row numbers of the collection.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import faiss
import numpy as np

#: Batches of at least this many queries are searched with all OpenMP threads.
PARALLEL_MIN_QUERIES = 16
#: k-means needs this many training points per list to place centroids well (FAISS warns below 39).
TRAIN_POINTS_PER_LIST = 40


@dataclass(frozen=True)
class DenseIndexSpec:
    kind: str = "flat"  # "flat" (exact inner product) or "ivf_sq8"
    ivf_nlist: int = 0  # inverted lists; set by choose_spec from the collection size
    ivf_nprobe: int = 32  # lists scanned per query
    ivf_kmeans_iterations: int = 10
    ivf_seed: int = 0  # training sample and k-means seed, so a rebuild gives the same index

    def to_dict(self) -> dict:
        return asdict(self)


def choose_spec(
    n_vectors: int, exact_max: int, ivf_lists_per_sqrt: float = 2.0, ivf_nprobe: int = 32
) -> DenseIndexSpec:
    """Exact search up to ``exact_max`` vectors, IVF+SQ8 with about ``ivf_lists_per_sqrt * sqrt(n)`` lists above."""
    if n_vectors <= exact_max:
        return DenseIndexSpec(kind="flat")
    # Never more lists than the training sample can place well.
    nlist = int(np.clip(round(ivf_lists_per_sqrt * np.sqrt(n_vectors)), 1, max(1, n_vectors // TRAIN_POINTS_PER_LIST)))
    return DenseIndexSpec(kind="ivf_sq8", ivf_nlist=nlist, ivf_nprobe=min(ivf_nprobe, nlist))


class DenseIndex:
    def __init__(self, index: faiss.Index, spec: DenseIndexSpec) -> None:
        self.index = index
        self.spec = spec

    @classmethod
    def build(cls, vectors: np.ndarray, spec: DenseIndexSpec, trained: faiss.Index | None = None) -> DenseIndex:
        """An index of ``vectors`` (ids = rows). ``trained``: an IVF index whose lists (coarse
        centroids and scalar quantizer) are reused instead of training new ones (see
        ``reuses_lists``); its vectors are dropped first."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (n, dim), unit rows
        dim = vectors.shape[1]
        if spec.kind == "ivf_sq8":
            return cls._build_ivf(vectors, spec, trained)
        if spec.kind != "flat":
            raise ValueError(f"unknown dense index kind {spec.kind!r}")
        # An id map keeps ids stable when items are later added or removed incrementally.
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        index.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
        return cls(index, spec)

    @classmethod
    def _build_ivf(cls, vectors: np.ndarray, spec: DenseIndexSpec, trained: faiss.Index | None = None) -> DenseIndex:
        n, dim = vectors.shape
        if trained is not None:
            index = trained
            index.reset()
            nlist = faiss.extract_index_ivf(index).nlist
        else:
            nlist = spec.ivf_nlist or max(1, min(int(np.sqrt(n)), n // TRAIN_POINTS_PER_LIST))
            index = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
            ivf = faiss.extract_index_ivf(index)
            ivf.cp.niter = spec.ivf_kmeans_iterations
            ivf.cp.seed = spec.ivf_seed
            # k-means on a sample: training on every vector costs minutes at 1M and places lists no better.
            rng = np.random.default_rng(spec.ivf_seed)
            sample_size = min(n, nlist * TRAIN_POINTS_PER_LIST)
            sample = vectors[np.sort(rng.choice(n, sample_size, replace=False))] if sample_size < n else vectors
            index.train(sample)
        # IVF keeps ids in its lists (and can remove them), so it needs no id map.
        index.add_with_ids(vectors, np.arange(n, dtype=np.int64))
        dense = cls(index, replace(spec, ivf_nlist=nlist, ivf_nprobe=min(spec.ivf_nprobe, nlist)))
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
        if self.spec.kind == "ivf_sq8":
            faiss.extract_index_ivf(self.index).nprobe = self.spec.ivf_nprobe

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def search(self, queries: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, k); missing slots have id -1. ivf_sq8 scores are approximate."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        k = max(1, min(top_k, self.size))
        if len(queries) >= PARALLEL_MIN_QUERIES:
            return self.index.search(queries, k)
        # A few queries gain nothing from OpenMP threads, whose spinning slows the encoder and
        # ranking around them (measured on 2 cores). The thread count is per calling thread.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.index.search(queries, k)
        finally:
            faiss.omp_set_num_threads(threads)

    def search_among(self, queries: np.ndarray, top_k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``search`` restricted to the ids where ``allowed`` (n_ids,) bool is set: the index as
        it stood at a past moment, without another index (a FAISS id selector)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        bitmap = np.packbits(np.asarray(allowed, dtype=bool), bitorder="little")
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
        if self.spec.kind == "ivf_sq8":
            params = faiss.SearchParametersIVF(sel=selector, nprobe=faiss.extract_index_ivf(self.index).nprobe)
        else:
            params = faiss.SearchParameters(sel=selector)
        k = max(1, min(top_k, self.size))
        found = self.index.search(queries, k, params=params)
        del bitmap  # the selector reads it until the search returns
        return found


def reuses_lists(old: DenseIndexSpec, wanted: DenseIndexSpec, retrain_ratio: float) -> bool:
    """Whether a new index of the ``wanted`` size keeps the trained lists of an ``old`` one.

    IVF lists are a trained model of the vector space (k-means on a sample): retraining them
    for every build would make two snapshots of nearly the same vectors search differently
    (a derived build and a full rebuild of one store would not answer alike). They are kept
    until the list count the collection's size calls for moves by ``retrain_ratio``."""
    grown = wanted.ivf_nlist / max(old.ivf_nlist, 1)
    return old.kind == wanted.kind == "ivf_sq8" and 1 / retrain_ratio <= grown <= retrain_ratio


def sort_lists_by_id(index: faiss.Index) -> None:
    """Reorder each inverted list by id, in place: the layout of an index whose vectors were
    added in id order, so an index updated by removals and additions scans (and breaks ties)
    exactly like one built afresh with the same lists."""
    invlists = faiss.extract_index_ivf(index).invlists
    code_size = invlists.code_size
    for list_no in range(invlists.nlist):
        size = invlists.list_size(list_no)
        if size < 2:
            continue
        ids = faiss.rev_swig_ptr(invlists.get_ids(list_no), size)  # views of the list's memory
        if np.all(ids[1:] > ids[:-1]):
            continue
        codes = faiss.rev_swig_ptr(invlists.get_codes(list_no), size * code_size).reshape(size, code_size)
        order = np.argsort(ids, kind="stable")
        ids[:] = ids[order]
        codes[:] = codes[order]


def inner_products(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(n,) float32 ``vectors @ query`` for (n, dim) float32 rows and one (dim,) query.

    One query against many rows is memory-bound: FAISS's SIMD kernel streams the rows about
    2.7x faster than OpenBLAS's sgemv on this machine (27,595 member profiles: 1.2 against
    3.2 ms), and releases the GIL as it does. Its sums differ from BLAS's only in the last
    bits (at most 1.2e-7 on unit vectors)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    n, dim = vectors.shape
    if dim != len(query):
        raise ValueError(f"query has {len(query)} dimensions, the vectors {dim}")
    out = np.empty(n, dtype=np.float32)
    if n:
        faiss.fvec_inner_products_ny(faiss.swig_ptr(out), faiss.swig_ptr(query), faiss.swig_ptr(vectors), dim, n)
    return out
