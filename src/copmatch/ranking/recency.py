"""How much a contribution still counts: recency, on two clocks, and why each is used where.

- **Expertise** (expert ranking, ``community_clock_recency``) ages on the community's own
  clock: the answers and authored documents posted since. The development communities differ
  30-fold in pace (coffee's few weeks to bicycles-meta's thirteen years), and one half-life in
  days was either blind to staleness on the fast ones or forgot everything on the slow ones;
  measured in ``benchmarks/expert_finding.py``.
- **Availability** (introductions, ``calendar_recency``) ages in days: an introduction asks
  two people to meet now, and someone who has not posted for a year is unlikely to answer an
  introduction however quiet the community has been meanwhile.

Both are pure numpy over the corpus arrays, one weight per contribution.
"""

from __future__ import annotations

import numpy as np

from copmatch.ranking.corpus import OFFERING_CLASSES, Corpus


def community_clock_recency(corpus: Corpus, half_life_answers: float) -> np.ndarray:
    """(n_contrib,) ``0.5 ** (answers posted in the community since the contribution / half-life)``.

    An undated contribution counts fully: nothing says it is stale (a practice document
    imported without a date is usually standing knowledge).
    """
    days = corpus.doc_days[corpus.contrib_doc]  # (n_contrib,)
    answering = np.isin(corpus.contrib_class, OFFERING_CLASSES)
    clock = np.sort(days[answering & np.isfinite(days)])
    since = len(clock) - np.searchsorted(clock, days, side="right")
    since = np.where(np.isfinite(days), since, 0)
    return 0.5 ** (since / half_life_answers)


def calendar_recency(corpus: Corpus, half_life_days: float) -> np.ndarray:
    """(n_contrib,) 1 for a contribution made "now" (the corpus's newest document), halving
    every ``half_life_days``; an undated one counts as one half-life old."""
    days = corpus.doc_days[corpus.contrib_doc]
    now = np.nanmax(corpus.doc_days) if np.isfinite(corpus.doc_days).any() else 0.0
    age = np.where(np.isfinite(days), now - days, half_life_days)
    return 0.5 ** (np.maximum(age, 0.0) / half_life_days)
