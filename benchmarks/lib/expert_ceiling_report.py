"""Tables for expert_ceiling.py: the oracle ceiling against the baselines, settings and signals."""

from __future__ import annotations

import numpy as np

from benchmarks.lib.expert_search import SPACE
from benchmarks.lib.stats import paired_difference
from copmatch import Settings

TEST_SHARE, DEV_SHARES = 0.7, (0.6, 0.8)
TARGET = 1.1
SELF_TUNED = "recent activity (self-tuned half-life)"


def _standard(split) -> list[str]:
    return [n for n in split.baselines if n != SELF_TUNED]


def hindsight(splits: dict, dump: str) -> tuple[str, float]:
    """The best standard baseline on the 70% split's own test questions."""
    test = splits[(dump, TEST_SHARE)]
    name = max(_standard(test), key=lambda n: test.baselines[n].mean())
    return name, float(test.baselines[name].mean())


def dev_chosen(splits: dict, dump: str) -> tuple[str, float]:
    """The baseline with the best mean nDCG@10 over the dump's dev splits, scored at 70%."""
    test = splits[(dump, TEST_SHARE)]
    name = max(_standard(test), key=lambda n: np.mean([splits[(dump, s)].baselines[n].mean() for s in DEV_SHARES]))
    return name, float(test.baselines[name].mean())


def oracle_recency(splits: dict, dump: str) -> tuple[float, float]:
    """Recent activity with its half-life fitted on the test questions (an ORACLE baseline)."""
    curve = splits[(dump, TEST_SHARE)].recency_curve
    best = max(curve, key=lambda k: curve[k])
    return best, curve[best]


def _systems(result: dict) -> dict[str, float]:
    return {
        "copmatch defaults": result["defaults"],
        "settings tuned on dev splits (this dump)": result["dev_tuned_at_test"],
        "oracle, cross-fitted 2-fold (tuned on the other half of test)": result["cross_fitted"],
        "ORACLE settings (fitted on test)": result["oracle"].value,
        "ORACLE settings + all new signals (fitted on test)": result["signals_oracle"]["all signals"][0],
    }


def ceiling_rows(results: dict, splits: dict, dumps: list[str]) -> list[dict]:
    rows = []
    for d in dumps:
        r, test = results[d], splits[(d, TEST_SHARE)]
        best, best_v = hindsight(splits, d)
        dev, dev_v = dev_chosen(splits, d)
        diff, low, high = paired_difference(r["oracle_values"], test.baselines[best], 1000)
        rows.append(
            {
                "dump": d,
                "questions": r["questions"],
                **{k: round(v, 3) for k, v in _systems(r).items()},
                "best baseline in hindsight": f"{best}: {best_v:.3f}",
                "dev-chosen baseline": f"{dev}: {dev_v:.3f}",
                "self-tuned recent activity": round(float(test.baselines[SELF_TUNED].mean()), 3),
                "ORACLE recent activity (half-life fitted on test)": "{:.3f} ({:.0f} d)".format(
                    *reversed(oracle_recency(splits, d))
                ),
                "needed for 1.1x hindsight": round(TARGET * best_v, 3),
                "ORACLE - hindsight baseline [95% CI]": f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]",
                "ORACLE settings on dev splits 0.6 / 0.8 (defaults)": " / ".join(
                    f"{o:.3f} ({splits[(d, s)].scorer.ndcg(splits[(d, s)].scorer.log_scores(Settings())).mean():.3f})"
                    for o, s in zip(r["oracle_on_dev"], DEV_SHARES)
                ),
            }
        )
    return rows


def ratio_rows(results: dict, splits: dict, dumps: list[str]) -> list[dict]:
    rows = []
    for d in dumps:
        _, best_v = hindsight(splits, d)
        _, dev_v = dev_chosen(splits, d)
        _, oracle_v = oracle_recency(splits, d)
        for system, value in _systems(results[d]).items():
            rows.append(
                {
                    "dump": d,
                    "system": system,
                    "nDCG@10": round(value, 3),
                    "ratio to best baseline in hindsight": round(value / best_v, 3),
                    "ratio to dev-chosen baseline": round(value / dev_v, 3),
                    "ratio to ORACLE recent activity": round(value / oracle_v, 3),
                    "reaches 1.1x (hindsight)": "yes" if value >= TARGET * best_v else "no",
                }
            )
    return rows


def oracle_settings_rows(results: dict) -> list[dict]:
    defaults = Settings()
    rows = []
    for p in SPACE:
        row: dict = {"setting": p.name, "default": getattr(defaults, p.name)}
        for d, r in results.items():
            for label, trial in (("ORACLE", r["oracle"]), ("dev-tuned", r["dev_tuned"])):
                value = trial.overrides.get(p.name, getattr(defaults, p.name))
                row[f"{d} {label}"] = round(value, 3) if isinstance(value, float) else value
        rows.append(row)
    return rows


def signal_rows(results: dict, dev_signals: dict, splits: dict, dumps: list[str]) -> list[dict]:
    rows = []
    for group, dev in dev_signals.items():
        row: dict = {"signal": group}
        for d in dumps:
            found = results[d]["signals_oracle"]
            key = next(k for k in found if k == group or (group.startswith("self-tuned") and k.startswith(group)))
            value, _ = found[key]
            row[f"{d} ORACLE (+ over oracle)"] = f"{value:.3f} ({value - results[d]['oracle'].value:+.3f})"
        for d in dumps:
            value, weights = dev["test_oracle"][d]
            chosen = ", ".join(f"{w:g}" for w in weights.values())
            row[f"{d} defaults + signal, ORACLE weight (change; weights)"] = (
                f"{value:.3f} ({value - results[d]['defaults']:+.3f}; {chosen})"
            )
        row["questions with an answerer it covers (beer/coffee/h-m)"] = " / ".join(
            f"{dev['coverage'][d]:.0%}" for d in dumps
        )
        row["weights chosen on dev"] = ", ".join(f"{f} {w:g}" for f, w in dev["weights"].items()) or "all 0"
        row["mean dev nDCG@10 change (in-sample)"] = f"{dev['dev_change']:+.4f}"
        for d in dumps:
            _, best_v = hindsight(splits, d)
            value = dev["test"][d]
            row[f"{d} @0.7 with dev weights (change; ratio)"] = (
                f"{value:.3f} ({value - results[d]['defaults']:+.3f}; {value / best_v:.3f}x)"
            )
        for d in dumps:
            _, best_v = hindsight(splits, d)
            weights, value = dev["own"][d]
            chosen = ", ".join(f"{w:g}" for w in weights.values())
            label = f"{d} @0.7 with weights from its own dev splits (weights; ratio)"
            row[label] = f"{value:.3f} ({chosen}; {value / best_v:.3f}x)"
        rows.append(row)
    all_row: dict = {"signal": "all signals"}
    for d in dumps:
        value, weights = results[d]["signals_oracle"]["all signals"]
        all_row[f"{d} ORACLE (+ over oracle)"] = f"{value:.3f} ({value - results[d]['oracle'].value:+.3f})"
        all_row[f"{d} oracle weights"] = ", ".join(f"{f} {w:g}" if f != "start" else w for f, w in weights.items())
    rows.append(all_row)
    return rows


def tuning_rows(splits: dict, dumps: list[str]) -> list[dict]:
    rows = []
    for d in dumps:
        for share in (*DEV_SHARES, TEST_SHARE):
            s = splits[(d, share)]
            best = max(s.half_life_fit.values())
            rows.append(
                {
                    "split": f"{d} @ {share}",
                    "chosen half-life (d)": s.tuned_half_life,
                    "holdout nDCG@10 by half-life (d)": ", ".join(
                        f"{k:g}: {v:.3f}" for k, v in s.half_life_fit.items() if k < 1e8
                    )
                    + f", inf: {s.half_life_fit[1e9]:.3f}",
                    "best holdout nDCG@10": round(best, 3),
                    "self-tuned recent activity at this split": round(float(s.baselines[SELF_TUNED].mean()), 3),
                    "best recent activity (fixed half-lives)": round(
                        max(float(v.mean()) for n, v in s.baselines.items() if n.startswith("recent activity (half")), 3
                    ),
                }
            )
    return rows
