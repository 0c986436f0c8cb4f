"""Bootstrap intervals: the one implementation every benchmark uses.

Percentile bootstrap over questions (or pairs, or cutoffs): resample with replacement
``n_boot`` times, take the 2.5th and 97.5th percentiles of the resampled means. Paired
differences resample the per-item difference, so both systems see the same items.
"""

from __future__ import annotations

import numpy as np


def bootstrap_interval(v: np.ndarray, rng: np.random.Generator, n_boot: int) -> tuple[float, float]:
    if len(v) == 0:
        return float("nan"), float("nan")
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)  # (n_boot,)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired_difference(a: np.ndarray, b: np.ndarray, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a - b over questions where both are defined, with its bootstrap 95% interval."""
    both = ~np.isnan(a) & ~np.isnan(b)
    diff = a[both] - b[both]
    low, high = bootstrap_interval(diff, np.random.default_rng(seed), n_boot)
    return float(diff.mean()) if len(diff) else float("nan"), low, high
