"""The default formula's activity prior: how likely a member is to answer at all, now.

Two activity counts enter it, each saturating as ``(a + a0) / (a + a0 + k)``:

- **answers clock** (``prior_weight``): answers aged by the answers posted since, with a fixed
  half-life of ``recency_half_life_answers`` (the same recency that ages content evidence).
- **share clock** (``prior_share_weight``, saturation ``prior_share_saturation``): answers
  aged by the *share* of all the history's answers posted since, half-life
  ``prior_share_half_life`` (issue #12's "recent activity, community clock" baseline, the
  feature column ``clock activity <h>``). A fixed count is a different span of time in a
  community of 500 answers and one of 50,000; a share is the same stretch of each
  community's life, so "who answers *now*" means the same on every pace.

A share clock needs answers to tick: in a history of a few dozen answers a share of 0.02 is
less than one answer, and the factor would only say who posted last. Its exponent therefore
grows in proportion to the history's dated answers up to ``prior_share_min_answers``
(``share_clock_weight``), and counts fully from there.

The prior is their product with those exponents, a score-level blend: it does not depend on the
query, so the final score ``match * prior`` stays absolute and comparable across queries (a
rank fusion with the clock-activity ranking would not). Chosen on the development windows:
benchmarks/expert_dev_prior.py. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from copmatch.ranking.corpus import ACCEPTED, ANSWER, Corpus
from copmatch.settings import Settings


def share_clock_activity(
    corpus: Corpus, half_life_share: float, dated: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """(n_members,) each member's answers weighted ``0.5 ** (s / half_life_share)``, ``s`` the share
    of all the corpus's dated answers posted after it (undated answers count nothing: no clock).

    ``dated``: ``dated_answers(corpus)``, when the caller has it."""
    rows, days = dated_answers(corpus) if dated is None else dated
    clock = np.sort(days)
    after = (len(clock) - np.searchsorted(clock, days, side="right")) / max(len(clock), 1)
    weight = 0.5 ** (after / half_life_share)
    return np.bincount(corpus.contrib_member[rows].astype(np.int64), weights=weight, minlength=corpus.n_members)


def dated_answers(corpus: Corpus) -> tuple[np.ndarray, np.ndarray]:
    """The corpus's answers that have a date (the share clock's ticks): their rows into
    ``contrib_*``, and their days."""
    days = corpus.doc_days[corpus.contrib_doc]
    rows = np.flatnonzero(np.isin(corpus.contrib_class, (ACCEPTED, ANSWER)) & np.isfinite(days))
    return rows, days[rows]


def share_clock_factor(corpus: Corpus, settings: Settings) -> tuple[float, np.ndarray | None]:
    """The share-clock factor of this history: its exponent (``share_clock_weight``) and the
    members' share-clock activity (None when the exponent is 0: not computed)."""
    if settings.prior_share_weight <= 0:
        return 0.0, None
    dated = dated_answers(corpus)
    weight = share_clock_weight(len(dated[0]), settings)
    if weight <= 0:
        return 0.0, None
    return weight, share_clock_activity(corpus, settings.prior_share_half_life, dated)


def share_clock_weight(n_answers: int, settings: Settings) -> float:
    """The share-clock factor's exponent in a history of ``n_answers`` dated answers:
    ``prior_share_weight`` scaled by ``min(1, n_answers / prior_share_min_answers)``."""
    full = max(settings.prior_share_min_answers, 1)
    return settings.prior_share_weight * min(1.0, n_answers / full)


def saturating(activity: np.ndarray, newcomer: float, saturation: float) -> np.ndarray:
    """(a + a0) / (a + a0 + k) in (0, 1): a newcomer starts at a0, k recent answers give about 0.5."""
    started = activity + newcomer
    return started / (started + saturation)


def activity_prior(
    answers_activity: np.ndarray,
    share_activity: np.ndarray | None,
    settings: Settings,
    share_weight: float | None = None,
) -> np.ndarray:
    """(n_members,) ``saturating(answers) ** prior_weight * saturating(share) ** share_weight``.

    ``share_weight``: the share-clock exponent, ``share_clock_weight`` of the history (default
    ``prior_share_weight``, a history long enough). ``share_activity`` may be None when that
    exponent is 0 (not computed)."""
    share_weight = settings.prior_share_weight if share_weight is None else share_weight
    newcomer = settings.newcomer_activity
    prior = saturating(answers_activity, newcomer, settings.activity_saturation) ** settings.prior_weight
    if share_weight > 0:
        if share_activity is None:
            raise ValueError("a share-clock exponent > 0 needs the share-clock activity")
        share = saturating(share_activity, newcomer, settings.prior_share_saturation)
        prior = prior * share**share_weight
    return prior
