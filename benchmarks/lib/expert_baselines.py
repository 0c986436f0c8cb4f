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

- recent activity, community clock (issue #12): each history answer weighs
  ``0.5 ** (s / 0.02)``, ``s`` the share of all history answers posted after it; summed per member;
- hybrid + recency (issue #12): reciprocal-rank fusion ``1/(k + r_bm25) + 1/(k + r_dense) +
  w/(k + r_recent)``, k = 10, w = 8, over BM25 and dense document-centric (top 100 answers)
  and the community-clock recency; ranks among the question's candidates with a positive
  score in that ranking (a member missing from a ranking gets nothing from it).

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

    def recent_clock(self, half_life_share: float = 0.02) -> np.ndarray:
        """Community-clock recency: 0.5 ** (share of history answers posted after each answer / half-life)."""
        days = np.where(np.isfinite(self.answer_age_days), -self.answer_age_days, -np.inf)
        clock = np.sort(days)
        after = (len(clock) - np.searchsorted(clock, days, side="right")) / max(len(clock), 1)
        weight = 0.5 ** (after / half_life_share)
        return np.bincount(self.answer_member, weights=weight, minlength=self.n_members) + self.jitter

    def hybrid_recency(
        self,
        bm25: np.ndarray,
        dense: np.ndarray,
        recent: np.ndarray,
        candidates: np.ndarray,
        k: float = 10,
        w: float = 8,
    ) -> np.ndarray:
        """Reciprocal-rank fusion of three member scorings, ranked among ``candidates``."""
        out = np.zeros(self.n_members)
        for scores, weight in ((bm25, 1.0), (dense, 1.0), (recent, w)):
            # Jitter alone is not a score: a member with nothing in a ranking is not in it.
            ranked = candidates[scores[candidates] > 1e-6]
            ranked = ranked[np.argsort(-scores[ranked], kind="stable")]
            out[ranked] += weight / (k + np.arange(1, len(ranked) + 1))
        return out + self.jitter

    def dense_documents_from(self, passage_cos: np.ndarray, top_k: int) -> np.ndarray:
        """Dense document-centric from precomputed passage cosines (a long query's combined windows)."""
        best = np.full(self.n_docs, -1.0)
        np.maximum.at(best, self.passage_doc, passage_cos)
        return self._sum_top(best[self.answer_doc], top_k)

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
