"""Lexical BM25 search with bm25s: catches rare terms and acronyms dense vectors blur."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

_STEMMER = Stemmer.Stemmer("english")
EMPTY_TOKEN = "\u2400empty"  # tokenize() splits on word characters, so never yields this


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


class SparseIndex:
    def __init__(self, retriever: bm25s.BM25, size: int) -> None:
        self.retriever = retriever
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> SparseIndex:
        retriever = bm25s.BM25()
        # bm25s needs a non-empty vocabulary and keeps ids only for non-empty rows, so empty
        # texts (members with no bio) get a token no query can produce.
        tokens = [row or [EMPTY_TOKEN] for row in tokenize(texts)] or [[EMPTY_TOKEN]]
        retriever.index(tokens, show_progress=False)
        return cls(retriever, len(texts))

    @classmethod
    def load(cls, path: Path, size: int) -> SparseIndex:
        return cls(bm25s.BM25.load(str(path), show_progress=False, verbosity=0), size)

    def save(self, path: Path) -> None:
        self.retriever.save(str(path), show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every item for the query, (size,) float32."""
        tokens = tokenize([query])[0]
        if self.size == 0 or not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return self.retriever.get_scores(tokens).astype(np.float32)[: self.size]

    def search(self, query: str, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the best passages for one query, best first; zero scores dropped."""
        tokens = tokenize([query])
        if self.size == 0 or not tokens[0]:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        k = max(1, min(top_k, self.size))
        ids, scores = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        ids, scores = ids[0].astype(np.int64), scores[0].astype(np.float32)
        keep = scores > 0
        return scores[keep], ids[keep]
