"""Learning from the broker: past decisions on similar pairs move a pair's score.

Every decided introduction is a vote on its pair's topic: rejected and closed as not
helpful count -1, approved (or introduced) ``intro_feedback_approved``, closed as helpful
+1; suggested and snoozed ones say nothing yet. A pair's topic is the unit sum of its two
members' topic vectors, the same for past and new pairs, so "similar" means about the same
thing. A new pair's factor is

    1 + intro_feedback_weight * sum_j vote_j k_j / (intro_feedback_prior + sum_j k_j)

with k_j = max(0, (cos - s) / (1 - s)), s = ``intro_feedback_similarity``: a kernel-weighted
mean vote of the similar decisions, shrunk towards no opinion when they are few or far.
Pure numpy; the reasons show which decisions moved a pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from copmatch.services.brokering.review import APPROVED, CLOSED, INTRODUCED, REJECTED
from copmatch.services.topics import normalise_rows
from copmatch.settings import Settings


def pair_topics(topic: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, dim) unit topic of each pair: the normalised sum of its members' topic vectors."""
    return normalise_rows(topic[a] + topic[b])


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
    topics: np.ndarray  # (n, dim) unit pair topics
    votes: np.ndarray  # (n,) in [-1, 1]

    @classmethod
    def of(cls, introductions: list[dict], topic: np.ndarray, rows: dict[str, int], settings: Settings) -> Decisions:
        """The decided introductions whose members are still in the snapshot."""
        decided = [
            (i["id"], rows[i["member_a"]], rows[i["member_b"]], vote(i, settings))
            for i in introductions
            if i["member_a"] in rows and i["member_b"] in rows and vote(i, settings) != 0.0
        ]
        if not decided:
            return cls(np.zeros(0, dtype=np.int64), np.zeros((0, topic.shape[1]), np.float32), np.zeros(0))
        ids, a, b, votes = (np.array(column) for column in zip(*decided))
        return cls(ids.astype(np.int64), pair_topics(topic, a.astype(np.int64), b.astype(np.int64)), votes)

    def kernel(self, topics: np.ndarray, settings: Settings) -> np.ndarray:
        """(n_pairs, n_decisions) how much each decision speaks to each pair (0..1)."""
        s = settings.intro_feedback_similarity
        return np.clip((topics @ self.topics.T - s) / max(1.0 - s, 1e-6), 0.0, 1.0)

    def factors(self, topics: np.ndarray, settings: Settings) -> np.ndarray:
        """(n_pairs,) the multiplier of each pair's score (1 without similar decisions)."""
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
