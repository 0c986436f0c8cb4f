"""The default formula's activity prior on the development windows: answers clock, share clock,
their blends (issue #12; no test question).

    nice -n 19 python -m benchmarks.expert_dev_prior --window 0.3-0.5 --window 0.4-0.6 --window 0.5-0.7 \
        --window 0.3-0.6 --window 0.4-0.7 [--screen-top 8] [--save]

Reads the development sets saved by expert_dev.py (as expert_dev_learn.py does). The prior is
query-independent and the default score is ``match * prior``, so a prior variant is scored
without re-running retrieval (benchmarks/lib/expert_prior.py): each saved row's match is its
default score over its saved prior, its answers-clock activity is the saved prior inverted (the
sets were saved with SAVED_PRIOR there; other sets are refused), its share-clock activity is the
saved ``clock activity <h>`` column (h = 0.005, 0.02, 0.1), and ``ranking.prior.activity_prior``
(the code a build serves) makes the variant's prior. The rows' default score and its
``log default score`` / ``log prior`` columns are replaced in the training and evaluation sets
alike, so the build's own ``learn_ranker`` (hard negatives, the default-vs-learned choice) sees
the variant as a build with those settings would. ``--verify`` checks that on some cells against
the same evaluation set computed afresh by the build's code (same rows; scores within 1e-7).

Two stages. The screen scores the default formula alone for a grid of (answers weight, share
weight, share half-life, share saturation) and reference fusions that cannot be served as an
absolute score (reciprocal-rank fusion with the clock-activity ranking); the table runs the build's
choice (learner included) for the named variants and the screen's best by the rule of the issue:
mean ratio over the (dump, window) cells, and the minimum and the cells below 1.0, not the mean alone.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import typer

from benchmarks.expert_dev import ALL_DUMPS, DumpsOption, HorizonOption, WindowsOption, parse_window, window_name
from benchmarks.expert_dev_learn import _served, best_baselines, load_saved, per_question, run_cell
from benchmarks.lib.expert_prior import SAVED_PRIOR, decompose, prior_values, with_prior
from benchmarks.lib.results import record
from copmatch import Settings
from copmatch.ranking.features import CLOCK_HALF_LIVES
from copmatch.ranking.prior import saturating

app = typer.Typer(add_completion=False)


def prior_settings(answers: float, share: float, half_life: float = 0.02, saturation: float = 10.0) -> dict:
    return {
        "prior_weight": answers,
        "prior_share_weight": share,
        "prior_share_half_life": half_life,
        "prior_share_saturation": saturation,
    }


#: Named variants of the table (settings overrides, explicit so the table does not move with
#: settings.py); the first is the prior the sets were saved with, the reference of every won/lost.
NAMED: dict[str, dict[str, Any]] = {
    "the saved sets' prior: answers clock 0.75": prior_settings(0.75, 0.0),
    "before: answers clock 0.5": prior_settings(0.5, 0.0),
    "today's settings.py defaults": {},
    "share clock replaces answers clock (share 0.5, h 0.02, k 10)": prior_settings(0.0, 0.5),
    "share clock only, strong (share 1.0, h 0.02, k 3)": prior_settings(0.0, 1.0, 0.02, 3.0),
    "geometric blend: answers 0.25 x share 0.25 (h 0.02, k 10)": prior_settings(0.25, 0.25),
    "product: answers 0.5 x share 0.5 (h 0.02, k 10)": prior_settings(0.5, 0.5),
    "product: answers 0.5 x share 1.0 (h 0.02, k 3), best minimum": prior_settings(0.5, 1.0, 0.02, 3.0),
    "answers clock 1.0": prior_settings(1.0, 0.0),
    "answers 1.0 x share 0.25 (h 0.1, k 10)": prior_settings(1.0, 0.25, 0.1, 10.0),
    "answers 1.5 x share 0.25 (h 0.1, k 10)": prior_settings(1.5, 0.25, 0.1, 10.0),
    "answers 0.75 x share 0.5 (h 0.02, k 10)": prior_settings(0.75, 0.5, 0.02, 10.0),
    "answers 0.75 x share 0.5 (h 0.02, k 30)": prior_settings(0.75, 0.5, 0.02, 30.0),
    "answers 0.75 x share 1 (h 0.02, k 3)": prior_settings(0.75, 1.0, 0.02, 3.0),
}
GRID = [
    (answers, share, h, k)
    for answers in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
    for share in (0.0, 0.25, 0.5, 1.0, 1.5)
    for h in CLOCK_HALF_LIVES
    for k in (3.0, 10.0, 30.0)
    if share > 0 or (h, k) == (0.02, 10.0)
]


def offline_forms() -> dict[str, Any]:
    """Other blends of the two clocks, scored in the screen only (not settings: none beat the product):
    an arithmetic mean of the two saturations, and one saturation of the summed activities."""
    forms: dict[str, Any] = {}
    for h in ("0.02", "0.1"):
        for beta in (0.25, 0.5):
            for w in (1.0, 2.0):
                forms[f"offline: ((1-{beta}) sat(answers) + {beta} sat(share h {h}, k 3)) ** {w}"] = (
                    lambda p, h=h, beta=beta, w=w: (
                        (
                            (1 - beta) * saturating(p["answers"], 1.0, 10.0)
                            + beta * saturating(p[f"share {h}"], 1.0, 3.0)
                        )
                        ** w
                    )
                )
        for lam in (1.0, 3.0):
            for w in (1.0, 2.0):
                forms[f"offline: sat(answers + {lam:g} x share h {h}) ** {w}"] = lambda p, h=h, lam=lam, w=w: (
                    saturating(p["answers"] + lam * p[f"share {h}"], 1.0, 10.0) ** w
                )
    return forms


def grid_name(answers: float, share: float, h: float, k: float) -> str:
    return f"answers {answers:g} x share {share:g} (h {h:g}, k {k:g})"


def rrf(scores_a: np.ndarray, scores_b: np.ndarray, group: np.ndarray, weight_b: float, k: float = 10.0) -> np.ndarray:
    """Reciprocal-rank fusion within each question (reference only: a rank is relative to the query)."""
    out = np.zeros(len(group))
    for scores, weight in ((scores_a, 1.0), (scores_b, weight_b)):
        order = np.lexsort((-scores, group))
        g = group[order]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        rank = np.arange(len(g)) - np.repeat(starts, np.diff(np.r_[starts, len(g)]))
        out[order] += weight / (k + 1.0 + rank)
    return out


def aggregates(ratios: dict, cells: list, dumps: list[str], windows: list) -> dict[str, np.ndarray]:
    """The cells' ratios, and their means and minima per window and means per dump."""
    by_window = [[ratios[(d, w)] for d in dumps] for w in windows]
    return {
        "cells": np.array([ratios[c] for c in cells]),
        "window means": np.array([np.mean(v) for v in by_window]),
        "window minima": np.array([np.min(v) for v in by_window]),
        "dump means": np.array([np.mean([ratios[(d, w)] for w in windows]) for d in dumps]),
    }


#: Columns that say how a variant stands against the acceptance and the reference.
MARGIN_COLUMNS = ("cells won/lost", "windows meeting the acceptance", "worst window margin")
#: Issue #12's acceptance on one split: the mean ratio over the six dumps at least this, no dump below 1.0.
ACCEPTANCE_MEAN = 1.15


def acceptance_margins(window_means: np.ndarray, window_minima: np.ndarray) -> np.ndarray:
    """Per window, how far it is from meeting the acceptance: ``min(mean / 1.15, min / 1.0)``
    (>= 1: met; a window is one split of all six dumps, as the acceptance is stated)."""
    return np.minimum(window_means / ACCEPTANCE_MEAN, window_minima)


def summary(
    name: str, ratios: dict, cells: list, dumps: list[str], windows: list, reference: dict | None = None
) -> dict[str, Any]:
    """A variant's figures over the cells; against ``reference`` (the defaults' ratios) also how many
    cells, window means, window minima and dump means it wins and loses."""
    mine = aggregates(ratios, cells, dumps, windows)
    values = mine["cells"]
    row: dict[str, Any] = {
        "variant": name,
        "mean ratio": round(float(values.mean()), 3),
        "geometric mean": round(float(np.exp(np.mean(np.log(values)))), 3),
        "min ratio": round(float(values.min()), 3),
        "cells below 1.0": int((values < 1.0).sum()),
    }
    names = [window_name(*w) for w in windows]
    row |= {f"mean {n}": round(float(v), 3) for n, v in zip(names, mine["window means"])}
    row["window minima"] = " ".join(f"{v:.2f}" for v in mine["window minima"])
    margins = acceptance_margins(mine["window means"], mine["window minima"])
    row["windows meeting the acceptance"] = int((margins >= 1.0).sum())
    row["worst window margin"] = round(float(margins.min()), 3)
    row |= {f"{d} mean": round(float(v), 3) for d, v in zip(dumps, mine["dump means"])}
    if reference is not None:
        theirs = aggregates(reference, cells, dumps, windows)
        for key in ("cells", "window means", "window minima", "dump means"):
            a, b = mine[key], theirs[key]
            row[f"{key} won/lost"] = f"{int((a > b + 1e-9).sum())}/{int((a < b - 1e-9).sum())}"
    return row


SHORT = {
    "cells won/lost": "cells",
    "window means won/lost": "w.mean",
    "window minima won/lost": "w.min",
    "dump means won/lost": "dumps",
    "P@1 sig. worse": "P@1-",
    "MRR sig. worse": "MRR-",
    "learned served": "L",
    "windows meeting the acceptance": "acc",
    "worst window margin": "margin",
}


def print_rows(rows: list[dict], dumps: list[str], windows: list, extra: tuple[str, ...] = ()) -> None:
    """One line per variant: mean, geometric mean, min, cells below 1.0, window means, window
    minima, dump means, then the ``extra`` columns (won/lost against the reference)."""
    names = [window_name(*w) for w in windows]
    print(
        f"{'variant':72s} {'mean':>6s} {'geo':>6s} {'min':>5s} {'<1':>3s} "
        + " ".join(f"{n:>7s}" for n in names)
        + f" {'window minima':{5 * len(names) - 1}s} "
        + " ".join(f"{d[:7]:>7s}" for d in dumps)
        + "".join(f" {SHORT.get(e, e):>6s}" for e in extra)
    )
    for r in rows:
        print(
            f"{r['variant'][:72]:72s} {r['mean ratio']:6.3f} {r['geometric mean']:6.3f} {r['min ratio']:5.2f} "
            f"{r['cells below 1.0']:3d} "
            + " ".join(f"{r[f'mean {n}']:7.3f}" for n in names)
            + f" {r['window minima']} "
            + " ".join(f"{r[f'{d} mean']:7.3f}" for d in dumps)
            + "".join(f" {str(r[e]):>6s}" for e in extra),
            flush=True,
        )


def verify_against_build(dumps: list[str], windows: list) -> None:
    """The saved evaluation set re-priored here against the same set computed afresh by the build's
    code (ranking/history.py -> member_priors) under a few prior settings: same rows, same scores."""
    from benchmarks.expert_dev import evaluation_sets, open_history
    from copmatch.embedding.encoder import Embedder

    embedder = Embedder()
    checks = [prior_settings(0.75, 0.0), prior_settings(0.5, 1.0, 0.02, 3.0), prior_settings(1.0, 0.25, 0.1, 10.0)]
    for dump in dumps:
        for share, until in windows:
            saved = load_saved(dump, share, until, 0.2)["evaluation"]
            for overrides in checks:
                settings = Settings().with_overrides(**overrides)
                community, later = open_history(dump, embedder, settings, share)
                try:
                    fresh = evaluation_sets(community, dump, later, until, settings)["evaluation"]
                finally:
                    community.close()
                offline = with_prior(saved, settings)
                rows = np.array_equal(fresh.members, offline.members) and np.array_equal(fresh.group, offline.group)
                worst = float(np.max(np.abs(fresh.default / offline.default - 1.0)))
                print(f"{dump} {window_name(share, until)} {overrides}: rows equal {rows}, max rel. diff. {worst:.1e}")
                if not rows or worst > 1e-5:
                    raise SystemExit("the re-made prior differs from the build's")


def robust_key(row: dict) -> tuple:
    """The issue's rule: fewest cells below 1.0, then the best minimum, then the best mean."""
    return (row["cells below 1.0"], -row["min ratio"], -row["mean ratio"])


def acceptance_key(row: dict) -> tuple:
    """The acceptance's own shape: most windows meeting it, then the best worst-window margin."""
    return (-row["windows meeting the acceptance"], -row["worst window margin"], -row["mean ratio"])


@app.command()
def main(
    dump: DumpsOption = None,
    window: WindowsOption = None,
    horizon: HorizonOption = 0.2,
    screen_top: int = typer.Option(8, help="Screen variants (by mean and by the robust rule) carried to the table."),
    save: bool = typer.Option(False, help="Record the tables into results.jsonl and RESULTS.md."),
    verify: bool = typer.Option(
        False, help="Only check the re-made prior against a fresh evaluation set a build's code computes."
    ),
) -> None:
    started = time.perf_counter()
    if verify:
        verify_against_build(dump or ["coffee"], [parse_window(w) for w in window] if window else [(0.5, 0.7)])
        return
    dumps = dump or ALL_DUMPS
    windows = [parse_window(w) for w in window] if window else [(0.5, 0.7)]
    cells = [(d, w) for w in windows for d in dumps]
    loaded = {c: load_saved(c[0], *c[1], horizon) for c in cells}
    base = {c: best_baselines(loaded[c]) for c in cells}
    parts = {c: {k: decompose(loaded[c][k]) for k in ("train", "evaluation")} for c in cells}

    def default_ratio(cell, scores: np.ndarray) -> float:
        ndcg = per_question(scores, loaded[cell]["evaluation"])["ndcg10"]
        return float(ndcg.mean() / np.mean(base[cell]["ndcg10"][1]))

    def prior_ratios(prior_of) -> dict:
        """Each cell's ratio with the default formula's prior replaced by ``prior_of(parts)``."""
        return {c: default_ratio(c, parts[c]["evaluation"]["match"] * prior_of(parts[c]["evaluation"])) for c in cells}

    # Stage 1: the default formula alone over the grid, other blends and the reference rank fusions.
    reference = prior_ratios(lambda p: prior_values(p, SAVED_PRIOR))
    screen: list[dict] = []
    grid_settings: dict[str, dict] = {}
    for answers, share, h, k in GRID:
        name = grid_name(answers, share, h, k)
        grid_settings[name] = prior_settings(answers, share, h, k)
        settings = Settings().with_overrides(**grid_settings[name])
        ratios = prior_ratios(lambda p, settings=settings: prior_values(p, settings))
        screen.append(summary(name, ratios, cells, dumps, windows, reference))
    for name, form in offline_forms().items():
        screen.append(summary(name, prior_ratios(form), cells, dumps, windows, reference))
    for weight in (0.5, 1.0, 2.0):
        ratios = {}
        for c in cells:
            evaluation = loaded[c]["evaluation"]
            clock = parts[c]["evaluation"]["share 0.02"]
            ratios[c] = default_ratio(c, rrf(evaluation.default, clock, evaluation.group, weight))
        name = f"reference, not servable: RRF default + {weight:g} x clock rank"
        screen.append(summary(name, ratios, cells, dumps, windows, reference))
    screen.sort(key=lambda r: -r["geometric mean"])
    compare = (
        "cells won/lost",
        "window means won/lost",
        "window minima won/lost",
        "dump means won/lost",
        "windows meeting the acceptance",
        "worst window margin",
    )
    print("Screen: the default formula alone (no learner), nDCG@10 ratio to the best baseline, by geometric mean")
    print_rows(screen, dumps, windows, compare)
    print(f"screen {time.perf_counter() - started:.0f} s", flush=True)

    # Stage 2: the build's choice (learner included) for the named variants and the screen's best
    # (by geometric mean, and by the robust rule: fewest cells below 1.0, best minimum, best mean).
    servable = [r for r in screen if r["variant"] in grid_settings]
    picks = [r["variant"] for r in servable[:screen_top]]
    picks += [r["variant"] for r in sorted(servable, key=robust_key)[:screen_top]]
    picks += [r["variant"] for r in sorted(servable, key=acceptance_key)[:screen_top]]
    variants = dict(NAMED)
    for name in picks:
        variants.setdefault(name, grid_settings[name])
    table: list[dict] = []
    first: dict | None = None
    for name, overrides in variants.items():
        settings = Settings().with_overrides(**overrides)
        ratios, result = {}, {}
        for c in cells:
            cell_sets = {key: with_prior(loaded[c][key], settings, parts[c][key]) for key in ("train", "evaluation")}
            result[c] = run_cell(overrides, cell_sets, base[c], None)
            ratios[c] = result[c]["ratio"]
        first = ratios if first is None else first
        row = summary(name, ratios, cells, dumps, windows, first)
        row["P@1 sig. worse"] = sum(result[c]["p1_worse"] for c in cells)
        row["MRR sig. worse"] = sum(result[c]["mrr_worse"] for c in cells)
        row["learned served"] = sum(result[c]["serving"] == "learned" for c in cells)
        row["settings"] = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "(defaults)"
        for d in dumps:
            row[d] = " ".join(f"{result[(d, w)]['ratio']:.2f}{_served(result[(d, w)]['serving'])}" for w in windows)
        table.append(row)
    print("\nThe build's choice (default formula unless the learner beats it by learned_switch_z), vs the first row")
    print_rows(table, dumps, windows, (*compare, "P@1 sig. worse", "MRR sig. worse", "learned served"))
    print("per cell (dump: one ratio per window, served D default / L learned):")
    for r in table:
        print(f"  {r['variant']}: " + " | ".join(f"{d} {r[d]}" for d in dumps))
    # Stage 3: could a build choose its prior itself, on its own held-out latest questions?
    selection = per_community_selection(loaded, base, cells, dumps, windows)
    print("\nA build choosing its prior on its held-out latest questions, vs the defaults")
    print_rows(selection, dumps, windows, MARGIN_COLUMNS)
    total_s = time.perf_counter() - started
    print(f"total {total_s:.0f} s")
    if save:
        record(
            "expert_dev_prior",
            sizes={"dumps": ",".join(dumps), "windows": ",".join(window_name(*w) for w in windows), "horizon": horizon},
            timings={"total_s": round(total_s, 1)},
            quality={r["variant"]: {"mean_ratio": r["mean ratio"], "min_ratio": r["min ratio"]} for r in table},
            tables={
                TABLE_TITLE: table,
                "Screen: the default formula alone, every grid variant, other blends and reference rank fusions, "
                "won/lost against today's defaults": screen,
                SELECTION_TITLE: selection,
            },
            notes=NOTES,
        )


#: Prior families a build could choose among on its held-out slice (the defaults are in each).
SELECTABLE: dict[str, list[dict[str, Any]]] = {
    "share weight 0 / 0.5 / 1 / 2": [prior_settings(0.75, w, 0.02, 30.0) for w in (0.0, 0.5, 1.0, 2.0)],
    "share half-life 0.005 / 0.02 / 0.1": [prior_settings(0.75, 0.5, h, 30.0) for h in (0.005, 0.02, 0.1)],
    "share weight x half-life (12)": [
        prior_settings(0.75, w, h, 30.0) for w in (0.0, 0.5, 1.0, 2.0) for h in (0.005, 0.02, 0.1)
    ],
    "answers weight 0 / 0.75 / 1.5 / 3": [prior_settings(a, 0.5, 0.02, 30.0) for a in (0.0, 0.75, 1.5, 3.0)],
}


def per_community_selection(loaded: dict, base: dict, cells: list, dumps: list[str], windows: list) -> list[dict]:
    """Each cell's build picks, among a family of priors, the one whose held-out nDCG@10 gain over
    the defaults (on the latest learned_validation_share of its training questions, as learn_ranker
    holds them out) exceeds z standard errors most; the window's questions then score the pick."""
    settings = Settings()

    def ndcg(rows, parts, overrides) -> np.ndarray:
        scores = parts["match"] * prior_values(parts, settings.with_overrides(**overrides))
        return per_question(scores, rows)["ndcg10"]

    held: dict = {}
    for c in cells:
        train = loaded[c]["train"]
        n = train.n_questions
        rows = train.subset(np.arange(n - max(int(round(settings.learned_validation_share * n)), 1), n))
        parts = decompose(rows)
        held[c] = (rows, parts, decompose(loaded[c]["evaluation"]), ndcg(rows, parts, {}))

    def ratio(c, overrides) -> float:
        evaluation = loaded[c]["evaluation"]
        return float(ndcg(evaluation, held[c][2], overrides).mean() / np.mean(base[c]["ndcg10"][1]))

    reference = {c: ratio(c, {}) for c in cells}
    out = [summary("defaults (no choice)", reference, cells, dumps, windows, reference)]
    for family, variants in SELECTABLE.items():
        for z in (0.0, 1.0, 2.0):
            ratios = {}
            for c in cells:
                rows, parts, _, first = held[c]
                pick, best = {}, 0.0
                for overrides in variants:
                    diff = ndcg(rows, parts, overrides) - first
                    gain = diff.mean() - z * diff.std(ddof=1) / np.sqrt(len(diff))
                    if gain > best + 1e-12:
                        pick, best = overrides, gain
                ratios[c] = ratio(c, pick)
            out.append(summary(f"chosen per build: {family}, z = {z:g}", ratios, cells, dumps, windows, reference))
    return out


SELECTION_TITLE = (
    "A build choosing its prior itself on its held-out latest training questions (the defaults unless a "
    "variant gains more than z standard errors there), scored on the window's questions"
)
TABLE_TITLE = (
    "The build's choice per prior variant: nDCG@10 ratio to the best baseline over the (dump, window) cells, "
    "won/lost against the first row (per dump: one ratio per window, the served ranker's initial)"
)
NOTES = (
    "Development windows only (all inside the 70% history). The default formula's prior is recomputed from "
    "the saved rows (match = default / prior; answers-clock activity = the saved prior inverted; share-clock "
    "activity = the saved clock-activity columns) with ranking.prior.activity_prior, the served code; the "
    "build's learn_ranker then runs on the re-priored training set. Ratio: nDCG@10 of what the build serves "
    "over the best of issue #12's two baselines on the same questions. The sets were saved with the answers "
    "clock alone at exponent 0.75 (the previous choice, made by the mean ratio over the 30 cells: 1.405). "
    "Chosen now by the acceptance's own shape instead of the mean: a window is one split of all six dumps, "
    "and the acceptance asks a mean ratio >= 1.15 and no dump below 1.0, so each variant is scored by its "
    "worst window's min(mean / 1.15, min) ('worst window margin'; every variant meets it in 2 of the 5 "
    "windows, none in more). Chosen: answers clock 0.75 x share clock 0.5 (h 0.02, k 30): worst-window "
    "margin 0.96 against 0.81, minimum 0.96 against 0.81, cells below 1.0 3 against 5, P@1 / MRR "
    "significantly worse 0 / 0 against 1 / 3; the mean falls from 1.405 to 1.322 (beer's weak-baseline "
    "cells 3.9 -> 3.3) and it loses 19 of 30 cells, most by little. Its neighbours (share 0.5-1, k 3-30, "
    "answers 0.5-1) score 0.94-0.96: a plateau, not a spike. Every history here has 82-776 dated answers, "
    "above prior_share_min_answers (50), so the factor counts fully in every cell; below it (the tiny test "
    "corpus: 7 answers) the exponent shrinks in proportion, since a share of 0.02 is then less than one "
    "answer (without that, the tiny corpus's generalist, who posted the latest answer, came above its "
    "focused expert). Rank fusion (RRF with the clock ranking) is listed for reference only: a rank is "
    "relative to the query, the served score must not be."
)


if __name__ == "__main__":
    app()
