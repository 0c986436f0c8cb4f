"""How the build's ranker choice does on the development splits, variant by variant: learner,
bounded training rows, feature groups, and which rankers the build may serve (no test question).

    python -m benchmarks.expert_dev_learn [--dump beer ...] [--horizon 0.2]

Reads the development sets saved by expert_dev.py (history up to the 50% question; its own
past questions as of serving blocks, exactly what an index build trains on; the questions
between the 50% and 70% cutoffs as of the snapshot) and runs the build's own
``learn_ranker`` under each variant of the settings: the ranker it chooses on its held-out
latest questions scores the development questions. The best baseline's figures per dump are
the latest ``expert_finding --split dev`` run's (results.jsonl). Prints one table; every
default of the learned ranker was chosen here (see RESULTS.md, section expert_dev_learn).
"""

from __future__ import annotations

import json
import pickle
import time
from typing import Annotated, Any

import numpy as np
import typer

from benchmarks.expert_dev import ALL_DUMPS, WORK
from benchmarks.lib.results import RESULTS_JSONL, record
from copmatch import Settings
from copmatch.ranking.history import TrainingSet, ndcg_at
from copmatch.services.training import learn_ranker

app = typer.Typer(add_completion=False)

#: name -> settings overrides (the first is today's defaults)
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "as before: pointwise C=0.01, all rows, default|learned": {
        "learned_model": "logistic",
        "learned_negatives": 0,
        "learned_choices": ("default formula", "learned"),
        "learned_switch_z": 0.0,
        "learned_dropped_groups": (),
        "learned_regularisation": 0.01,
    },
}
LEARNED_ONLY = {"learned_choices": ("learned",)}
# Round 1: the learner alone (served whatever the held-out slice says).
for _model in ("logistic", "pairwise", "lambdarank", "trees"):
    for _negatives in (0, 50):
        for _c in (0.01, 0.1, 1.0) if _model in ("logistic", "pairwise") else (None,):
            _name = f"learned only: {_model}" + (f" C={_c}" if _c else "") + f" negatives={_negatives or 'all'}"
            VARIANTS[_name] = LEARNED_ONLY | {"learned_model": _model, "learned_negatives": _negatives}
            if _c:
                VARIANTS[_name]["learned_regularisation"] = _c
VARIANTS["recent activity only"] = {"learned_choices": ("recent activity",)}
# Round 2: around the best learner of round 1 (pointwise logistic, C=0.01, 50 negatives).
BEST = LEARNED_ONLY | {"learned_model": "logistic", "learned_negatives": 50, "learned_regularisation": 0.01}
for _c in (0.001, 0.003, 0.03):
    VARIANTS[f"learned only: logistic C={_c} negatives=50"] = BEST | {"learned_regularisation": _c}
for _negatives in (10, 20, 100, 200):
    VARIANTS[f"learned only: logistic C=0.01 negatives={_negatives}"] = BEST | {"learned_negatives": _negatives}
for _share in (0.0, 1.0):
    VARIANTS[f"learned only: logistic C=0.01 negatives=50 hard share {_share}"] = BEST | {
        "learned_hard_negative_share": _share
    }
for _seed in (1, 2):
    VARIANTS[f"learned only: logistic C=0.01 negatives=50 seed {_seed}"] = BEST | {"learned_sample_seed": _seed}
for _group in (
    "default formula",
    "topical",
    "calendar activity",
    "community-clock activity",
    "recency of last post",
    "volume and acceptance",
):
    VARIANTS[f"learned only: best, without {_group}"] = BEST | {"learned_dropped_groups": (_group,)}
VARIANTS["learned only: best, without calendar activity, volume and acceptance"] = BEST | {
    "learned_dropped_groups": ("calendar activity", "volume and acceptance")
}
for _groups in (
    ("default formula", "calendar activity"),
    ("default formula", "volume and acceptance"),
    ("default formula", "calendar activity", "volume and acceptance"),
    ("default formula", "topical"),
):
    VARIANTS["learned only: best, without " + ", ".join(_groups)] = BEST | {"learned_dropped_groups": _groups}
for _c in (0.003, 0.03):
    VARIANTS[f"learned only: best C={_c}, without default formula"] = BEST | {
        "learned_dropped_groups": ("default formula",),
        "learned_regularisation": _c,
    }
VARIANTS["learned only: best negatives=all, without default formula"] = BEST | {
    "learned_dropped_groups": ("default formula",),
    "learned_negatives": 0,
}
# Round 3: which rankers a build may serve, and how sure the held-out slice must be to switch.
BEST = BEST | {"learned_dropped_groups": ("default formula",)}
for _minimum in (30, 40, 50):
    VARIANTS[f"learned only: best, without default formula, min questions {_minimum}"] = BEST | {
        "learned_min_questions": _minimum
    }
_CHOICES = {
    "default|learned": ("default formula", "learned"),
    "learned|default": ("learned", "default formula"),
    "learned|recent": ("learned", "recent activity"),
    "learned|default|recent": ("learned", "default formula", "recent activity"),
    "default|learned|recent": ("default formula", "learned", "recent activity"),
}
for _label, _choices in _CHOICES.items():
    for _z in (0.0, 1.0, 2.0):
        VARIANTS[f"choose {_label}, z={_z}"] = BEST | {"learned_choices": _choices, "learned_switch_z": _z}


def load(dump: str, horizon: float) -> tuple[TrainingSet, TrainingSet]:
    with (WORK / f"{dump}@0.5" / "sets.pkl").open("rb") as handle:
        sets = pickle.load(handle)
    return sets["blocked"][horizon], sets["evaluation"]


def dev_baselines() -> dict[str, dict[str, float]]:
    """Per dump, the best baseline's nDCG@10, MRR and P@1 on the dev questions (latest dev run)."""
    latest = None
    for line in RESULTS_JSONL.read_text().splitlines():
        row = json.loads(line)
        if row.get("benchmark") == "expert_finding_dev":
            latest = row
    out: dict[str, dict[str, float]] = {}
    if latest is None:
        return out
    table = next(v for k, v in latest["tables"].items() if k.startswith("Acceptance"))
    names = {"nDCG@10": "ndcg10", "MRR": "mrr", "P@1": "p1"}
    for r in table:
        if r.get("metric") in names and "baseline [95% CI]" in r:
            out.setdefault(r["dump"], {})[names[r["metric"]]] = float(r["baseline [95% CI]"].split()[0])
    return out


def metrics(scores: np.ndarray, evaluation: TrainingSet) -> dict[str, float]:
    lab, grp = evaluation.labels, evaluation.group
    mrr, p1 = [], []
    for g in np.unique(grp):
        rows = np.flatnonzero(grp == g)
        order = rows[np.argsort(-scores[rows], kind="stable")]
        p1.append(float(lab[order[0]] > 0))
        if (lab[rows] == 2).any():
            mrr.append(1.0 / (int(np.flatnonzero(lab[order] == 2)[0]) + 1))
    return {"ndcg10": float(ndcg_at(scores, lab, grp).mean()), "mrr": float(np.mean(mrr)), "p1": float(np.mean(p1))}


def run_variant(overrides: dict[str, Any], dumps: list[str], horizon: float, base: dict) -> dict[str, Any]:
    settings = Settings().with_overrides(**overrides)
    out: dict[str, Any] = {}
    for dump in dumps:
        train, evaluation = load(dump, horizon)
        tick = time.perf_counter()
        ranker, report = learn_ranker(train, settings)
        seconds = time.perf_counter() - tick
        scores = evaluation.default if ranker is None else ranker.probability(evaluation.features)
        m = metrics(np.asarray(scores, dtype=np.float64), evaluation)
        m["ratio"] = m["ndcg10"] / base[dump]["ndcg10"] if dump in base else float("nan")
        m["serving"] = report["serving"]
        m["learn_s"] = seconds
        out[dump] = m
    return out


@app.command()
def main(
    dump: Annotated[list[str] | None, typer.Option(help="Dump (repeatable); default all six.")] = None,
    horizon: float = typer.Option(0.2, help="Training sets of this serving-block share (the build's)."),
    only: Annotated[list[str] | None, typer.Option(help="Only variants whose name holds this (repeatable).")] = None,
    save: bool = typer.Option(False, help="Record the table into results.jsonl and RESULTS.md."),
) -> None:
    dumps = dump or ALL_DUMPS
    base = dev_baselines()
    rows = []
    print(f"{'variant':58s} " + " ".join(f"{d[:7]:>13s}" for d in dumps) + "   mean  min  learn_s")
    for name, overrides in VARIANTS.items():
        if only and not any(part in name for part in only):
            continue
        result = run_variant(overrides, dumps, horizon, base)
        ratios = [result[d]["ratio"] for d in dumps]
        cells = " ".join(f"{result[d]['ratio']:5.2f} {result[d]['serving'][:7]:>7s}" for d in dumps)
        learn = sum(result[d]["learn_s"] for d in dumps)
        print(f"{name:58s} {cells} {np.mean(ratios):6.3f} {min(ratios):5.2f} {learn:6.1f}", flush=True)
        row: dict[str, Any] = {"variant": name, "mean ratio": round(float(np.mean(ratios)), 3)}
        row["min ratio"] = round(float(min(ratios)), 3)
        for d in dumps:
            r = result[d]
            row[d] = f"{r['ndcg10']:.3f} ({r['ratio']:.2f}x, P@1 {r['p1']:.2f}, MRR {r['mrr']:.2f}; {r['serving']})"
        row["learning s (all dumps)"] = round(learn, 1)
        rows.append(row)
    if base:
        figures = [f"{d} nDCG {b['ndcg10']:.3f} P@1 {b['p1']:.3f} MRR {b['mrr']:.3f}" for d, b in base.items()]
        print("best baseline (dev): " + ", ".join(figures))
    if save:
        record(
            "expert_dev_learn",
            sizes={"dumps": ",".join(dumps), "horizon": horizon},
            timings={},
            quality={r["variant"]: {"mean_ratio": r["mean ratio"], "min_ratio": r["min ratio"]} for r in rows},
            tables={"Dev split: the ranker each variant's build serves (nDCG@10, ratio to the best baseline)": rows},
            notes=(
                "Development split only (history to the 50% question, questions between 50% and 70%). Each "
                "variant runs the build's learn_ranker on the history's own past questions; the ranker it chooses "
                "on its held-out latest questions scores the dev questions. Best baseline: latest expert_finding "
                "--split dev run."
            ),
        )


if __name__ == "__main__":
    app()
