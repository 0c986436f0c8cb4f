"""The learned ranker: numpy tree evaluation against LightGBM's own, calibration, save/load."""

from __future__ import annotations

import numpy as np

from copmatch import Settings
from copmatch.ranking.features import FEATURES
from copmatch.ranking.history import PastQuestion, TrainingSet, ndcg_at
from copmatch.ranking.learned import LearnedRanker, fit_linear, fit_trees, platt


def _synthetic(n_questions: int = 40, per_question: int = 30, seed: int = 0) -> TrainingSet:
    rng = np.random.default_rng(seed)
    rows = n_questions * per_question
    x = rng.normal(size=(rows, len(FEATURES))).astype(np.float32)
    logit = 2.0 * x[:, 0] - 1.5 * x[:, 3] + 0.5 * x[:, 7] - 3.0
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    group = np.repeat(np.arange(n_questions), per_question)
    questions = [PastQuestion(i, float(i), -1, (0,), -1) for i in range(n_questions)]
    return TrainingSet(x, labels, group, x[:, 0].astype(np.float64), np.zeros(rows, dtype=np.int64), questions)


def test_numpy_trees_match_lightgbm():
    import lightgbm

    train = _synthetic()
    settings = Settings().with_overrides(learned_trees=30)
    trees = fit_trees(train, settings)
    # LightGBM's own prediction of the same model, refitted identically (deterministic, one thread).
    data = lightgbm.Dataset(train.features, label=(train.labels > 0).astype(float))
    params = {
        "objective": "binary",
        "learning_rate": settings.learned_learning_rate,
        "num_leaves": settings.learned_leaves,
        "min_data_in_leaf": settings.learned_min_rows_per_leaf,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "seed": 0,
        "deterministic": True,
        "num_threads": 1,
        "verbose": -1,
    }
    booster = lightgbm.train(params, data, num_boost_round=30)
    probe = np.random.default_rng(1).normal(size=(500, len(FEATURES)))
    np.testing.assert_allclose(trees.raw(probe), booster.predict(probe, raw_score=True), rtol=1e-6, atol=1e-9)


def test_learned_ranker_round_trips_and_is_calibrated(tmp_path):
    train = _synthetic(n_questions=80)
    trees = fit_trees(train, Settings().with_overrides(learned_trees=40))
    raw = trees.raw(train.features.astype(np.float64))
    a, b = platt(raw, train.labels > 0)
    ranker = LearnedRanker(FEATURES, trees, (a, b), {"questions": 80})
    ranker.save(tmp_path / "ranker.json")
    loaded = LearnedRanker.load(tmp_path / "ranker.json")
    p = loaded.probability(train.features)
    np.testing.assert_allclose(p, ranker.probability(train.features))
    # Calibrated: the mean probability matches the answered rate, and it is a monotone map of raw.
    assert abs(p.mean() - (train.labels > 0).mean()) < 0.01
    assert np.all(np.diff(p[np.argsort(raw)]) >= -1e-12)
    # It learned something: better than random ordering on its own training questions.
    assert ndcg_at(raw, train.labels, train.group).mean() > ndcg_at(-raw, train.labels, train.group).mean()


def test_numpy_logistic_matches_scikit_learn(tmp_path):
    from sklearn.linear_model import LogisticRegression

    train = _synthetic(n_questions=60)
    settings = Settings()
    linear = fit_linear(train, settings)
    x = train.features.astype(np.float64)
    reference = LogisticRegression(C=settings.learned_regularisation, max_iter=5000)
    reference.fit((x - x.mean(axis=0)) / x.std(axis=0), train.labels > 0)
    np.testing.assert_allclose(linear.raw(x), reference.decision_function((x - x.mean(axis=0)) / x.std(axis=0)))
    ranker = LearnedRanker(FEATURES, linear, platt(linear.raw(x), train.labels > 0))
    ranker.save(tmp_path / "ranker.json")
    np.testing.assert_allclose(LearnedRanker.load(tmp_path / "ranker.json").probability(x), ranker.probability(x))


def test_training_questions_are_matched_against_their_closest_passages_only_past_the_limit():
    from copmatch.ranking.history import closest_passages

    before = np.array([True, True, False, True, True, True])
    cos = np.array([0.9, 0.1, 0.99, 0.5, 0.2, 0.3])
    bm25 = np.array([0.0, 7.0, 9.0, 0.0, 1.0, 0.5])
    assert closest_passages(before, cos, bm25, limit=10).tolist() == [0, 1, 3, 4, 5]  # all that existed
    # Past the limit: the best by cosine (0, 3) and by BM25 (1, 4); never passage 2, which came later.
    assert closest_passages(before, cos, bm25, limit=4).tolist() == [0, 1, 3, 4]


def test_bounded_rows_keep_every_answerer_and_the_hardest_non_answerers():
    from copmatch.ranking.learned import bounded_rows

    train = _synthetic(n_questions=20, per_question=30)
    kept = bounded_rows(train, negatives=6, hard_share=0.5, seed=3)
    assert kept.n_questions == train.n_questions
    assert np.array_equal(bounded_rows(train, 6, 0.5, 3).features, kept.features)  # seeded: reproducible
    for g in range(train.n_questions):
        rows, mine = np.flatnonzero(train.group == g), np.flatnonzero(kept.group == g)
        assert (train.labels[rows] > 0).sum() == (kept.labels[mine] > 0).sum()  # every answerer
        others = rows[train.labels[rows] == 0]
        assert (kept.labels[mine] == 0).sum() == min(6, len(others))
        hardest = np.sort(train.default[others])[::-1][:3]
        assert set(hardest) <= set(kept.default[mine][kept.labels[mine] == 0])
    assert bounded_rows(train, 0, 0.5, 0) is train  # 0: every row


def test_pairwise_and_lambdarank_learners_rank_what_they_learned():
    from copmatch.ranking.learned import fit_model

    train, probe = _synthetic(n_questions=60, seed=0), _synthetic(n_questions=30, seed=1)
    for model in ("pairwise", "lambdarank"):
        fitted = fit_model(train, Settings().with_overrides(learned_model=model, learned_trees=30))
        raw = fitted.raw(probe.features.astype(np.float64))
        assert ndcg_at(raw, probe.labels, probe.group).mean() > ndcg_at(-raw, probe.labels, probe.group).mean() + 0.2


def test_platt_fits_large_raw_scores_and_never_reverses_a_ranking():
    rng = np.random.default_rng(0)
    raw = 50.0 * rng.normal(size=4000)  # a pairwise score has no intercept: far from the base rate
    answered = rng.random(4000) < 1 / (1 + np.exp(-(raw / 25.0 - 4.0)))
    a, b = platt(raw, answered)
    assert 0.01 < a < 0.1 and np.isfinite(b)
    p = 1 / (1 + np.exp(-(a * raw + b)))
    assert abs(p.mean() - answered.mean()) < 0.01
    # Outcomes that fall as raw rises: the fit keeps a positive slope (flat), never a reversal.
    a_reversed, _ = platt(raw, ~answered)
    assert 0 < a_reversed <= 1e-6


def _clock_set(n_questions: int, seed: int) -> TrainingSet:
    """Answerers are exactly the most recently active members: the recent-activity column ranks them."""
    train = _synthetic(n_questions=n_questions, seed=seed)
    clock = FEATURES.index("clock activity 0.02")
    x = train.features.copy()
    labels = np.zeros_like(train.labels)
    for g in range(n_questions):
        rows = np.flatnonzero(train.group == g)
        labels[rows[np.argsort(-x[rows, clock])[:2]]] = 1
    return TrainingSet(x, labels, train.group, np.abs(x[:, 0]) + 1e-3, train.members, train.questions)


def test_build_serves_recent_activity_when_the_held_out_questions_clearly_prefer_it():
    from copmatch.services.training import learn_ranker

    train = _clock_set(100, seed=0)
    # The learner is denied the clock columns: only the served "recent activity" column has them.
    settings = Settings().with_overrides(
        learned_dropped_groups=("community-clock activity",),
        learned_choices=("learned", "default formula", "recent activity"),
    )
    ranker, report = learn_ranker(train, settings)
    assert report["serving"] == "recent activity", report
    assert set(report["validation_ndcg10"]) == {"learned", "default formula", "recent activity"}
    x = train.features.astype(np.float64)
    clock = x[:, FEATURES.index("clock activity 0.02")]
    p = ranker.probability(x)
    assert np.all(np.diff(p[np.argsort(clock)]) >= 0)  # calibrated, in the column's order
    # Only the learner allowed: it serves, fitted on bounded rows.
    ranker, report = learn_ranker(train, Settings().with_overrides(learned_choices=("learned",)))
    assert report["serving"] == "learned" and set(report["validation_ndcg10"]) == {"learned"}, report
    assert report["fit_rows"] < len(train.labels)  # bounded: answerers + learned_negatives per question


def test_raw_scores_in_chunks_equal_one_pass(monkeypatch):
    """A million-passage build scores ~12M held-out rows: a chunk at a time, the same scores
    (to the last bits BLAS may sum in another order)."""
    from copmatch.ranking import learned

    train = _synthetic(n_questions=30, per_question=20)
    model = learned.fit_model(train, Settings())
    monkeypatch.setattr(learned, "RAW_CHUNK_ROWS", 7)
    x = train.features.astype(np.float32)
    np.testing.assert_allclose(learned.raw_scores(model, x), model.raw(x.astype(np.float64)), rtol=1e-12, atol=1e-12)
    assert learned.raw_scores(model, x[:0]).shape == (0,)
