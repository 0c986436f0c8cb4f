"""How far can the ranker go on these data? An ORACLE search of its settings on the test questions.

    nice -n 19 python -m benchmarks.expert_ceiling [--dump beer ...] [--budget 500]

For each dump, the 70% split (expert_finding.py's protocol) and the development splits
(history shares 0.6 and 0.8) are prepared once and retrieved once; the ranker's named
settings are then searched (seeded random search + local refinement) to MAXIMISE nDCG@10 ON
THE TEST QUESTIONS THEMSELVES. That oracle is an upper bound for any default, never a way
to choose one. Beside it: the shipped defaults, settings tuned on the dev splits, a 2-fold
cross-fitted oracle (tuned on half the test questions, scored on the other half), the best
baseline in hindsight and the baseline chosen on the dev splits. Candidate new signals
(expert_signals.py) are tried in the oracle first, then with weights chosen on the dev splits.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import typer

from benchmarks.expert_finding import baseline_rankings, retrieve_all, variant_rankings
from benchmarks.lib.expert_baselines import Baselines
from benchmarks.lib.expert_ceiling_report import (
    ceiling_rows,
    oracle_settings_rows,
    ratio_rows,
    signal_rows,
    tuning_rows,
)
from benchmarks.lib.expert_metrics import per_question
from benchmarks.lib.expert_search import SplitScorer, Trial, search
from benchmarks.lib.expert_setup import answer_bodies, prepare, rank_ids
from benchmarks.lib.expert_signals import History, history, signals, tune_half_life
from benchmarks.lib.results import HERE, SHARED_DUMPS, record
from copmatch import Settings
from copmatch.embedding.encoder import Embedder

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "expert_ceiling"
DUMPS = ["beer", "coffee", "history-meta"]
TEST_SHARE, DEV_SHARES = 0.7, (0.6, 0.8)
WEIGHTS = (0.0, 0.03, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


@dataclass
class Split:
    scorer: SplitScorer
    baselines: dict[str, np.ndarray]  # name -> (n_q,) nDCG@10
    signals: dict[str, dict[str, np.ndarray]]  # group -> feature -> (n_q, n_members)
    tuned_half_life: float
    half_life_fit: dict[float, float]
    recency_curve: dict[float, float]  # half-life (d) -> mean nDCG@10 of recent activity on this split


def load_split(dump: str, share: float, embedder: Embedder) -> Split:
    work = WORK / dump
    cache = work / "data" / "cache" / "embeddings.sqlite"
    seed = HERE / ".work" / "expert_finding" / dump / "data" / "cache" / "embeddings.sqlite"
    if not cache.exists() and seed.exists():  # derived data: reuse expert_finding's encodings
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(seed, cache)
    settings = Settings()
    prepared = prepare(SHARED_DUMPS / dump, work, embedder, settings, share, None)
    retrieved = retrieve_all(prepared, settings)
    scorer = SplitScorer(prepared, retrieved)
    # The fast path must rank exactly as find_experts does: check on the defaults.
    slow = per_question(variant_rankings(prepared, retrieved, settings), prepared.truths)["ndcg10"]
    if not np.allclose(scorer.ndcg(scorer.log_scores(settings)), slow):
        raise SystemExit(f"{dump}@{share}: fast nDCG disagrees with per_question on the defaults")
    baselines = {n: per_question(r, prepared.truths)["ndcg10"] for n, r in baseline_rankings(prepared).items()}
    h: History = history(prepared)
    tuned, fit = tune_half_life(h)
    base = Baselines(prepared.searcher, answer_bodies(prepared.community))
    tuned_scores = base.recent_activity(tuned)
    ids = prepared.searcher.corpus.member_ids
    ranked = [rank_ids(tuned_scores, c, ids) for c, _ in retrieved]
    baselines["recent activity (self-tuned half-life)"] = per_question(ranked, prepared.truths)["ndcg10"]
    n_q = scorer.n_questions
    curve = {
        float(hl): float(scorer.ndcg(np.broadcast_to(base.recent_activity(hl), (n_q, len(ids)))).mean())
        for hl in np.geomspace(1.0, 3000.0, 49)
    }
    feats = signals(prepared, h, tuned)
    prepared.community.close()
    print(f"{dump}@{share}: {scorer.n_questions} questions, self-tuned half-life {tuned:g} d", flush=True)
    return Split(scorer, baselines, feats, tuned, fit, curve)


def mean_ndcg(split: Split, logs: np.ndarray, mask: np.ndarray | None = None) -> float:
    values = split.scorer.ndcg(logs)
    return float(values[mask].mean() if mask is not None else values.mean())


def combined(logs: np.ndarray, feats: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    return logs + sum((w * feats[f] for f, w in weights.items() if w), np.zeros_like(logs))


def grid_weights(splits: list[Split], logs: list[np.ndarray], group: str) -> tuple[float, dict[str, float]]:
    """Best weights of one signal group by exhaustive grid, maximising mean nDCG@10 over splits."""
    names = list(splits[0].signals[group])
    grids = np.array(np.meshgrid(*[WEIGHTS] * len(names))).reshape(len(names), -1).T
    best = (-1.0, {})
    for combo in grids:
        weights = dict(zip(names, combo.tolist()))
        value = float(np.mean([mean_ndcg(s, combined(lg, s.signals[group], weights)) for s, lg in zip(splits, logs)]))
        if value > best[0] + 1e-12:
            best = (value, weights)
    return best


def oracle(split: Split, budget: int, seed: int, mask: np.ndarray | None = None) -> list[Trial]:
    def objective(settings: Settings) -> float:
        return mean_ndcg(split, split.scorer.log_scores(settings), mask)

    return search(objective, budget * 3 // 5, budget * 2 // 5, seed)


def signals_oracle(split: Split, trials: list[Trial], budget: int, seed: int) -> dict:
    """Each signal group on the defaults and on the 3 best oracle settings (best of the four); then all
    groups together: coordinate ascent over groups from each start, and a settings refinement of the best."""
    starts = [Settings(), *(Settings().with_overrides(**t.overrides) for t in trials[:3])]
    logs = [split.scorer.log_scores(s) for s in starts]
    per_start = [{group: grid_weights([split], [lg], group) for group in split.signals} for lg in logs]
    out: dict = {group: max((p[group] for p in per_start), key=lambda f: f[0]) for group in split.signals}
    feats = {f: m for group in split.signals.values() for f, m in group.items()}
    best = (-1.0, 0, {})
    for i, lg in enumerate(logs):
        # Greedy ascent is path dependent: start from the start's best single group, so it can only gain.
        merged: dict[str, float] = dict(max(per_start[i].values(), key=lambda f: f[0])[1])
        for _ in range(2):
            for members in split.signals.values():
                others = {f: w for f, w in merged.items() if f not in members}
                scored = [(mean_ndcg(split, combined(lg, feats, {**others, **c})), c) for c in _group_grid(members)]
                value, chosen = max(scored, key=lambda vc: vc[0])
                merged = {**others, **chosen}
        if value > best[0]:
            best = (value, i, merged)
    _, i, merged = best
    refined = search(
        lambda s: mean_ndcg(split, combined(split.scorer.log_scores(s), feats, merged)), 0, budget // 2, seed, starts[i]
    )
    start = "defaults" if i == 0 else f"oracle #{i}"
    out["all signals"] = (refined[0].value, {"start": start, **{k: round(v, 3) for k, v in merged.items() if v}})
    return out


def _group_grid(group: dict[str, np.ndarray]) -> list[dict[str, float]]:
    names = list(group)
    grids = np.array(np.meshgrid(*[WEIGHTS] * len(names))).reshape(len(names), -1).T
    return [dict(zip(names, combo.tolist())) for combo in grids]


def cross_fitted(split: Split, budget: int, seed: int) -> float:
    """2-fold: settings tuned on one half of the test questions, scored on the other half."""
    rng = np.random.default_rng(seed)
    fold = rng.permutation(split.scorer.n_questions) % 2 == 0
    values = np.zeros(split.scorer.n_questions)
    for train in (fold, ~fold):
        best = oracle(split, budget, seed, train)[0]
        values[~train] = split.scorer.ndcg(split.scorer.log_scores(Settings().with_overrides(**best.overrides)))[~train]
    return float(values.mean())


def ceiling(test: Split, devs: list[Split], budget: int, seed: int) -> dict:
    """Defaults, oracle, dev-tuned and cross-fitted settings, and the signals oracle, for one dump."""
    tick = time.perf_counter()

    def at(split: Split, overrides: dict) -> float:
        return mean_ndcg(split, split.scorer.log_scores(Settings().with_overrides(**overrides)))

    trials = oracle(test, budget, seed)
    dev_tuned = search(
        lambda s: float(np.mean([mean_ndcg(x, x.scorer.log_scores(s)) for x in devs])),
        budget * 3 // 5,
        budget * 2 // 5,
        seed,
    )[0]
    return {
        "questions": test.scorer.n_questions,
        "defaults": at(test, {}),
        "oracle": trials[0],
        "oracle_values": test.scorer.ndcg(test.scorer.log_scores(Settings().with_overrides(**trials[0].overrides))),
        "oracle_on_dev": [at(x, trials[0].overrides) for x in devs],
        "dev_tuned": dev_tuned,
        "dev_tuned_at_test": at(test, dev_tuned.overrides),
        "cross_fitted": cross_fitted(test, budget // 2, seed),  # per fold
        "signals_oracle": signals_oracle(test, trials, budget, seed),
        "search_s": time.perf_counter() - tick,
    }


@app.command()
def main(
    dump: Annotated[list[str] | None, typer.Option(help="Dump under shared/data/stackexchange (repeatable).")] = None,
    budget: int = typer.Option(500, help="Settings evaluated per oracle search (60% random, 40% local)."),
    seed: int = typer.Option(0, help="Seed of every search."),
) -> None:
    started = time.perf_counter()
    dumps = dump or DUMPS
    embedder = Embedder(batch_size=Settings().encode_batch_size)
    splits = {(d, s): load_split(d, s, embedder) for d in dumps for s in (TEST_SHARE, *DEV_SHARES)}
    results: dict[str, dict] = {}
    for d in dumps:
        results[d] = ceiling(splits[(d, TEST_SHARE)], [splits[(d, s)] for s in DEV_SHARES], budget, seed)
        print(
            f"{d}: defaults {results[d]['defaults']:.3f} oracle {results[d]['oracle'].value:.3f} "
            f"({results[d]['search_s']:.0f} s)",
            flush=True,
        )
    dev_signals = signals_on_dev(splits, dumps)
    ceiling_title = "ORACLE ceiling per dump (nDCG@10 at the 70% split; ORACLE rows are fitted on the test questions)"
    signals_title = "New signals: ORACLE on the test questions, and with weights chosen on dev splits (ranker defaults)"
    tables = {
        ceiling_title: ceiling_rows(results, splits, dumps),
        "Ratios to the best baseline (target: >= 1.1)": ratio_rows(results, splits, dumps),
        "Settings of the oracle (fitted on test: never defaults) and of dev tuning": oracle_settings_rows(results),
        signals_title: signal_rows(results, dev_signals, splits, dumps),
        "Self-tuned half-life (history only: latest 20% of history questions held out)": tuning_rows(splits, dumps),
    }
    total_s = time.perf_counter() - started
    record(
        "expert_ceiling",
        sizes={
            "dumps": ",".join(dumps),
            "budget_per_search": budget,
            "seed": seed,
            "questions": {d: results[d]["questions"] for d in dumps},
        },
        timings={"total_s": total_s, "search_s": {d: results[d]["search_s"] for d in dumps}},
        quality={d: {"defaults": results[d]["defaults"], "oracle": results[d]["oracle"].value} for d in dumps},
        tables=tables,
        notes=NOTES,
    )
    print(f"total {total_s:.0f} s")


def signals_on_dev(splits: dict, dumps: list[str]) -> dict[str, dict]:
    """Per signal group (ranker at defaults): weights chosen on all dev splits (3 dumps x 0.6/0.8),
    as a shipped default would be, and on each dump's own dev splits; both scored at 70%."""
    logs = {key: split.scorer.log_scores(Settings()) for key, split in splits.items()}
    dev_keys = [(d, s) for d in dumps for s in DEV_SHARES]
    base = float(np.mean([mean_ndcg(splits[k], logs[k]) for k in dev_keys]))

    def at_test(d: str, group: str, weights: dict) -> float:
        t = _renamed(splits[(d, TEST_SHARE)], group)
        return mean_ndcg(t, combined(logs[(d, TEST_SHARE)], t.signals[group], weights))

    def choose(group: str, keys: list) -> tuple[float, dict[str, float]]:
        return grid_weights([_renamed(splits[k], group) for k in keys], [logs[k] for k in keys], group)

    out = {}
    for group in _groups(splits[dev_keys[0]]):
        value, weights = choose(group, dev_keys)
        own = {}
        for d in dumps:
            _, own_weights = choose(group, [(d, s) for s in DEV_SHARES])
            own[d] = (own_weights, at_test(d, group, own_weights))
        out[group] = {
            "weights": weights,
            "dev_change": value - base,
            "test": {d: at_test(d, group, weights) for d in dumps},
            "own": own,
            # ORACLE weight on top of the shipped ranker: the most the signal alone can add at 70%.
            "test_oracle": {d: choose(group, [(d, TEST_SHARE)]) for d in dumps},
            "coverage": {d: _coverage(splits[(d, TEST_SHARE)], group) for d in dumps},
        }
    return out


def _coverage(split: Split, group: str) -> float:
    """Share of test questions where some answerer has a non-zero value of the group's features."""
    feats = _renamed(split, group).signals[group]
    answerer = split.scorer.gains > 0  # (n_q, n_members)
    return max(float(np.any(answerer & (f != 0), axis=1).mean()) for f in feats.values())


def _groups(split: Split) -> list[str]:
    # The self-tuned group's name carries each split's own half-life; they are one signal.
    return [g if not g.startswith("self-tuned") else "self-tuned half-life" for g in split.signals]


def _renamed(split: Split, group: str) -> Split:
    feats = {("self-tuned half-life" if g.startswith("self-tuned") else g): f for g, f in split.signals.items()}
    return Split(split.scorer, split.baselines, {group: feats[group]}, split.tuned_half_life, split.half_life_fit, {})


NOTES = (
    "ORACLE rows are fitted on the test questions themselves (seeded random search + local refinement over "
    "every ranker setting score_members reads): an upper bound on what any default of this ranker could "
    "reach, never a way to choose defaults. The cross-fitted oracle tunes on half of the test questions and "
    "scores the other half. Dev splits are history shares 0.6 and 0.8 of the same dump; note that their test "
    "questions overlap the 70% split's (0.6's test set contains it; 0.8's history contains part of it). "
    "Signals enter as log(score) + w * feature."
)


if __name__ == "__main__":
    app()
