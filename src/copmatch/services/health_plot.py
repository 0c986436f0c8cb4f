"""The health report as a picture: who is tied to whom across silos, and how many ties
members have. matplotlib with the Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from copmatch.services.health import HealthReport

MAX_SILOS_SHOWN = 12  # beyond this the matrix stops being readable; the rest are grouped


def silo_matrix_for_plot(report: HealthReport, max_silos: int = MAX_SILOS_SHOWN) -> tuple[list[str], np.ndarray]:
    """The tie matrix with the silos beyond the largest ``max_silos`` merged into one row."""
    names = list(report.tie_matrix["silos"])
    counts = np.array(report.tie_matrix["counts"], dtype=np.int64).reshape(len(names), len(names))
    if len(names) <= max_silos:
        return names, counts
    keep = max_silos - 1
    groups = np.zeros((max_silos, len(names)), dtype=np.int64)  # (shown, all) membership
    groups[np.minimum(np.arange(len(names)), keep), np.arange(len(names))] = 1
    merged = groups @ counts @ groups.T
    # The matrix holds a tie between two silos in both their cells; inside the merged row
    # that tie must count once, like a tie inside one silo.
    inside = counts[keep:, keep:]
    merged[keep, keep] = np.trace(inside) + np.triu(inside, 1).sum()
    return [*names[:keep], f"{len(names) - keep} other silos"], merged


def plot_health(report: HealthReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, counts = silo_matrix_for_plot(report)
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6.5), gridspec_kw={"width_ratios": [1.25, 1]})
    shown = np.log1p(counts)
    image = left.imshow(shown, cmap="Blues", vmin=0, vmax=max(float(shown.max()), 1.0))
    left.set_xticks(range(len(names)), [_short(n) for n in names], rotation=40, ha="right", fontsize=9)
    left.set_yticks(range(len(names)), [_short(n) for n in names], fontsize=9)
    threshold = shown.max() * 0.6
    for i in range(len(names)):
        for j in range(len(names)):
            colour = "white" if shown[i, j] > threshold else "black"
            left.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=9, color=colour)
    isolated = {s["silo"] for s in report.silos if s["isolated"]}
    for tick in left.get_yticklabels():
        if any(tick.get_text() == _short(n) for n in isolated):
            tick.set_color("firebrick")
            tick.set_fontweight("bold")
    left.set_title(
        f"Ties between silos ({report.cross_silo_share:.0%} of {report.ties} cross silos)\n"
        "diagonal: inside a silo; red: isolated silo",
        fontsize=11,
    )
    fig.colorbar(image, ax=left, fraction=0.046, pad=0.04, label="log(1 + ties)")

    degrees = np.array(report.degree_counts, dtype=np.int64)
    shown_degrees = min(len(degrees), 30)
    bars = right.bar(range(shown_degrees), degrees[:shown_degrees], color="steelblue")
    for degree in range(min(2, shown_degrees)):
        bars[degree].set_color("darkorange")
    if len(degrees) > shown_degrees:
        right.text(0.98, 0.95, f"{int(degrees[shown_degrees:].sum())} members with {shown_degrees}+ ties not shown",
                   transform=right.transAxes, ha="right", fontsize=9)  # fmt: skip
    right.set_xlabel("ties (distinct members interacted with)")
    right.set_ylabel("members")
    weak = report.weak_ties
    right.set_title(
        f"Degree distribution: {weak['share']:.0%} of members have at most one tie (orange)\n"
        f"core group: {len(report.core['members'])} members with {report.core['k']}+ ties among themselves",
        fontsize=11,
    )
    source = "imported" if report.silo_source == "import" else report.silo_source
    fig.suptitle(f"Community health: {report.members} members; silos: {source}", fontsize=13)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _short(name: str, width: int = 26) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
