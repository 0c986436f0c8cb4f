"""The health report's pictures as SVG shapes, drawn by the health page's template.

SVG in the page rather than matplotlib PNGs: no plotting library on the request path, text
that scales and stays sharp from 1280 px down to a phone, and labels a screen reader can
read. The silo merging is the CLI plot's own (services/health_plot.py), so both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from copmatch.services.health import HealthReport
from copmatch.services.health_plot import silo_matrix_for_plot

MAX_DEGREE_BARS = 30


@dataclass(frozen=True)
class Cell:
    row: int
    column: int
    count: int
    fill: str  # a blue, darker for more ties (log scale)
    dark: bool  # white text on it


@dataclass(frozen=True)
class TieMatrix:
    silos: list[str]
    isolated: set[str]
    cells: list[Cell]
    size: int  # cells per side

    @property
    def cell_px(self) -> int:
        return 44

    @property
    def label_px(self) -> int:
        return 190

    @property
    def width(self) -> int:
        # The column labels are rotated up and to the right: room for the last ones.
        return self.label_px + self.size * self.cell_px + 120

    @property
    def height(self) -> int:
        return self.label_px + self.size * self.cell_px + 10


@dataclass(frozen=True)
class Bar:
    degree: int
    members: int
    x: float
    y: float
    height: float
    weak: bool  # at most one tie


@dataclass(frozen=True)
class DegreeChart:
    bars: list[Bar]
    not_shown: int  # members with more ties than the bars reach
    max_members: int
    width: int = 640
    height: int = 260
    left: int = 48
    bottom: int = 36
    bar_px: float = 0.0


def tie_matrix(report: HealthReport) -> TieMatrix:
    names, counts = silo_matrix_for_plot(report)
    shown = np.log1p(counts)
    top = max(float(shown.max()) if shown.size else 0.0, 1.0)
    cells = []
    for (i, j), count in np.ndenumerate(counts):
        level = float(shown[i, j]) / top  # 0..1
        cells.append(Cell(i, j, int(count), _blue(level), level > 0.6))
    return TieMatrix(list(names), {s["silo"] for s in report.silos if s["isolated"]}, cells, len(names))


def _blue(level: float) -> str:
    """White to a deep blue (#08306b), as matplotlib's Blues."""
    low, high = np.array([247, 251, 255]), np.array([8, 48, 107])
    r, g, b = (low + (high - low) * level).round().astype(int)
    return f"#{r:02x}{g:02x}{b:02x}"


def degree_chart(report: HealthReport) -> DegreeChart:
    counts = list(report.degree_counts)
    shown = counts[:MAX_DEGREE_BARS]
    chart = DegreeChart([], sum(counts[MAX_DEGREE_BARS:]), max(shown, default=0))
    plot_w, plot_h = chart.width - chart.left - 10, chart.height - chart.bottom - 12
    bar_px = plot_w / max(len(shown), 1)
    top = max(chart.max_members, 1)
    bars = []
    for degree, members in enumerate(shown):
        height = plot_h * members / top
        bars.append(Bar(degree, members, chart.left + degree * bar_px, 12 + plot_h - height, height, degree <= 1))
    return DegreeChart(bars, chart.not_shown, chart.max_members, bar_px=bar_px)
