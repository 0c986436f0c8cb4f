"""A diverse list of introductions: maximal marginal relevance over pairs, under the cap.

Each next pair maximises ``lambda * score - (1 - lambda) * redundancy`` where the score is
scaled to the best pair's and the redundancy is the pair's largest similarity to a pair
already listed: the cosine of their topics, ``intro_mmr_shared_member`` when they share a
member, ``intro_mmr_same_silos`` when they join the same two silos. The per-member cap of
open introductions holds throughout. Vectorised: one matrix-vector product per pick.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from copmatch.settings import Settings


def diversified(
    score: np.ndarray,
    pair_topic: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    silos: np.ndarray,
    settings: Settings,
    load: dict[int, int],
    per_member: int,
    limit: int,
    accept: Callable[[int], bool] = lambda i: True,
) -> list[int]:
    """Indices of the pairs listed, in order. ``accept(i)`` may still refuse a pair when it
    comes up (e.g. no reason a broker could check); the next best is taken instead."""
    n = len(score)
    if n == 0 or limit <= 0:
        return []
    relevance = score / max(float(score.max()), 1e-12)
    lam = settings.intro_mmr_lambda
    load = dict(load)
    full = np.array([m for m, c in load.items() if c >= per_member], dtype=np.int64)
    available = ~(np.isin(a, full) | np.isin(b, full))
    redundancy = np.zeros(n)
    silo_a, silo_b = silos[a], silos[b]
    known = (silo_a != "") & (silo_b != "")
    chosen: list[int] = []
    while len(chosen) < limit and available.any():
        value = np.where(available, lam * relevance - (1.0 - lam) * redundancy, -np.inf)
        i = int(np.argmax(value))
        available[i] = False
        if not accept(i):
            continue
        chosen.append(i)
        for member in (int(a[i]), int(b[i])):
            load[member] = load.get(member, 0) + 1
            if load[member] >= per_member:
                available &= (a != member) & (b != member)
        shared = (a == a[i]) | (a == b[i]) | (b == a[i]) | (b == b[i])
        same = (
            known
            & known[i]
            & (((silo_a == silo_a[i]) & (silo_b == silo_b[i])) | ((silo_a == silo_b[i]) & (silo_b == silo_a[i])))
        )
        topical = pair_topic @ pair_topic[i]
        similarity = np.maximum.reduce(
            [topical, shared * settings.intro_mmr_shared_member, same * settings.intro_mmr_same_silos]
        )
        redundancy = np.maximum(redundancy, similarity)
    return chosen
