"""Expert-finding metrics over ranked candidate lists, with bootstrap intervals.

Each judged question gives one ranking of its candidates (best first). Gains are graded:
the accepted answerer 2, other answerers 1. Per-question values are kept so systems can be
compared on the same questions and resampled for intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.lib.stats import bootstrap_interval

CUTOFF = 10


@dataclass(frozen=True)
class Judged:
    """One question's truth, restricted to its candidates."""

    answerers: frozenset[str]
    accepted: str | None  # None when the accepted answerer is unknown or not a candidate


def question_metrics(ranking: list[str], truth: Judged) -> dict[str, float | None]:
    """MRR (of the accepted answerer), P@1, Hit@10 and nDCG@10 for one ranking."""
    rank_of = {member: i for i, member in enumerate(ranking)}
    gains = {m: 1.0 for m in truth.answerers}
    if truth.accepted is not None:
        gains[truth.accepted] = 2.0
    top = ranking[:CUTOFF]
    dcg = sum(gains.get(m, 0.0) / np.log2(i + 2) for i, m in enumerate(top))
    ideal = sorted(gains.values(), reverse=True)[:CUTOFF]
    idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
    return {
        "mrr": 1.0 / (rank_of[truth.accepted] + 1) if truth.accepted is not None else None,
        "p1": float(bool(top) and top[0] in truth.answerers),
        "hit10": float(any(m in truth.answerers for m in top)),
        "ndcg10": dcg / idcg if idcg else 0.0,
    }


METRICS = ("mrr", "p1", "hit10", "ndcg10")


def per_question(rankings: list[list[str]], truths: list[Judged]) -> dict[str, np.ndarray]:
    """Per-question values of each metric; MRR is NaN where there is no accepted candidate."""
    rows = [question_metrics(r, t) for r, t in zip(rankings, truths)]
    return {m: np.array([np.nan if row[m] is None else row[m] for row in rows], dtype=float) for m in METRICS}


def summary(values: dict[str, np.ndarray], n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Means, n of each metric, and a percentile-bootstrap 95% interval for every mean."""
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    for metric in METRICS:
        v = values[metric][~np.isnan(values[metric])]
        out[metric] = float(v.mean()) if len(v) else float("nan")
        out[f"{metric}_n"] = len(v)
        low, high = bootstrap_interval(v, rng, n_boot)
        out[f"{metric}_lo"], out[f"{metric}_hi"] = low, high
    return out
