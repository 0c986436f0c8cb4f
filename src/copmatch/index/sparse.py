"""Lexical BM25 search: catches rare terms and acronyms dense vectors blur.

bm25s builds the index (it computes every term's BM25 contribution per passage and saves
them as a CSC matrix). Queries read those arrays with numpy alone: importing bm25s pulls
in scipy and tqdm (~0.3 s), which a one-question CLI run should not pay. The query-side
tokenisation repeats bm25s.tokenize exactly (lowercase, ``\\b\\w\\w+\\b``, the saved
stopwords, the same Snowball stemmer); ``tests/test_fast_path.py`` checks the scores agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import Stemmer

_STEMMER = Stemmer.Stemmer("english")
EMPTY_TOKEN = "\u2400empty"  # tokenize() splits on word characters, so never yields this
STOPWORDS_FILE = "stopwords.json"
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenize's default
# BM25 variants whose scores are fully in the saved matrix (others add a non-occurrence term).
_PRECOMPUTED_METHODS = {"lucene", "robertson", "atire"}


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


class _Scores:
    """A saved bm25s index read with numpy: vocabulary + per-term (passage, score) columns."""

    def __init__(self, path: Path) -> None:
        self.vocab: dict[str, int] = json.loads((path / "vocab.index.json").read_text())
        self.stopwords = frozenset(json.loads((path / STOPWORDS_FILE).read_text()))
        self.data = np.load(path / "data.csc.index.npy")  # (nnz,) score of a term in a passage
        self.indices = np.load(path / "indices.csc.index.npy")  # (nnz,) the passage
        self.indptr = np.load(path / "indptr.csc.index.npy")  # (n_terms + 1,)
        self.num_docs = int(json.loads((path / "params.index.json").read_text())["num_docs"])

    def token_ids(self, query: str) -> list[int]:
        words = [w for w in TOKEN_PATTERN.findall(query.lower()) if w not in self.stopwords]
        return [self.vocab[s] for s in _STEMMER.stemWords(words) if s in self.vocab]

    def postings(self, query: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """(passages, scores) of each query term, a repeated term once per occurrence."""
        return [
            (self.indices[self.indptr[t] : self.indptr[t + 1]], self.data[self.indptr[t] : self.indptr[t + 1]])
            for t in self.token_ids(query)
        ]

    def scores(self, query: str) -> np.ndarray:
        ids = self.token_ids(query)
        if not ids:
            return np.zeros(self.num_docs, dtype=np.float32)
        # A repeated query term counts each time, as in bm25s.
        rows = np.concatenate([np.arange(self.indptr[t], self.indptr[t + 1]) for t in ids])
        return np.bincount(self.indices[rows], weights=self.data[rows], minlength=self.num_docs).astype(np.float32)


class SparseIndex:
    def __init__(self, retriever, size: int, reader: _Scores | None = None) -> None:
        self.retriever = retriever  # a bm25s.BM25 after build (None when loaded for queries)
        self.size = size
        self._reader = reader

    @classmethod
    def build(cls, texts: Sequence[str]) -> SparseIndex:
        import bm25s

        retriever = bm25s.BM25()
        # bm25s needs a non-empty vocabulary and keeps ids only for non-empty rows, so empty
        # texts (members with no bio) get a token no query can produce.
        tokens = [row or [EMPTY_TOKEN] for row in tokenize(texts)] or [[EMPTY_TOKEN]]
        retriever.index(tokens, show_progress=False)
        return cls(retriever, len(texts))

    @classmethod
    def load(cls, path: Path, size: int) -> SparseIndex:
        """A saved index, read with numpy alone (no bm25s import on the query path)."""
        params = json.loads((Path(path) / "params.index.json").read_text())
        if params.get("method") not in _PRECOMPUTED_METHODS:
            raise ValueError(f"{path}: BM25 method {params.get('method')!r} is not precomputed in the saved matrix")
        return cls(None, size, _Scores(Path(path)))

    def save(self, path: Path) -> None:
        from bm25s.stopwords import STOPWORDS_EN

        self.retriever.save(str(path), show_progress=False)
        (Path(path) / STOPWORDS_FILE).write_text(json.dumps(sorted(STOPWORDS_EN)))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every item for the query, (size,) float32."""
        if self.size == 0:
            return np.zeros(0, dtype=np.float32)
        if self._reader is not None:
            return self._reader.scores(query)[: self.size]
        tokens = tokenize([query])[0]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return self.retriever.get_scores(tokens).astype(np.float32)[: self.size]

    def scores_among(self, query: str, present: np.ndarray) -> np.ndarray:
        """BM25 scores as if only the ``present`` items had been indexed (a past moment).

        Each term's IDF is recomputed from the present items (bm25s' lucene IDF); document
        lengths keep the full index's normalisation, a second-order effect.
        """
        if self._reader is None:
            raise TypeError("scores_among reads a saved index: load it with SparseIndex.load")
        n_now, n_all = float(present.sum()), float(self._reader.num_docs)
        items, weights = [], []
        for passages, scores in self._reader.postings(query):
            here = present[passages]
            df_now = float(here.sum())
            if df_now == 0:
                continue
            scale = _lucene_idf(n_now, df_now) / _lucene_idf(n_all, float(len(passages)))
            items.append(passages[here])
            weights.append(scores[here] * scale)
        if not items:
            return np.zeros(self.size, dtype=np.float32)
        out = np.bincount(np.concatenate(items), weights=np.concatenate(weights), minlength=self.size)
        return out[: self.size].astype(np.float32)


def _lucene_idf(n_docs: float, df: float) -> float:
    return float(np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)))
