"""Baselines for expert finding, scored over the same history snapshot copmatch serves from.

Every baseline scores every member (the caller restricts to each question's candidates):

- random: a fresh permutation per question;
- popularity: answers in the history;
- recent activity: answers weighted by recency, ``0.5 ** (age / half_life)``, age counted
  back from the newest history post (the tuned half-life is reported);
- BM25 document-centric: bm25s (copmatch's own tokenizer: English stopwords, Snowball
  stemmer) over answer texts (question title + answer body); a member's score is the sum of
  the scores of their answers among the ``top_k`` retrieved;
- dense document-centric: the same with the bundled model, using copmatch's passage vectors
  (an answer is as close as its best passage).

Ties are broken by a fixed random jitter far below any real score difference.
"""

from __future__ import annotations

import numpy as np

from copmatch.index.sparse import SparseIndex
from copmatch.ranking.corpus import ACCEPTED, ANSWER
from copmatch.ranking.retrieval import Searcher


class Baselines:
    def __init__(self, searcher: Searcher, bodies: dict[str, str], seed: int = 0) -> None:
        corpus = searcher.corpus
        self.searcher = searcher
        self.n_members = corpus.n_members
        answering = (corpus.contrib_class == ACCEPTED) | (corpus.contrib_class == ANSWER)
        self.answer_member = corpus.contrib_member[answering].astype(np.int64)  # (n_answers,)
        self.answer_doc = corpus.contrib_doc[answering].astype(np.int64)  # (n_answers,)
        days = corpus.doc_days[self.answer_doc]
        self.answer_age_days = np.nanmax(corpus.doc_days) - np.where(np.isfinite(days), days, -np.inf)
        texts = [f"{corpus.doc_titles[d]}\n{bodies.get(str(corpus.doc_ids[d]), '')}" for d in self.answer_doc]
        self.bm25 = SparseIndex.build(texts)
        self.passage_doc = corpus.passage_doc.astype(np.int64)
        self.n_docs = corpus.n_docs
        self.rng = np.random.default_rng(seed)
        self.jitter = self.rng.random(self.n_members) * 1e-9

    def random(self) -> np.ndarray:
        return self.rng.random(self.n_members)

    def popularity(self) -> np.ndarray:
        return np.bincount(self.answer_member, minlength=self.n_members) + self.jitter

    def recent_activity(self, half_life_days: float) -> np.ndarray:
        weight = 0.5 ** (self.answer_age_days / half_life_days)
        return np.bincount(self.answer_member, weights=weight, minlength=self.n_members) + self.jitter

    def bm25_documents(self, query_text: str, top_k: int) -> np.ndarray:
        return self._sum_top(self.bm25.scores(query_text).astype(np.float64), top_k)

    def dense_documents(self, query_vector: np.ndarray, top_k: int) -> np.ndarray:
        cos = np.asarray(self.searcher.passage_vectors) @ query_vector  # (n_passages,)
        best = np.full(self.n_docs, -1.0)  # (n_docs,) best passage of each document
        np.maximum.at(best, self.passage_doc, cos)
        return self._sum_top(best[self.answer_doc], top_k)

    def _sum_top(self, answer_scores: np.ndarray, top_k: int) -> np.ndarray:
        """Sum per member of the scores of the top_k answers (positive scores only)."""
        keep = np.argsort(-answer_scores, kind="stable")[:top_k]
        keep = keep[answer_scores[keep] > 0]
        return (
            np.bincount(self.answer_member[keep], weights=answer_scores[keep], minlength=self.n_members) + self.jitter
        )
