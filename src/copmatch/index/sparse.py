"""Lexical BM25 search: catches rare terms and acronyms dense vectors blur.

The index is built from term counts (index/term_counts.py: bm25s's scores and file layout,
plus the counts, so an incremental build updates it). Queries read the arrays with numpy alone: importing bm25s pulls
in scipy and tqdm (~0.3 s), which a one-question CLI run should not pay. The query-side
tokenisation repeats bm25s.tokenize exactly (lowercase, ``\\b\\w\\w+\\b``, the saved
stopwords, the same Snowball stemmer); ``tests/index/test_fast_path.py`` checks the scores equal bm25s's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import Stemmer

from copmatch.index.term_counts import EMPTY_TOKEN, TOKEN_PATTERN, TermCounts, stopwords

_STEMMER = Stemmer.Stemmer("english")
__all__ = ["EMPTY_TOKEN", "TOKEN_PATTERN", "SparseIndex", "tokenize"]
STOPWORDS_FILE = "stopwords.json"
#: Postings files up to this size are loaded; larger ones are read by range (``_OnDisk``).
IN_MEMORY_MAX_BYTES = 64 * 2**20
# BM25 variants whose scores are fully in the saved matrix (others add a non-occurrence term).
_PRECOMPUTED_METHODS = {"lucene", "robertson", "atire"}


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


class _InMemory:
    """A loaded 1-D array, read by ranges."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def ranges(self, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        return np.concatenate([self.array[a:b] for a, b in zip(starts.tolist(), stops.tolist())])


class _OnDisk:
    """A 1-D .npy read by ranges with ``pread``: a query reads only its terms' postings, and
    the kernel's page cache (not the process's RSS) keeps the hot ones, as index/vectors.py
    does for vectors. At a million passages the postings are ~500 MB."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = header(handle)
            self._offset = handle.tell()
        self.path, self.dtype, self.size = Path(path), np.dtype(dtype), int(shape[0])
        self._fd = os.open(path, os.O_RDONLY)

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
            self._fd = -1

    def ranges(self, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        width = self.dtype.itemsize
        out = np.empty(int((stops - starts).sum()), dtype=self.dtype)
        view, at = memoryview(out.view(np.uint8)), 0
        for start, stop in zip(starts.tolist(), stops.tolist()):
            size = (stop - start) * width
            if os.preadv(self._fd, [view[at : at + size]], self._offset + start * width) != size:
                raise OSError(f"{self.path}: short read at entry {start}")
            at += size
        return out


def _column(path: Path, in_memory_max_bytes: int) -> _InMemory | _OnDisk:
    if path.stat().st_size <= in_memory_max_bytes:
        return _InMemory(np.load(path))
    return _OnDisk(path)


class _Scores:
    """A saved index read with numpy: vocabulary + per-term (passage, score) columns."""

    def __init__(
        self,
        vocab: dict[str, int],
        stopwords: frozenset[str],
        data: np.ndarray | _InMemory | _OnDisk,
        indices: np.ndarray | _InMemory | _OnDisk,
        indptr: np.ndarray,
        num_docs: int,
    ) -> None:
        self.vocab = vocab
        self.num_docs = num_docs  # rows indexed (bm25s's num_docs: the IDF's N)
        self.stopwords = stopwords
        self.data = data if not isinstance(data, np.ndarray) else _InMemory(data)  # (nnz,) term-in-passage scores
        self.indices = indices if not isinstance(indices, np.ndarray) else _InMemory(indices)  # (nnz,) passages
        self.indptr = indptr  # (n_terms + 1,)

    @classmethod
    def read(cls, path: Path, in_memory_max_bytes: int = IN_MEMORY_MAX_BYTES) -> _Scores:
        return cls(
            json.loads((path / "vocab.index.json").read_text()),
            frozenset(json.loads((path / STOPWORDS_FILE).read_text())),
            _column(path / "data.csc.index.npy", in_memory_max_bytes),
            _column(path / "indices.csc.index.npy", in_memory_max_bytes),
            np.load(path / "indptr.csc.index.npy"),
            int(json.loads((path / "params.index.json").read_text())["num_docs"]),
        )

    def token_ids(self, query: str) -> list[int]:
        words = [w for w in TOKEN_PATTERN.findall(query.lower()) if w not in self.stopwords]
        return [self.vocab[s] for s in _STEMMER.stemWords(words) if s in self.vocab]

    def totals(self, query: str, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(size,) float32 BM25 sums, and the query's postings: passages, and each term's count.

        A repeated query term counts each time, as in bm25s. The sums are bm25s's own: float32,
        added in the query's term order with ``np.add.at``. Its fast path needs the saved
        dtypes as they are (int32 passages, float32 scores); ``bincount`` converts both: on the
        220 queries of benchmarks/scale_e2e.py's million passages, 18 ms at p95 against 8.5."""
        terms = np.asarray(self.token_ids(query), dtype=np.int64)
        totals = np.zeros(max(size, self.num_docs), dtype=np.float32)  # callers slice to their size
        if not len(terms):
            return totals, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        starts, stops = self.indptr[terms], self.indptr[terms + 1]
        passages = self.indices.ranges(starts, stops)
        np.add.at(totals, passages, self.data.ranges(starts, stops))
        return totals, passages, stops - starts


class SparseIndex:
    def __init__(self, size: int, reader: _Scores, counts: TermCounts | None = None) -> None:
        self.size = size
        self._reader = reader
        self.counts = counts  # after a build (a snapshot loaded for queries reads only the scores)

    @classmethod
    def build(cls, texts: Sequence[str]) -> SparseIndex:
        return cls.from_counts(TermCounts.from_texts(texts))

    @classmethod
    def from_counts(cls, counts: TermCounts) -> SparseIndex:
        reader = _Scores(counts.vocab, stopwords(), counts.scores(), counts.rows, counts.indptr, counts.n_rows)
        return cls(counts.n_rows, reader, counts)

    @classmethod
    def load(cls, path: Path, size: int, in_memory_max_bytes: int = IN_MEMORY_MAX_BYTES) -> SparseIndex:
        """A saved index, read with numpy alone (no bm25s import on the query path); postings
        larger than ``in_memory_max_bytes`` stay on disk and are read per query term."""
        params = json.loads((Path(path) / "params.index.json").read_text())
        if params.get("method") not in _PRECOMPUTED_METHODS:
            raise ValueError(f"{path}: BM25 method {params.get('method')!r} is not precomputed in the saved matrix")
        return cls(size, _Scores.read(Path(path), in_memory_max_bytes))

    def save(self, path: Path) -> None:
        if self.counts is None:
            raise ValueError("only a built index can be saved")
        self.counts.save(path)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every item for the query, (size,) float32."""
        if self.size == 0:
            return np.zeros(0, dtype=np.float32)
        return self._reader.totals(query, self.size)[0][: self.size]

    def search(self, query: str, k: int) -> SparseMatch:
        """The query's ``k`` best items (those with a positive score), and every item's score on demand."""
        if self.size == 0:
            return SparseMatch(np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64))
        totals, passages, lengths = self._reader.totals(query, self.size)
        totals = totals[: self.size]
        return SparseMatch(totals, _best(totals, passages, lengths, k))

    def scores_among(self, query: str, present: np.ndarray) -> np.ndarray:
        """BM25 scores as if only the ``present`` items had been indexed (a past moment).

        Each term's IDF is recomputed from the present items (bm25s' lucene IDF); document
        lengths keep the full index's normalisation, a second-order effect. One pass over the
        query's postings, each distinct term read once (a build scores a thousand long past
        questions this way).
        """
        terms, repeats = np.unique(np.asarray(self._reader.token_ids(query), dtype=np.int64), return_counts=True)
        if not len(terms):
            return np.zeros(self.size, dtype=np.float32)
        starts, stops = self._reader.indptr[terms], self._reader.indptr[terms + 1]
        lengths = stops - starts  # every vocabulary term has a posting
        passages = self._reader.indices.ranges(starts, stops)
        scores = self._reader.data.ranges(starts, stops)
        # Whole-array passes only (no compaction by the mask): the postings of a long question
        # run to millions of entries at a million passages.
        gone = ~present[passages]
        df_now = lengths - np.add.reduceat(gone, np.r_[0, np.cumsum(lengths)[:-1]], dtype=np.int64)
        n_now, n_all = float(present.sum()), float(self._reader.num_docs)
        # A repeated query term counts each time, as in bm25s; a term absent at the moment, not at all.
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(
                df_now > 0,
                _lucene_idf(n_now, df_now.astype(np.float64)) / _lucene_idf(n_all, lengths.astype(np.float64)),
                0.0,
            )
        out = np.bincount(passages, weights=scores * np.repeat(scale * repeats, lengths), minlength=self.size)
        out = out[: self.size]
        out[~present[: self.size]] = 0.0
        return out.astype(np.float32)


@dataclass(frozen=True)
class SparseMatch:
    """One query's BM25 over the whole index: its best items, and any item's score."""

    totals: np.ndarray  # (size,) float32 sums; read through ``scores_of``
    best: np.ndarray  # (<= k,) ids of the best items with a positive score, ascending

    def scores_of(self, ids: np.ndarray) -> np.ndarray:
        """(len(ids),) float32 scores, equal to ``SparseIndex.scores(query)[ids]``."""
        return self.totals[ids]


def _best(totals: np.ndarray, passages: np.ndarray, lengths: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` items of largest positive total, ascending (ties at the k-th broken by argpartition).

    Selecting among a million totals costs more than summing them, so the candidates are
    first narrowed by a threshold no larger than the k-th best: the k-th best total among
    the items of one query term's postings (they are distinct items, so at least k totals
    reach it). The rarest term with k postings gives the tightest such bound cheaply."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    enough = np.flatnonzero(lengths >= k)
    if len(enough):
        term = enough[np.argmin(lengths[enough])]
        start = int(lengths[:term].sum())
        among = totals[passages[start : start + int(lengths[term])]]
        floor = np.partition(among, len(among) - k)[len(among) - k]
        chosen = np.flatnonzero(totals >= floor)
    else:  # every term is rarer than k: the items with a positive total are few
        chosen = np.flatnonzero(totals > 0)
    if len(chosen) > k:
        chosen = np.sort(chosen[np.argpartition(-totals[chosen], k - 1)[:k]])
    return chosen.astype(np.int64)


def _lucene_idf(n_docs: float, df: np.ndarray) -> np.ndarray:
    return np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
