"""The ranker learned from a community's own history, calibrated into a probability that the
member answers the question.

Two learners, chosen by ``Settings.learned_model`` (benchmarks/expert_dev_fit.py compares
them on development splits): an L2-regularised logistic regression over standardised
features (scikit-learn; the default: the steadiest on little data) and boosted trees
(LightGBM). Both are fitted at index build; serving evaluates the saved model with numpy
alone, since importing LightGBM or scikit-learn would add a second to every cold CLI query.
``tests/ranking/test_learned.py`` checks the numpy evaluation against the libraries' own.

The score is absolute: a Platt-calibrated probability fitted on the held-out latest slice
of the community's questions, a fixed increasing function of the trees' raw score, which
depends only on the (absolute) features. So one member's scores compare across queries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from copmatch.errors import IndexMismatchError
from copmatch.ranking.features import FEATURE_GROUPS, FEATURES
from copmatch.ranking.history import NegativeSample, TrainingSet
from copmatch.settings import Settings

MODEL_FORMAT = 1


@dataclass(frozen=True)
class Trees:
    """Boosted trees as flat arrays: node i of tree t splits on ``feature[t, i] <= threshold[t, i]``."""

    feature: np.ndarray  # (n_trees, n_nodes) int: feature column, -1 at a leaf
    threshold: np.ndarray  # (n_trees, n_nodes) float
    left: np.ndarray  # (n_trees, n_nodes) int: child node when the test holds
    right: np.ndarray  # (n_trees, n_nodes) int
    value: np.ndarray  # (n_trees, n_nodes) float: leaf output (0 at inner nodes)
    depth: int

    def raw(self, x: np.ndarray) -> np.ndarray:
        """(n_rows,) sum of every tree's leaf output for each row of ``x`` (n_rows, n_features)."""
        n_rows, n_trees = len(x), len(self.feature)
        if n_trees == 0:
            return np.zeros(n_rows)
        trees = np.arange(n_trees)[None, :]  # (1, n_trees)
        node = np.zeros((n_rows, n_trees), dtype=np.int64)  # current node of each row in each tree
        rows = np.arange(n_rows)[:, None]
        for _ in range(self.depth):
            feature = self.feature[trees, node]  # (n_rows, n_trees)
            inner = feature >= 0
            goes_left = x[rows, np.maximum(feature, 0)] <= self.threshold[trees, node]
            step = np.where(goes_left, self.left[trees, node], self.right[trees, node])
            node = np.where(inner, step, node)
        return self.value[trees, node].sum(axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).tolist() for k in ("feature", "threshold", "left", "right", "value")} | {
            "depth": self.depth
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trees:
        def grid(name: str, dtype: type) -> np.ndarray:
            return np.array(data[name], dtype=dtype).reshape(len(data[name]), -1)

        return cls(
            grid("feature", np.int64),
            grid("threshold", np.float64),
            grid("left", np.int64),
            grid("right", np.int64),
            grid("value", np.float64),
            int(data["depth"]),
        )

    @classmethod
    def from_lightgbm(cls, dump: dict[str, Any], feature_columns: list[int]) -> Trees:
        """Flatten ``Booster.dump_model()``; ``feature_columns`` maps the booster's features to columns."""
        flat = [_flatten(t["tree_structure"], feature_columns) for t in dump["tree_info"]]
        width = max((len(f[0]) for f in flat), default=1)

        def pad(i: int, fill: float) -> np.ndarray:
            return np.array([np.pad(f[i], (0, width - len(f[i])), constant_values=fill) for f in flat])

        depth = max((f[5] for f in flat), default=0)
        if not flat:
            empty = np.zeros((0, 1))
            return cls(empty.astype(np.int64), empty, empty.astype(np.int64), empty.astype(np.int64), empty, 0)
        return cls(
            pad(0, -1).astype(np.int64),
            pad(1, 0.0),
            pad(2, 0).astype(np.int64),
            pad(3, 0).astype(np.int64),
            pad(4, 0.0),
            depth,
        )


def _flatten(root: dict[str, Any], columns: list[int]) -> tuple:
    feature, threshold, left, right, value = [], [], [], [], []
    max_depth = 0

    def visit(node: dict[str, Any], depth: int) -> int:
        nonlocal max_depth
        index = len(feature)
        feature.append(-1)
        threshold.append(0.0)
        left.append(index)
        right.append(index)
        value.append(0.0)
        if "leaf_value" in node:
            value[index] = float(node["leaf_value"])
            max_depth = max(max_depth, depth)
            return index
        if node.get("decision_type", "<=") != "<=":
            raise ValueError(f"unsupported split {node.get('decision_type')}")
        feature[index] = columns[int(node["split_feature"])]
        threshold[index] = float(node["threshold"])
        left[index] = visit(node["left_child"], depth + 1)
        right[index] = visit(node["right_child"], depth + 1)
        return index

    visit(root, 0)
    return (np.array(feature), np.array(threshold), np.array(left), np.array(right), np.array(value), max_depth)


@dataclass(frozen=True)
class Linear:
    """A logistic regression over standardised feature columns: raw = ((x - mean) / scale) @ coef + intercept."""

    columns: np.ndarray  # (k,) int feature columns read
    mean: np.ndarray  # (k,)
    scale: np.ndarray  # (k,)
    coef: np.ndarray  # (k,)
    intercept: float

    def raw(self, x: np.ndarray) -> np.ndarray:
        # Each row summed on its own, not by a BLAS matrix-vector product: BLAS rounds a row
        # differently by where it sits in the matrix, and a member's score must not depend on
        # which other members are scored with it (serving scores only those a query touched).
        return (((x[:, self.columns] - self.mean) / self.scale) * self.coef).sum(axis=1) + self.intercept

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).tolist() for k in ("columns", "mean", "scale", "coef")} | {
            "intercept": self.intercept
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Linear:
        return cls(
            np.array(data["columns"], dtype=np.int64),
            *(np.array(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")),
            float(data["intercept"]),
        )


def fit_linear(train: TrainingSet, settings: Settings, features: tuple[str, ...] = FEATURES) -> Linear:
    """L2-regularised logistic regression on the standardised chosen features: of "answered"
    over every row (pointwise), or of "the first ranks above the second" over within-question
    pairs (pairwise: answerer minus non-answerer, accepted minus other answerer; no intercept,
    the scale and offset come from the calibration)."""
    from sklearn.linear_model import LogisticRegression

    columns = np.array([FEATURES.index(f) for f in features], dtype=np.int64)
    x = train.features[:, columns].astype(np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)  # a constant column gets weight 0 anyway
    z = (x - mean) / scale
    if settings.learned_model == "pairwise":
        better, worse = ranking_pairs(train.labels, train.group)
        if not len(better):
            return Linear(columns, mean, scale, np.zeros(len(columns)), 0.0)
        diff = z[better] - z[worse]
        # Both orientations of each pair: a symmetric problem, so no intercept is needed.
        pairs = np.vstack([diff, -diff])
        wins = np.r_[np.ones(len(diff)), np.zeros(len(diff))]
        model = LogisticRegression(C=settings.learned_regularisation, fit_intercept=False, max_iter=5000)
        model.fit(pairs, wins)
        return Linear(columns, mean, scale, model.coef_[0].astype(np.float64), 0.0)
    model = LogisticRegression(C=settings.learned_regularisation, max_iter=5000)
    model.fit(z, train.labels > 0)
    return Linear(columns, mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]))


def question_rows(group: np.ndarray) -> Iterator[np.ndarray]:
    """Each question's row indices, in row order (a loop over questions, not over the corpus)."""
    order = np.argsort(group, kind="stable")
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, dtype=np.int64)
    for start, end in zip(starts.tolist(), np.r_[starts[1:], len(g)].tolist()):
        yield order[start:end]


def ranking_pairs(labels: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (better, worse) of every within-question pair whose labels differ."""
    better_parts, worse_parts = [], []
    for rows in question_rows(group):
        lab = labels[rows]
        hi, lo = np.nonzero(lab[:, None] > lab[None, :])
        better_parts.append(rows[hi])
        worse_parts.append(rows[lo])
    if not better_parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(better_parts), np.concatenate(worse_parts)


def bounded_rows(train: TrainingSet, negatives: int, hard_share: float, seed: int) -> TrainingSet:
    """Per question every answerer and at most ``negatives`` non-answerers (``NegativeSample``:
    the hardest ``hard_share`` of them by the default formula's score, the rest seeded random).
    Bounds a build's fitting cost (it grew with questions x members) and focuses the fit on the
    members a query really has to separate. ``negatives`` <= 0 keeps every row."""
    if negatives <= 0 or not len(train.labels):
        return train
    sample = NegativeSample(negatives, hard_share, seed)
    rows = np.concatenate(
        [rows[sample.keep(train.labels[rows], train.default[rows])] for rows in question_rows(train.group)]
    )
    rows = np.sort(rows)
    return TrainingSet(
        train.features[rows],
        train.labels[rows],
        train.group[rows],
        train.default[rows],
        train.members[rows],
        train.questions,
    )


def fit_model(train: TrainingSet, settings: Settings, features: tuple[str, ...] | None = None) -> Linear | Trees:
    """The chosen learner fitted on ``train`` (over ``settings.learned_features`` unless given)."""
    features = features if features is not None else learned_features(settings)
    if settings.learned_model in ("logistic", "pairwise"):
        return fit_linear(train, settings, features)
    if settings.learned_model in ("trees", "lambdarank"):
        return fit_trees(train, settings, features)
    raise ValueError(
        f"learned_model must be 'logistic', 'pairwise', 'trees' or 'lambdarank', got {settings.learned_model!r}"
    )


def learned_features(settings: Settings) -> tuple[str, ...]:
    """FEATURES less the groups ``settings.learned_dropped_groups`` names."""
    dropped = set(settings.learned_dropped_groups)
    unknown = dropped - set(FEATURE_GROUPS)
    if unknown:
        raise ValueError(f"learned_dropped_groups: unknown groups {sorted(unknown)}; known: {list(FEATURE_GROUPS)}")
    return tuple(f for g, names in FEATURE_GROUPS.items() if g not in dropped for f in names)


#: Rows scored at once by ``raw_scores``: a million-passage build's held-out slice is ~12M rows,
#: and a model's float64 temporaries over all of them took ~10 GB.
RAW_CHUNK_ROWS = 1 << 18


def raw_scores(model: Linear | Trees, x: np.ndarray) -> np.ndarray:
    """(n_rows,) ``model.raw`` over the rows of ``x`` (float32 or float64), a chunk at a time."""
    if not len(x):
        return np.zeros(0)
    return np.concatenate(
        [model.raw(np.asarray(x[i : i + RAW_CHUNK_ROWS], dtype=np.float64)) for i in range(0, len(x), RAW_CHUNK_ROWS)]
    )


def column_ranker(name: str) -> Linear:
    """One feature column as a servable model (raw = the column): a baseline the build may choose."""
    return Linear(np.array([FEATURES.index(name)]), np.zeros(1), np.ones(1), np.ones(1), 0.0)


@dataclass(frozen=True)
class LearnedRanker:
    features: tuple[str, ...]  # the feature names it was fitted on (FEATURES when saved)
    model: Linear | Trees
    calibration: tuple[float, float]  # (a, b): probability = sigmoid(a * raw + b)
    report: dict[str, Any] = field(default_factory=dict)

    def raw(self, values: np.ndarray) -> np.ndarray:
        """The model's raw score for rows of the full FEATURES matrix (n_rows, len(FEATURES))."""
        return self.model.raw(values.astype(np.float64))

    def probability(self, values: np.ndarray) -> np.ndarray:
        a, b = self.calibration
        return _sigmoid(a * self.raw(values) + b)

    def save(self, path: Path) -> None:
        data = {
            "format": MODEL_FORMAT,
            "features": list(self.features),
            "kind": "trees" if isinstance(self.model, Trees) else "linear",
            "model": self.model.to_dict(),
            "calibration": list(self.calibration),
            "report": self.report,
        }
        path.write_text(json.dumps(data))

    @classmethod
    def load(cls, path: Path) -> LearnedRanker:
        data = json.loads(path.read_text())
        if data.get("format") != MODEL_FORMAT or tuple(data.get("features", ())) != FEATURES:
            raise IndexMismatchError(
                f"{path} holds a learned ranker of another copmatch version.", hint="Rebuild with: copmatch index build"
            )
        model = Trees.from_dict(data["model"]) if data["kind"] == "trees" else Linear.from_dict(data["model"])
        return cls(tuple(data["features"]), model, tuple(data["calibration"]), data.get("report", {}))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


def fit_trees(train: TrainingSet, settings: Settings, features: tuple[str, ...] = FEATURES, seed: int = 0) -> Trees:
    """Boosted trees from the chosen feature columns: predicting "answered" (binary log-loss),
    or ranking each question's candidates (``learned_model`` "lambdarank", LightGBM's)."""
    import lightgbm

    columns = [FEATURES.index(f) for f in features]
    params = {
        "objective": "binary",
        "learning_rate": settings.learned_learning_rate,
        "num_leaves": settings.learned_leaves,
        "min_data_in_leaf": settings.learned_min_rows_per_leaf,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "seed": seed,
        "deterministic": True,
        "num_threads": 1,
        "verbose": -1,
    }
    if settings.learned_model == "lambdarank":
        order = np.argsort(train.group, kind="stable")  # LightGBM wants each query's rows together
        counts = np.bincount(train.group[order])
        data = lightgbm.Dataset(train.features[order][:, columns], label=train.labels[order], group=counts[counts > 0])
        params |= {"objective": "lambdarank", "lambdarank_truncation_level": 20}
    else:
        data = lightgbm.Dataset(train.features[:, columns], label=(train.labels > 0).astype(np.float64))
    booster = lightgbm.train(params, data, num_boost_round=settings.learned_trees)
    return Trees.from_lightgbm(booster.dump_model(), columns)


def platt(raw: np.ndarray, answered: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """(a, b) maximising the likelihood of sigmoid(a * raw + b) for 0/1 outcomes: Newton's method
    from the base rate, each step halved until the likelihood improves (a full step diverges when
    raw scores are large and the outcomes rare). ``a`` is kept positive: a calibration must not
    reverse the ranking it calibrates."""
    x, y = raw.astype(np.float64), answered.astype(np.float64)
    rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6)) if len(y) else 0.5
    a, b = 0.0, float(np.log(rate / (1 - rate)))

    def loss(a: float, b: float) -> float:
        z = a * x + b
        return float(np.sum(np.logaddexp(0.0, z) - y * z))

    current = loss(a, b)
    for _ in range(iterations):
        p = _sigmoid(a * x + b)
        w = p * (1 - p) + 1e-12
        grad = np.array([np.sum((p - y) * x), np.sum(p - y)])
        hess = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-6:
            trial = loss(a - scale * step[0], b - scale * step[1])
            if trial <= current:
                break
            scale /= 2
        else:
            break
        a, b, current = a - scale * step[0], b - scale * step[1], trial
        if np.abs(scale * step).max() < 1e-9:
            break
    return max(float(a), 1e-6), float(b)
