"""Tables for RESULTS.md from per-question metric arrays of every system on every dump."""

from __future__ import annotations

import numpy as np

from benchmarks.lib.expert_metrics import METRICS, summary
from benchmarks.lib.stats import paired_difference

COPMATCH = "copmatch (defaults)"
LABELS = {"mrr": "MRR", "p1": "P@1", "hit10": "Hit@10", "ndcg10": "nDCG@10"}

# name -> {metric -> (n_questions,) values}
Systems = dict[str, dict[str, np.ndarray]]


def _ci(s: dict, metric: str) -> str:
    return f"{s[metric]:.3f} [{s[metric + '_lo']:.3f}, {s[metric + '_hi']:.3f}]"


def best_baseline(systems: Systems, baselines: list[str], metric: str) -> str:
    return max(baselines, key=lambda name: np.nanmean(systems[name][metric]))


def system_rows(systems: Systems, names: list[str], n_boot: int) -> list[dict]:
    rows = []
    for name in names:
        s = summary(systems[name], n_boot)
        rows.append(
            {
                "system": name,
                "nDCG@10 [95% CI]": _ci(s, "ndcg10"),
                "MRR [95% CI]": _ci(s, "mrr"),
                "P@1": round(s["p1"], 3),
                "Hit@10": round(s["hit10"], 3),
                "n (MRR)": s["mrr_n"],
                "n (others)": s["ndcg10_n"],
            }
        )
    return rows


def acceptance_rows(runs: dict[str, Systems], baselines: list[str], n_boot: int) -> list[dict]:
    """Per dump and metric: copmatch against the strongest baseline on that metric, in the same run."""
    rows = []
    for dump, systems in runs.items():
        ours = systems[COPMATCH]
        for metric in METRICS:
            rival = best_baseline(systems, baselines, metric)
            theirs = summary(systems[rival], n_boot)
            diff, low, high = paired_difference(ours[metric], systems[rival][metric], n_boot)
            mine = float(np.nanmean(ours[metric]))
            ratio = mine / theirs[metric] if theirs[metric] else float("inf")
            if metric == "ndcg10":
                verdict = "pass" if ratio >= 1.1 else "FAIL (< 1.1x)"
            else:
                verdict = "pass" if mine >= theirs[f"{metric}_lo"] else "FAIL (below its CI)"
            rows.append(
                {
                    "dump": dump,
                    "metric": LABELS[metric],
                    "copmatch": round(mine, 3),
                    "best baseline": rival,
                    "baseline [95% CI]": _ci(theirs, metric),
                    "ratio": round(ratio, 3),
                    "paired diff [95% CI]": f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]",
                    "target": "ratio >= 1.1" if metric == "ndcg10" else ">= baseline CI low",
                    "verdict": verdict,
                }
            )
    return rows


def _ndcg(systems: Systems, name: str) -> float:
    return float(np.nanmean(systems[name]["ndcg10"]))


def _ratio_to_best(systems: Systems, name: str, baselines: list[str]) -> float:
    return _ndcg(systems, name) / _ndcg(systems, best_baseline(systems, baselines, "ndcg10"))


def variant_rows(
    runs: dict[str, Systems], splits: dict[str, Systems], names: list[str], notes: dict[str, str]
) -> list[dict]:
    """nDCG@10 and MRR of each variant per dump on the main split, and its mean change over all splits."""
    rows = []
    for name in names:
        row: dict = {"variant": name, "what it tests": notes.get(name, "")}
        for dump, systems in runs.items():
            row[f"{dump} nDCG@10"] = round(_ndcg(systems, name), 3)
            row[f"{dump} MRR"] = round(float(np.nanmean(systems[name]["mrr"])), 3)
        deltas = [_ndcg(systems, name) - _ndcg(systems, COPMATCH) for systems in splits.values()]
        row[f"mean nDCG@10 change ({len(splits)} splits)"] = f"{np.mean(deltas):+.3f}"
        rows.append(row)
    return rows


def sweep_rows(
    runs: dict[str, Systems], splits: dict[str, Systems], names: list[str], baselines: list[str]
) -> list[dict]:
    """nDCG@10 of each swept value per dump, and its ratio to the best baseline over all splits."""
    rows = []
    for name in names:
        row: dict = {"setting": name}
        for dump, systems in runs.items():
            row[f"{dump} nDCG@10"] = round(_ndcg(systems, name), 3)
        ratios = [_ratio_to_best(systems, name, baselines) for systems in splits.values()]
        row["mean ratio to best baseline (all splits)"] = round(float(np.mean(ratios)), 3)
        row["min ratio (all splits)"] = round(min(ratios), 3)
        rows.append(row)
    return rows


def headline(systems: Systems, baselines: list[str], n_boot: int) -> dict:
    """copmatch's figures on one dump and its nDCG@10 ratio to the best baseline."""
    rival = best_baseline(systems, baselines, "ndcg10")
    return {
        "copmatch": summary(systems[COPMATCH], n_boot),
        "best_baseline_ndcg10": rival,
        "ndcg10_ratio": _ratio_to_best(systems, COPMATCH, baselines),
    }


def best_fixed_baseline(splits: dict[str, Systems], baselines: list[str]) -> str:
    """The one baseline configuration that is closest to the best in hindsight over all splits."""
    return max(
        baselines, key=lambda name: np.mean([_ratio_to_best(systems, name, baselines) for systems in splits.values()])
    )


def split_rows(splits: dict[str, Systems], baselines: list[str]) -> list[dict]:
    """copmatch against the best baseline in hindsight of each split, and against the best fixed one."""
    fixed = best_fixed_baseline(splits, baselines)
    rows = []
    for split, systems in splits.items():
        rival = best_baseline(systems, baselines, "ndcg10")
        rows.append(
            {
                "split (dump @ history share)": split,
                "questions": len(systems[COPMATCH]["ndcg10"]),
                "copmatch": round(_ndcg(systems, COPMATCH), 3),
                "best baseline in hindsight": rival,
                "its nDCG@10": round(_ndcg(systems, rival), 3),
                "ratio": round(_ratio_to_best(systems, COPMATCH, baselines), 3),
                f"ratio to {fixed}": round(_ndcg(systems, COPMATCH) / _ndcg(systems, fixed), 3),
            }
        )
    ratios = [row["ratio"] for row in rows]
    fixed_ratios = [row[f"ratio to {fixed}"] for row in rows]
    rows.append(
        {
            "split (dump @ history share)": "mean",
            "ratio": round(float(np.mean(ratios)), 3),
            f"ratio to {fixed}": round(float(np.mean(fixed_ratios)), 3),
        }
    )
    return rows
