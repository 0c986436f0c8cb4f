"""One value per member, held as what a query touched over what it did not.

Most members of a large community have nothing to do with a given query: no contribution
to a document it matched, no profile near it. Their score, their topical evidence (0) and
their activity do not depend on the query, so a snapshot computes them once (the
baseline) and a query computes only the members it touched. Reading the values of a few
members, or of all of them, then gives what computing every member would have given.
Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class MemberValues:
    """``touched`` at the member ``rows`` a query touched, ``baseline`` at every other member."""

    rows: np.ndarray  # (n_touched,) int64 member rows, sorted, unique
    touched: np.ndarray  # (n_touched,) their values
    baseline: np.ndarray  # (n_members,) what a member the query did not touch has

    def at(self, members: np.ndarray) -> np.ndarray:
        """The values of the given member rows (any order, repeats allowed)."""
        if members is self.rows:
            return self.touched
        members = np.asarray(members, dtype=np.int64)
        if not len(self.rows):
            return self.baseline[members]
        position = np.minimum(np.searchsorted(self.rows, members), len(self.rows) - 1)
        touched = self.rows[position] == members
        return np.where(touched, self.touched[position], self.baseline[members])

    @cached_property
    def full(self) -> np.ndarray:
        """(n_members,) every member's value, built on first read (benchmarks and training want it)."""
        out = self.baseline.copy()
        out[self.rows] = self.touched
        return out


def compact_index(rows: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Position in the sorted ``rows`` of each of ``members`` (every one must be among them)."""
    return np.searchsorted(rows, members)


def among(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Whether each of ``values`` is in the sorted array ``sorted_set`` (a binary search each)."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    position = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[position] == values
