"""How an introduction is scored: the pair formula, one place for ranking and explaining.

A pair scores on two reasons to meet, each weighted by how active both are lately:

- *one asks what the other knows*: the cosine of one member's questions (interest) to the
  other's answers and documents (expertise), both directions;
- *peers*: the cosine of their overall topic vectors (what they work on), weighted by
  ``intro_peer_weight``.

``suggest.py`` scores its candidate pairs with ``score_pairs``; ``reasons.py`` tells the
broker which of the terms of ``pair_terms`` made a pair's score. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from copmatch.services.topics import MemberTopics


@dataclass(frozen=True)
class ScoredPairs:
    a: np.ndarray  # (n,) member row, a < b
    b: np.ndarray  # (n,) member row
    score: np.ndarray  # (n,) the ranking score
    peer: np.ndarray  # (n,) cosine of the two topic vectors
    a_asks_b: np.ndarray  # (n,) cosine of a's interest to b's expertise
    b_asks_a: np.ndarray  # (n,) cosine of b's interest to a's expertise

    def take(self, keep: np.ndarray) -> ScoredPairs:
        return ScoredPairs(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))


def pair_terms(
    topics: MemberTopics, a: Any, b: Any, peer: Any, a_asks_b: Any, b_asks_a: Any, peer_weight: float, power: float
) -> tuple[Any, Any, Any]:
    """The three parts of an introduction's score, for member rows ``a`` and ``b`` (arrays
    or single rows) given their topic cosines: a asks what b knows, b asks what a knows,
    and the two work on the same topics. Each cosine counts to ``power``, scaled by how
    active the members are in that role. One formula for scoring and for explaining."""
    active = topics.asking + topics.offering
    return (
        a_asks_b**power * np.sqrt(topics.asking[a] * topics.offering[b]),
        b_asks_a**power * np.sqrt(topics.asking[b] * topics.offering[a]),
        peer_weight * peer**power * np.sqrt(active[a] * active[b]),
    )


def score_pairs(
    topics: MemberTopics, a: np.ndarray, b: np.ndarray, peer_weight: float, power: float = 1.0
) -> ScoredPairs:
    """Exact scores of the given pairs (see module doc); cosines enter to ``power``. Pure numpy."""

    def cos(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.clip(np.einsum("ij,ij->i", x, y), 0.0, 1.0)

    peer = cos(topics.topic[a], topics.topic[b])
    a_asks_b = cos(topics.interest[a], topics.expertise[b])
    b_asks_a = cos(topics.interest[b], topics.expertise[a])
    a_needs_b, b_needs_a, peers = pair_terms(topics, a, b, peer, a_asks_b, b_asks_a, peer_weight, power)
    score = a_needs_b + b_needs_a + peers
    return ScoredPairs(a, b, score, peer, a_asks_b, b_asks_a)
