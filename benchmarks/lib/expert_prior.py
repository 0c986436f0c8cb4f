"""The default formula's prior on saved development sets: take it apart, put another one in.

The prior does not depend on the query and the default score is ``match * prior``, so a saved
set (benchmarks/expert_dev.py) can be re-scored under other prior settings without retrieval:
each row's match is its default score over its saved prior, its answers-clock activity is the
saved prior inverted, and its share-clock activities are the saved ``clock activity <h>``
columns. ``copmatch.ranking.prior.activity_prior`` (what a build serves) makes the new prior.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from copmatch import Settings
from copmatch.ranking.features import CLOCK_HALF_LIVES, FEATURES
from copmatch.ranking.history import TrainingSet
from copmatch.ranking.prior import activity_prior

#: The prior settings expert_dev.py saved the development sets with (its defaults when they were
#: last saved: answers clock only, exponent 0.75, the choice of the previous expert_dev_prior run).
SAVED_PRIOR = Settings(prior_weight=0.75, activity_saturation=10.0, newcomer_activity=1.0, prior_share_weight=0.0)
LOG_DEFAULT, LOG_PRIOR = FEATURES.index("log default score"), FEATURES.index("log prior")


class SavedPriorError(ValueError):
    """The saved sets were not made with SAVED_PRIOR (re-save them, or update SAVED_PRIOR)."""


def decompose(rows: TrainingSet) -> dict[str, np.ndarray]:
    """Per row: the topical match, the answers-clock activity and the share-clock activities."""
    prior = np.exp(rows.features[:, LOG_PRIOR].astype(np.float64))
    q = np.minimum(prior ** (1.0 / SAVED_PRIOR.prior_weight), 1.0 - 1e-12)
    raw = SAVED_PRIOR.activity_saturation * q / (1.0 - q) - SAVED_PRIOR.newcomer_activity
    # Members who never answered have activity 0 exactly: the inversion must give back 0 for them
    # (a set saved with another prior gives negative or no zero activities).
    if len(raw) and (raw.min() < -1e-3 or np.abs(raw).min() > 1e-3):
        raise SavedPriorError(f"saved priors do not invert with {SAVED_PRIOR.prior_weight=} (min {raw.min():.3g})")
    out = {"match": rows.default / prior, "answers": np.maximum(raw, 0.0)}
    for h in CLOCK_HALF_LIVES:
        out[f"share {h:g}"] = np.expm1(rows.features[:, FEATURES.index(f"clock activity {h:g}")].astype(np.float64))
    return out


def prior_values(parts: dict[str, np.ndarray], settings: Settings) -> np.ndarray:
    """(n_rows,) the prior a build with ``settings`` would give each row's member."""
    if settings.prior_share_weight > 0 and settings.prior_share_half_life not in CLOCK_HALF_LIVES:
        raise ValueError(f"prior_share_half_life must be one of the saved columns {CLOCK_HALF_LIVES}")
    return activity_prior(parts["answers"], parts.get(f"share {settings.prior_share_half_life:g}"), settings)


def with_prior(rows: TrainingSet, settings: Settings, parts: dict[str, np.ndarray] | None = None) -> TrainingSet:
    """The rows as a build with ``settings``' prior would have made them (default score and its
    ``log default score`` / ``log prior`` columns replaced; ``parts``: ``decompose(rows)``, if kept)."""
    parts = parts if parts is not None else decompose(rows)
    prior = prior_values(parts, settings)
    default = parts["match"] * prior
    features = rows.features.copy()
    features[:, LOG_DEFAULT] = np.log(default)
    features[:, LOG_PRIOR] = np.log(prior)
    return replace(rows, features=features, default=default)
