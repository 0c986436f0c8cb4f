"""How the build's ranker choice does on the development windows, variant by variant: learner,
bounded training rows, feature groups, and which rankers the build may serve (no test question).

    nice -n 5 python -m benchmarks.expert_dev_learn --window 0.3-0.5 --window 0.4-0.6 --window 0.5-0.7 \
        [--table core|all] [--dump beer ...] [--save]

Reads the development sets saved by expert_dev.py per window ``H-U`` (history up to the H
question; its own past questions as of serving blocks, exactly what an index build trains on;
the questions between the H and U cutoffs as of the snapshot, U <= 0.7: never a test
question) and runs the build's own ``learn_ranker`` under each variant of the settings: the
ranker it chooses on its held-out latest questions scores the window's questions. The
baselines are issue #12's two, scored by expert_dev.py on each window's own evaluation set
(same questions, candidates and metric code); the best of them per (dump, window) and
metric is the reference. Per variant: the mean nDCG@10 ratio over every (dump, window), its
minimum, the mean of each window, and in how many (dump, window) P@1 and MRR are
significantly worse than the best baseline's (paired bootstrap, 95%).

One window of 30-190 questions per dump proved too noisy to choose among ~40 variants (the
first defaults, chosen on 0.5-0.7 alone, lost on the test split), so the defaults are chosen by
the mean over the windows. ``--window 0.5-0.7 --table all --recorded-baselines`` reproduces the
earlier single-window table (baselines: the latest ``expert_finding --split dev`` run).
"""

from __future__ import annotations

import json
import pickle
import time
from typing import Annotated, Any

import numpy as np
import typer

from benchmarks.expert_dev import (
    ALL_DUMPS,
    DumpsOption,
    HorizonOption,
    WindowsOption,
    parse_window,
    sets_path,
    window_name,
)
from benchmarks.lib.expert_prior import with_prior
from benchmarks.lib.results import RESULTS_JSONL, record
from benchmarks.lib.stats import paired_difference
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


def load_saved(dump: str, share: float, until: float, horizon: float) -> dict:
    """A window's sets as expert_dev.py saved them (the default formula of SAVED_PRIOR)."""
    with sets_path(dump, share, until).open("rb") as handle:
        sets = pickle.load(handle)
    return {"train": sets["blocked"][horizon], "evaluation": sets["evaluation"], "baselines": sets.get("baselines")}


def load(dump: str, share: float, until: float, horizon: float) -> dict:
    """A window's sets with the default formula of today's settings (the prior re-made from the
    saved columns: benchmarks/lib/expert_prior.py), so the "defaults" rows follow settings.py."""
    sets = load_saved(dump, share, until, horizon)
    today = Settings()
    return sets | {key: with_prior(sets[key], today) for key in ("train", "evaluation")}


def recorded_baselines() -> dict[str, dict[str, float]]:
    """Per dump, the best baseline's nDCG@10, MRR and P@1 on the 0.5-0.7 questions (latest dev run)."""
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


def per_question(scores: np.ndarray, evaluation: TrainingSet) -> dict[str, np.ndarray]:
    """(n_questions,) nDCG@10, P@1 and MRR of the accepted answerer (NaN where none) of a scoring."""
    lab, grp = evaluation.labels, evaluation.group
    mrr, p1 = [], []
    for g in range(evaluation.n_questions):
        rows = np.flatnonzero(grp == g)
        order = rows[np.argsort(-scores[rows], kind="stable")]
        p1.append(float(lab[order[0]] > 0))
        accepted = np.flatnonzero(lab[order] == 2)
        mrr.append(1.0 / (int(accepted[0]) + 1) if len(accepted) else np.nan)
    return {"ndcg10": ndcg_at(scores, lab, grp), "p1": np.array(p1), "mrr": np.array(mrr)}


def metrics(scores: np.ndarray, evaluation: TrainingSet) -> dict[str, float]:
    return {k: float(np.nanmean(v)) for k, v in per_question(scores, evaluation).items()}


def best_baselines(loaded: dict) -> dict[str, tuple[str, np.ndarray]]:
    """Per metric, the better of the two baselines on this window (its name, its per-question values)."""
    values = {
        name: per_question(np.asarray(scores, dtype=np.float64), loaded["evaluation"])
        for name, scores in loaded["baselines"].items()
    }
    out = {}
    for metric in ("ndcg10", "p1", "mrr"):
        name = max(values, key=lambda n: np.nanmean(values[n][metric]))
        out[metric] = (name, values[name][metric])
    return out


def run_cell(overrides: dict[str, Any], loaded: dict, base: dict, recorded: dict | None) -> dict[str, Any]:
    """One variant on one (dump, window): the build's choice, its figures against the best baseline."""
    settings = Settings().with_overrides(**overrides)
    train, evaluation = loaded["train"], loaded["evaluation"]
    tick = time.perf_counter()
    ranker, report = learn_ranker(train, settings)
    seconds = time.perf_counter() - tick
    scores = evaluation.default if ranker is None else ranker.probability(evaluation.features)
    values = per_question(np.asarray(scores, dtype=np.float64), evaluation)
    m: dict[str, Any] = {k: float(np.nanmean(v)) for k, v in values.items()}
    if recorded is not None:
        m["ratio"] = m["ndcg10"] / recorded["ndcg10"]
        m["p1_worse"] = m["mrr_worse"] = False  # the recorded run keeps no per-question values
    else:
        m["ratio"] = m["ndcg10"] / float(np.mean(base["ndcg10"][1]))
        for metric in ("p1", "mrr"):
            _, _, high = paired_difference(values[metric], base[metric][1])
            m[f"{metric}_worse"] = high < 0
    m["serving"] = report["serving"]
    m["learn_s"] = seconds
    return m


#: The learned-first choice the first defaults had (chosen on the 0.5-0.7 window alone).
PREVIOUS = {"learned_choices": ("learned", "default formula", "recent activity"), "learned_switch_z": 2.0}
CORE: dict[str, dict[str, Any]] = {
    "defaults": {},
    "as before: default|learned z=0, all rows, all groups, min 60": {
        "learned_negatives": 0,
        "learned_dropped_groups": (),
        "learned_choices": ("default formula", "learned"),
        "learned_switch_z": 0.0,
        "learned_min_questions": 60,
    },
    "previous defaults: learned|default|recent, z=2": PREVIOUS,
    "learned|default, z=2 (previous without recent activity)": PREVIOUS
    | {"learned_choices": ("learned", "default formula")},
    "default|learned, z=2": {"learned_choices": ("default formula", "learned"), "learned_switch_z": 2.0},
    "default|learned|recent, z=2": {
        "learned_choices": ("default formula", "learned", "recent activity"),
        "learned_switch_z": 2.0,
    },
    "default|learned, z=1": {"learned_choices": ("default formula", "learned"), "learned_switch_z": 1.0},
    "default|learned, z=0": {"learned_choices": ("default formula", "learned"), "learned_switch_z": 0.0},
    "serve the default formula only": {"learned_choices": ("default formula",)},
    "serve recent activity only": {"learned_choices": ("recent activity",)},
    "serve learned only (defaults' learner)": {"learned_choices": ("learned",)},
}
for _c in (0.003, 0.03):
    CORE[f"previous defaults C={_c}"] = PREVIOUS | {"learned_regularisation": _c}
for _negatives in (20, 0):
    CORE[f"previous defaults negatives={_negatives or 'all'}"] = PREVIOUS | {"learned_negatives": _negatives}
for _c in (0.003, 0.01, 0.03):
    CORE[f"learned only C={_c}"] = {"learned_choices": ("learned",), "learned_regularisation": _c}
for _negatives in (20, 0):
    CORE[f"learned only negatives={_negatives or 'all'}"] = {
        "learned_choices": ("learned",),
        "learned_negatives": _negatives,
    }
CORE["learned only, all feature groups"] = {"learned_choices": ("learned",), "learned_dropped_groups": ()}
CORE["as before, min 50"] = CORE["as before: default|learned z=0, all rows, all groups, min 60"] | {
    "learned_min_questions": 50
}
TABLES = {"core": CORE, "all": VARIANTS}


@app.command()
def main(
    dump: DumpsOption = None,
    window: WindowsOption = None,
    horizon: HorizonOption = 0.2,
    table: str = typer.Option("core", help="core (the defaults and their neighbours) or all (every variant)."),
    only: Annotated[list[str] | None, typer.Option(help="Only variants whose name holds this (repeatable).")] = None,
    recorded_baselines_: bool = typer.Option(
        False,
        "--recorded-baselines",
        help="0.5-0.7 only: baselines of the latest expert_finding --split dev run (the earlier protocol).",
    ),
    save: bool = typer.Option(False, help="Record the table into results.jsonl and RESULTS.md."),
) -> None:
    started = time.perf_counter()
    dumps = dump or ALL_DUMPS
    windows = [parse_window(w) for w in window] if window else [(0.5, 0.7)]
    if table not in TABLES:
        raise typer.BadParameter(f"--table {table!r}: expected one of {sorted(TABLES)}")
    recorded = recorded_baselines() if recorded_baselines_ else None
    if recorded is not None and windows != [(0.5, 0.7)]:
        raise typer.BadParameter("--recorded-baselines holds the 0.5-0.7 window's baselines only")
    cells = [(d, w) for w in windows for d in dumps]
    loaded = {(d, w): load(d, *w, horizon) for d, w in cells}
    base = {}
    for key, sets in loaded.items():
        if recorded is None and sets["baselines"] is None:
            raise SystemExit(f"{key[0]} {window_name(*key[1])}: no baselines saved; run expert_dev --baselines-only")
        base[key] = best_baselines(sets) if recorded is None else None
    names = [window_name(*w) for w in windows]
    print(
        f"{'variant':62s} {'mean':>6s} {'geo':>6s} {'min':>5s} "
        + " ".join(f"{n:>8s}" for n in names)
        + "  P@1- MRR-  vs 1st  learn_s"
    )
    rows, results = [], {}
    first: np.ndarray | None = None  # the first variant's ratios: the others are counted against it
    for name, overrides in TABLES[table].items():
        if only and not any(part in name for part in only):
            continue
        result = {
            key: run_cell(overrides, loaded[key], base[key], recorded[key[0]] if recorded else None) for key in cells
        }
        results[name] = result
        ratios = np.array([result[k]["ratio"] for k in cells])
        per_window = {window_name(*w): float(np.mean([result[(d, w)]["ratio"] for d in dumps])) for w in windows}
        p1_worse = sum(result[k]["p1_worse"] for k in cells)
        mrr_worse = sum(result[k]["mrr_worse"] for k in cells)
        learn = sum(result[k]["learn_s"] for k in cells)
        # A few cells with weak baselines give ratios near 4: the geometric mean and the count of
        # cells won and lost against the first variant say whether a lead is more than one cell.
        geo = float(np.exp(np.mean(np.log(ratios))))
        first = ratios if first is None else first
        won, lost = int((ratios > first + 1e-9).sum()), int((ratios < first - 1e-9).sum())
        print(
            f"{name:62s} {ratios.mean():6.3f} {geo:6.3f} {ratios.min():5.2f} "
            + " ".join(f"{v:8.3f}" for v in per_window.values())
            + f"  {p1_worse:4d} {mrr_worse:4d} {won:3d}/{lost:<3d} {learn:7.1f}",
            flush=True,
        )
        row: dict[str, Any] = {"variant": name, "mean ratio": round(float(ratios.mean()), 3)}
        row["geometric mean"] = round(geo, 3)
        row["min ratio"] = round(float(ratios.min()), 3)
        row["cells won/lost vs first"] = f"{won}/{lost}"
        row |= {f"mean {n}": round(v, 3) for n, v in per_window.items()}
        row["P@1 sig. worse"] = f"{p1_worse}/{len(cells)}"
        row["MRR sig. worse"] = f"{mrr_worse}/{len(cells)}"
        for d in dumps:
            row[d] = " ".join(f"{result[(d, w)]['ratio']:.2f}{_served(result[(d, w)]['serving'])}" for w in windows)
        row["learning s"] = round(learn, 1)
        rows.append(row)
    wins = window_ranks(rows, names)
    for line in wins:
        print(line)
    baseline_rows = [
        {
            "dump": d,
            "window": window_name(*w),
            "questions": loaded[(d, w)]["evaluation"].n_questions,
            "training questions": loaded[(d, w)]["train"].n_questions,
            **(
                {f"best {LABELS[m]}": f"{np.nanmean(v):.3f} ({n})" for m, (n, v) in base[(d, w)].items()}
                if base[(d, w)]
                else {f"best {LABELS[m]}": recorded[d][m] for m in ("ndcg10", "p1", "mrr")}
            ),
        }
        for d, w in cells
    ]
    total_s = time.perf_counter() - started
    print(f"total {total_s:.0f} s")
    if save:
        record(
            "expert_dev_learn" if recorded is not None or windows == [(0.5, 0.7)] else "expert_dev_windows",
            sizes={"dumps": ",".join(dumps), "windows": ",".join(names), "horizon": horizon, "table": table},
            timings={"total_s": round(total_s, 1)},
            quality={r["variant"]: {"mean_ratio": r["mean ratio"], "min_ratio": r["min ratio"]} for r in rows},
            tables={
                "Development windows: the ranker each variant's build serves, nDCG@10 ratio to the best baseline "
                "(per dump: one ratio per window, the served ranker's initial: L learned, D default formula, "
                "R recent activity)": rows,
                "Rank of each variant's mean ratio in each window (1 = best)": _rank_rows(rows, names),
                "Each window's questions and best baselines": baseline_rows,
            },
            notes=NOTES,
        )


def _served(serving: str) -> str:
    return {"learned": "L", "default formula": "D", "recent activity": "R"}.get(serving, "?")


def _rank_rows(rows: list[dict], names: list[str]) -> list[dict]:
    out = []
    for row in rows:
        ranks = {}
        for n in names:
            values = sorted((r[f"mean {n}"] for r in rows), reverse=True)
            ranks[n] = values.index(row[f"mean {n}"]) + 1
        out.append({"variant": row["variant"], "mean ratio": row["mean ratio"], **ranks})
    return out


def window_ranks(rows: list[dict], names: list[str]) -> list[str]:
    """How robust the pick is: the rank of each variant's mean in every window."""
    lines = ["rank per window (1 = best): " + ", ".join(names)]
    for r in sorted(_rank_rows(rows, names), key=lambda r: -r["mean ratio"]):
        lines.append(f"  {r['variant']:62s} {r['mean ratio']:6.3f}  " + " ".join(f"{r[n]:3d}" for n in names))
    return lines


LABELS = {"ndcg10": "nDCG@10", "p1": "P@1", "mrr": "MRR"}
NOTES = (
    "Development windows only, all inside the 70% history (window H-U: history up to the H question, "
    "questions between the H and U cutoffs; never a question after the 70% cutoff). Each variant runs the "
    "build's learn_ranker on the history's own past questions (features as of serving blocks of 0.2); the "
    "ranker it chooses on its held-out latest questions scores the window's questions. Baselines: issue #12's "
    "two, scored by expert_dev.py on each window's own evaluation set (same candidates and metric code); best "
    "of the two per (dump, window) and metric. P@1 / MRR significantly worse: paired bootstrap 95% interval "
    "of the difference to the best baseline entirely below 0. Defaults are chosen by the mean ratio over "
    "every (dump, window), with its geometric mean, minimum and per-window ranks to say whether a lead is "
    "more than noise; never on the test split. Chosen here (5 windows, six dumps): learned_choices = "
    "(default formula, learned) with learned_switch_z = 2: the build keeps the default formula unless its "
    "learner beats it by 2 standard errors on the held-out slice. It ties the best mean (1.393, as does always "
    "serving the learner with every feature group), has the best geometric mean (1.281) and the best minimum "
    "of any variant that learns (0.80), and is first or second in 4 of 5 windows (z = 1 edges it in the two "
    "windows from 0.3); the previous learned-first defaults (1.372) ranked first only in 0.5-0.7, the window "
    "they had been chosen on, and 12th to 16th in the others. Differences among the top variants (about 0.05) rest "
    "mostly on a few cells (beer 0.4-0.6, ratio ~4, weak baselines): no variant wins clearly. Those figures are "
    "with the prior of the time (prior_weight 0.5); the sets' default formula is now re-made with today's prior "
    "(benchmarks/lib/expert_prior.py), and with prior_weight 0.75 (chosen by expert_dev_prior.py) the same "
    "choice still ties the best mean (1.405, geometric mean 1.297, min 0.81): every variant that learns is below."
)


if __name__ == "__main__":
    app()
