"""Learner choices on the development splits saved by expert_dev.py (no test question involved).

python -m benchmarks.expert_dev_fit [--share 0.5]
"""

from __future__ import annotations

import pickle
from typing import Annotated

import numpy as np
import typer

from benchmarks.expert_dev import ALL_DUMPS, WORK
from copmatch import Settings
from copmatch.ranking.features import FEATURE_GROUPS, FEATURES
from copmatch.ranking.history import TrainingSet, ndcg_at
from copmatch.ranking.learned import fit_trees

app = typer.Typer(add_completion=False)


def load(dump: str, share: float) -> tuple[TrainingSet, TrainingSet, dict]:
    with (WORK / f"{dump}@{share}" / "sets.pkl").open("rb") as handle:
        sets = pickle.load(handle)
    return sets["train"], sets["evaluation"], sets.get("blocked", {})


def mrr(scores: np.ndarray, labels: np.ndarray, group: np.ndarray) -> float:
    out = []
    for g in np.unique(group):
        rows = group == g
        if not (labels[rows] == 2).any():
            continue
        order = np.argsort(-scores[rows], kind="stable")
        rank = int(np.flatnonzero(labels[rows][order] == 2)[0]) + 1
        out.append(1.0 / rank)
    return float(np.mean(out)) if out else float("nan")


def linear_scores(train: TrainingSet, evaluation: TrainingSet, columns: list[int], c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    model.fit(train.features[:, columns], train.labels > 0)
    return model.decision_function(evaluation.features[:, columns])


def tree_scores(train: TrainingSet, evaluation: TrainingSet, settings: Settings, features) -> np.ndarray:
    return fit_trees(train, settings, tuple(features)).raw(evaluation.features.astype(np.float64))


def boosted_from_default(train, evaluation, settings, features, trees=50, leaves=7, lr=0.05, min_leaf=40):
    """Trees fitted as corrections to the default formula (its calibrated log-odds as the initial score)."""
    import lightgbm

    from copmatch.ranking.learned import platt

    columns = [FEATURES.index(f) for f in features]
    a, b = platt(np.log(train.default), train.labels > 0)
    data = lightgbm.Dataset(
        train.features[:, columns], label=(train.labels > 0).astype(float), init_score=a * np.log(train.default) + b
    )
    params = {
        "objective": "binary",
        "learning_rate": lr,
        "num_leaves": leaves,
        "min_data_in_leaf": min_leaf,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "verbose": -1,
        "num_threads": 1,
        "deterministic": True,
        "seed": 0,
    }
    booster = lightgbm.train(params, data, num_boost_round=trees)
    return booster.predict(evaluation.features[:, columns], raw_score=True) + a * np.log(evaluation.default) + b


def lambdarank_scores(train: TrainingSet, evaluation: TrainingSet, settings: Settings, columns) -> np.ndarray:
    import lightgbm

    counts = np.bincount(train.group)
    data = lightgbm.Dataset(train.features[:, columns], label=train.labels, group=counts[counts > 0])
    params = {
        "objective": "lambdarank",
        "learning_rate": settings.learned_learning_rate,
        "num_leaves": settings.learned_leaves,
        "min_data_in_leaf": settings.learned_min_rows_per_leaf,
        "lambdarank_truncation_level": 20,
        "verbose": -1,
        "num_threads": 1,
        "deterministic": True,
        "seed": 0,
    }
    booster = lightgbm.train(params, data, num_boost_round=settings.learned_trees)
    return booster.predict(evaluation.features[:, columns])


@app.command()
def main(
    dump: Annotated[list[str] | None, typer.Option(help="Dump (repeatable); default all six.")] = None,
    share: float = typer.Option(0.5),
    ablate: bool = typer.Option(False, help="Also drop each feature group."),
    quick: bool = typer.Option(False, help="Only the default formula, baselines and blocked variants."),
) -> None:
    settings = Settings()
    systems: dict[str, dict[str, float]] = {}
    dumps = dump or ALL_DUMPS
    for name in dumps:
        train, evaluation, blocked = load(name, share)
        lab, grp = evaluation.labels, evaluation.group
        all_cols = list(range(len(FEATURES)))

        def put(system: str, scores: np.ndarray, name=name, lab=lab, grp=grp) -> None:
            systems.setdefault(system, {})[name] = float(ndcg_at(scores, lab, grp).mean())
            systems.setdefault(system + " MRR", {})[name] = mrr(scores, lab, grp)

        put("default formula", evaluation.default)
        put("recent activity (clock 0.02)", evaluation.features[:, FEATURES.index("clock activity 0.02")])
        put("trees (defaults)", tree_scores(train, evaluation, settings, FEATURES))
        for horizon, block_set in blocked.items():
            put(f"blocks {horizon}: trees (defaults)", tree_scores(block_set, evaluation, settings, FEATURES))
            put(
                f"blocks {horizon}: trees n=100",
                tree_scores(block_set, evaluation, settings.with_overrides(learned_trees=100), FEATURES),
            )
            put(
                f"blocks {horizon}: trees leaves=3",
                tree_scores(block_set, evaluation, settings.with_overrides(learned_leaves=3), FEATURES),
            )
            put(
                f"blocks {horizon}: from default n=50",
                boosted_from_default(block_set, evaluation, settings, FEATURES, 50, 7),
            )
            put(f"blocks {horizon}: logistic C=0.1", linear_scores(block_set, evaluation, all_cols, 0.1))
        if quick:
            continue
        for leaves, trees, lr in ((3, 200, 0.05), (7, 100, 0.05), (15, 200, 0.05), (7, 400, 0.02)):
            variant = settings.with_overrides(learned_leaves=leaves, learned_trees=trees, learned_learning_rate=lr)
            put(f"trees leaves={leaves} n={trees} lr={lr}", tree_scores(train, evaluation, variant, FEATURES))
        for trees, leaves in ((20, 7), (50, 7), (100, 7), (50, 3), (100, 3), (200, 3)):
            put(
                f"from default: n={trees} leaves={leaves}",
                boosted_from_default(train, evaluation, settings, FEATURES, trees, leaves),
            )
        put("lambdarank (defaults)", lambdarank_scores(train, evaluation, settings, all_cols))
        for c in (0.01, 0.1, 1.0):
            put(f"logistic C={c}", linear_scores(train, evaluation, all_cols, c))
        if ablate:
            for group, names in FEATURE_GROUPS.items():
                kept = [f for f in FEATURES if f not in names]
                put(f"trees without {group}", tree_scores(train, evaluation, settings, kept))
        print(f"{name}: train {train.n_questions} q, eval {evaluation.n_questions} q", flush=True)
    base = systems["recent activity (clock 0.02)"]
    print(f"{'system':45s} " + " ".join(f"{d[:8]:>8s}" for d in dumps) + "     mean  ratio-to-recent")
    for system, values in systems.items():
        row = [values[d] for d in dumps]
        ratio = np.mean([values[d] / base[d] for d in dumps]) if not system.endswith("MRR") else float("nan")
        print(f"{system:45s} " + " ".join(f"{v:8.3f}" for v in row) + f" {np.mean(row):8.3f} {ratio:8.3f}")


if __name__ == "__main__":
    app()
