"""Lexical BM25 search: catches rare terms and acronyms dense vectors blur.

The index is built from term counts (index/term_counts.py: bm25s's scores and file layout,
plus the counts, so an incremental build updates it). Queries read the arrays with numpy alone: importing bm25s pulls
in scipy and tqdm (~0.3 s), which a one-question CLI run should not pay. The query-side
tokenisation repeats bm25s.tokenize exactly (lowercase, ``\\b\\w\\w+\\b``, the saved
stopwords, the same Snowball stemmer); ``tests/test_fast_path.py`` checks the scores agree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import Stemmer

from copmatch.index.term_counts import EMPTY_TOKEN, TOKEN_PATTERN, TermCounts, stopwords

_STEMMER = Stemmer.Stemmer("english")
__all__ = ["EMPTY_TOKEN", "TOKEN_PATTERN", "SparseIndex", "tokenize"]
STOPWORDS_FILE = "stopwords.json"
# BM25 variants whose scores are fully in the saved matrix (others add a non-occurrence term).
_PRECOMPUTED_METHODS = {"lucene", "robertson", "atire"}


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


class _Scores:
    """A saved index read with numpy: vocabulary + per-term (passage, score) columns."""

    def __init__(
        self,
        vocab: dict[str, int],
        stopwords: frozenset[str],
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
    ) -> None:
        self.vocab = vocab
        self.stopwords = stopwords
        self.data = data  # (nnz,) score of a term in a passage
        self.indices = indices  # (nnz,) the passage
        self.indptr = indptr  # (n_terms + 1,)

    @classmethod
    def read(cls, path: Path) -> _Scores:
        return cls(
            json.loads((path / "vocab.index.json").read_text()),
            frozenset(json.loads((path / STOPWORDS_FILE).read_text())),
            np.load(path / "data.csc.index.npy"),
            np.load(path / "indices.csc.index.npy"),
            np.load(path / "indptr.csc.index.npy"),
        )

    def token_ids(self, query: str) -> list[int]:
        words = [w for w in TOKEN_PATTERN.findall(query.lower()) if w not in self.stopwords]
        return [self.vocab[s] for s in _STEMMER.stemWords(words) if s in self.vocab]

    def scores(self, query: str, size: int) -> np.ndarray:
        ids = self.token_ids(query)
        if not ids:
            return np.zeros(size, dtype=np.float32)
        # A repeated query term counts each time, as in bm25s.
        rows = np.concatenate([np.arange(self.indptr[t], self.indptr[t + 1]) for t in ids])
        return np.bincount(self.indices[rows], weights=self.data[rows], minlength=size).astype(np.float32)


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
        reader = _Scores(counts.vocab, stopwords(), counts.scores(), counts.rows, counts.indptr)
        return cls(counts.n_rows, reader, counts)

    @classmethod
    def load(cls, path: Path, size: int) -> SparseIndex:
        """A saved index, read with numpy alone (no bm25s import on the query path)."""
        params = json.loads((Path(path) / "params.index.json").read_text())
        if params.get("method") not in _PRECOMPUTED_METHODS:
            raise ValueError(f"{path}: BM25 method {params.get('method')!r} is not precomputed in the saved matrix")
        return cls(size, _Scores.read(Path(path)))

    def save(self, path: Path) -> None:
        if self.counts is None:
            raise ValueError("only a built index can be saved")
        self.counts.save(path)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every item for the query, (size,) float32."""
        if self.size == 0:
            return np.zeros(0, dtype=np.float32)
        return self._reader.scores(query, self.size)[: self.size]
