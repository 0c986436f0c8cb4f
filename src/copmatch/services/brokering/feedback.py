"""Learning from the broker: past decisions on similar pairs move a pair's score.

Every decided introduction is a vote on its pair's shared topic: rejected and closed as not
helpful count -1, approved (or introduced) ``intro_feedback_approved``, closed as helpful
+1; suggested and snoozed ones say nothing yet. A pair's shared topic is the direction its
reasons were drawn from (the sum of the pair's two closest documents, stored with the
reasons as ``anchors``), less the community's mean document: without that centre every
topic of one community points much the same way (all about beer, all about water) and no
two could be told apart. A new pair's factor is

    1 + intro_feedback_weight * sum_j vote_j k_j / (intro_feedback_prior + sum_j k_j)

with k_j = max(0, (cos - s) / (1 - s)), s = ``intro_feedback_similarity``: a kernel-weighted
mean vote of the similar decisions, shrunk towards no opinion when they are few or far.
Pure numpy; the reasons show which decisions moved a pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from copmatch.ranking.retrieval import normalise_rows
from copmatch.services.brokering.review import APPROVED, CLOSED, INTRODUCED, REJECTED
from copmatch.settings import Settings


def centre_of(doc_vectors: np.ndarray) -> np.ndarray:
    """(dim,) the mean document of the community (documents with text)."""
    present = np.linalg.norm(doc_vectors, axis=1) > 0
    return doc_vectors[present].mean(axis=0) if present.any() else np.zeros(doc_vectors.shape[1], np.float32)


def centred(directions: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(n, dim) unit directions less the community's centre, so topics can be told apart."""
    return normalise_rows(np.atleast_2d(directions) - centre)


def vote(introduction: dict[str, Any], settings: Settings) -> float:
    status, outcome = introduction["status"], introduction.get("outcome")
    if status == REJECTED or (status == CLOSED and outcome == "not-helpful"):
        return -1.0
    if status == CLOSED and outcome == "helpful":
        return 1.0
    if status in (APPROVED, INTRODUCED):
        return settings.intro_feedback_approved
    return 0.0


@dataclass(frozen=True)
class Decisions:
    ids: np.ndarray  # (n,) introduction ids
    topics: np.ndarray  # (n, dim) unit centred shared topics
    votes: np.ndarray  # (n,) in [-1, 1]

    @classmethod
    def of(
        cls, introductions: list[dict], doc_vectors: np.ndarray, doc_rows: dict[str, int], settings: Settings
    ) -> Decisions:
        """The decided introductions whose reasons' documents are still in the snapshot."""
        ids, directions, votes = [], [], []
        for intro in introductions:
            value = vote(intro, settings)
            reasons = intro.get("reasons") or {}
            shown = [e["document_id"] for items in (reasons.get("evidence") or {}).values() for e in items]
            rows = [doc_rows[d] for d in (reasons.get("anchors") or shown) if d in doc_rows]
            if value == 0.0 or not rows:
                continue
            ids.append(intro["id"])
            directions.append(doc_vectors[rows].sum(axis=0))
            votes.append(value)
        if not ids:
            return cls(np.zeros(0, dtype=np.int64), np.zeros((0, doc_vectors.shape[1]), np.float32), np.zeros(0))
        unit = normalise_rows(np.stack(directions))
        return cls(np.array(ids, dtype=np.int64), centred(unit, centre_of(doc_vectors)), np.array(votes))

    def kernel(self, topics: np.ndarray, settings: Settings) -> np.ndarray:
        """(n_pairs, n_decisions) how much each decision speaks to each pair (0..1)."""
        s = settings.intro_feedback_similarity
        return np.clip((topics @ self.topics.T - s) / max(1.0 - s, 1e-6), 0.0, 1.0)

    def factors(self, topics: np.ndarray, settings: Settings) -> np.ndarray:
        """(n_pairs,) the multiplier of each pair's score (1 without similar decisions);
        ``topics`` are centred shared topics (``centred``)."""
        if len(self.votes) == 0 or settings.intro_feedback_weight == 0:
            return np.ones(len(topics))
        k = self.kernel(topics, settings)
        mean_vote = (k @ self.votes) / (settings.intro_feedback_prior + k.sum(axis=1))
        return 1.0 + settings.intro_feedback_weight * mean_vote

    def nearest(self, topic: np.ndarray, settings: Settings, limit: int = 3) -> list[dict]:
        """The decisions that speak most to one pair, for its reasons."""
        if len(self.votes) == 0:
            return []
        k = self.kernel(topic[None, :], settings)[0]
        order = [i for i in np.argsort(-k, kind="stable")[:limit] if k[i] > 0]
        return [{"introduction": int(self.ids[i]), "vote": float(self.votes[i]), "weight": round(float(k[i]), 3)}
                for i in order]  # fmt: skip
