"""Fast nDCG@10 of the ranker under any settings, and a seeded settings search.

A split is retrieved once (``expert_finding.retrieve_all``); ``SplitScorer`` then scores every
member of every test question under a ``Settings`` through ``experts.score_members`` (the
function ``find_experts`` ranks with) and measures nDCG@10 on a matrix, with the same order
and tie-breaking as ``expert_setup.rank_ids``. Extra signals enter as ``log(score) + w * f``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmarks.lib.expert_metrics import CUTOFF
from benchmarks.lib.expert_setup import Prepared
from copmatch import Settings
from copmatch.ranking.scores import member_priors
from copmatch.services.experts import score_members

DISCOUNT = 1.0 / np.log2(np.arange(CUTOFF) + 2.0)  # (CUTOFF,)


class SplitScorer:
    def __init__(self, prepared: Prepared, retrieved: list) -> None:
        self.prepared, self.retrieved = prepared, retrieved
        corpus, rows = prepared.searcher.corpus, prepared.searcher.member_rows
        n_q, n_m = len(retrieved), corpus.n_members
        self.candidate = np.zeros((n_q, n_m), dtype=bool)  # (n_q, n_members)
        self.gains = np.zeros((n_q, n_m))  # (n_q, n_members): accepted answerer 2, other answerers 1
        for i, ((cand_rows, _), truth) in enumerate(zip(retrieved, prepared.truths)):
            self.candidate[i, cand_rows] = True
            self.gains[i, [rows[m] for m in truth.answerers]] = 1.0
            if truth.accepted is not None:
                self.gains[i, rows[truth.accepted]] = 2.0
        ideal = -np.sort(-self.gains, axis=1)[:, :CUTOFF]
        self.idcg = ideal @ DISCOUNT  # (n_q,)

    @property
    def n_questions(self) -> int:
        return len(self.retrieved)

    def log_scores(self, settings: Settings) -> np.ndarray:
        """(n_q, n_members) log of the ranker's final scores (a monotone map: the same order)."""
        searcher = self.prepared.searcher
        priors = member_priors(searcher.corpus, settings)
        finals = [score_members(searcher, found, priors, settings).final for _, found in self.retrieved]
        return np.log(np.maximum(np.stack(finals), 1e-300))

    def ndcg(self, scores: np.ndarray) -> np.ndarray:
        """(n_q,) nDCG@10 of each question's candidates ranked by ``scores`` (n_q, n_members)."""
        masked = np.where(self.candidate, scores, -np.inf)
        # A stable sort over member rows breaks ties by row, as rank_ids does over sorted candidate rows.
        top = np.argsort(-masked, axis=1, kind="stable")[:, :CUTOFF]
        return (np.take_along_axis(self.gains, top, axis=1) @ DISCOUNT) / self.idcg


@dataclass(frozen=True)
class Param:
    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def value(self, unit: float) -> float | int:
        unit = min(max(unit, 0.0), 1.0)
        v = self.low * (self.high / self.low) ** unit if self.log else self.low + (self.high - self.low) * unit
        return int(round(v)) if self.integer else float(v)

    def unit(self, value: float) -> float:
        if self.log:
            return float(np.log(value / self.low) / np.log(self.high / self.low))
        return (value - self.low) / (self.high - self.low)


# Every ranking setting score_members reads on StackExchange data (no author/"other" roles
# there, and retrieval depth is moot: every candidate's passages are scored anyway).
SPACE = [
    Param("dense_floor", 0.0, 0.5),
    Param("lexical_weight", 0.0, 1.0),
    Param("lexical_saturation", 1.0, 64.0, log=True),
    Param("relevance_power", 0.5, 10.0, log=True),
    Param("top_documents", 1, 100, log=True, integer=True),
    Param("rank_decay", 0.3, 1.0),
    Param("role_weight_answer", 0.2, 1.5),
    Param("role_weight_asker", 0.0, 1.0),
    Param("profile_weight", 0.0, 2.0),
    Param("profile_floor", 0.1, 0.6),
    Param("profile_lexical_weight", 0.0, 1.0),
    Param("cold_start_profile_weight", 0.0, 3.0),
    Param("match_floor", 0.001, 1.0, log=True),
    Param("match_saturation", 0.03, 30.0, log=True),
    Param("prior_weight", 0.0, 3.0),
    Param("recency_half_life_answers", 5.0, 1e5, log=True),
    Param("activity_question_weight", 0.0, 1.0),
    Param("activity_saturation", 0.3, 300.0, log=True),
    Param("newcomer_activity", 0.01, 10.0, log=True),
    Param("prior_acceptance_share", 0.0, 1.0),
    Param("prior_share_weight", 0.0, 2.0),
    Param("prior_share_half_life", 0.002, 0.3, log=True),
    Param("prior_share_saturation", 0.3, 300.0, log=True),
]


@dataclass(frozen=True)
class Trial:
    value: float
    overrides: dict


def search(
    objective: Callable[[Settings], float], n_random: int, n_local: int, seed: int, base: Settings | None = None
) -> list[Trial]:
    """Random search over SPACE, then local refinement around the best; every trial, best first.

    The first trial is ``base`` (the defaults) itself, so the search never reports less.
    """
    base = base or Settings()
    rng = np.random.default_rng(seed)
    trials = [Trial(objective(base), {})]
    for _ in range(n_random):
        overrides = {p.name: p.value(rng.random()) for p in SPACE}
        trials.append(Trial(objective(base.with_overrides(**overrides)), overrides))
    best = max(trials, key=lambda t: t.value)
    full = {p.name: getattr(base, p.name) for p in SPACE} | best.overrides
    for step in range(n_local):
        # Shrinking moves of 1-3 coordinates in the unit cube; ties move on (plateaus are common).
        sigma = 0.2 * (1.0 - step / max(n_local, 1)) + 0.02
        moved = dict(full)
        for p in rng.choice(SPACE, size=rng.integers(1, 4), replace=False):
            moved[p.name] = p.value(p.unit(full[p.name]) + rng.normal(0.0, sigma))
        trial = Trial(objective(base.with_overrides(**moved)), moved)
        trials.append(trial)
        if trial.value >= best.value:
            best, full = trial, moved
    return sorted(trials, key=lambda t: -t.value)
