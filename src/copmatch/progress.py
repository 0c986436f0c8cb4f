"""Progress reporting for long work, independent of how it is shown.

Library calls take a ``Progress``; the CLI passes one that draws rich bars, tests and
the API pass nothing (or their own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Advance = Callable[[int], None]


class Progress(Protocol):
    def task(self, description: str, total: int | None) -> Advance:
        """Start a task of ``total`` units; returns a function to advance it by n units."""


class NullProgress:
    def task(self, description: str, total: int | None) -> Advance:
        return lambda n: None


class Recorder:
    """Keeps the latest state of each task; the API reports rebuild jobs with it."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, int | None]] = {}
        self.current: str | None = None

    def task(self, description: str, total: int | None) -> Advance:
        self.tasks[description] = {"done": 0, "total": total}
        self.current = description

        def advance(n: int) -> None:
            self.tasks[description]["done"] = int(self.tasks[description]["done"] or 0) + n

        return advance


def from_cumulative(advance: Advance) -> Callable[[int], None]:
    """Adapt a callback that reports a running total into one that advances by deltas."""
    last = 0

    def report(done: int) -> None:
        nonlocal last
        advance(done - last)
        last = done

    return report
