"""The pair model learned from a community's own history, on the built sample community:
fitted from signals strictly before each pseudo-cutoff, checked on the latest one against
the hand-set formula, and the formula serving below the documented minimum."""

from __future__ import annotations

import numpy as np
import pytest

from copmatch.ranking.asof import corpus_as_of
from copmatch.services.brokering.context import BrokeringContext
from copmatch.services.brokering.pair_model import (
    SIGNALS,
    History,
    cached_fit,
    fit,
    member_state,
    signals,
    training_set,
)
from copmatch.services.brokering.suggest import candidate_pairs, rank_suggestions
from copmatch.settings import Settings

# One pytest-xdist worker runs this module (its module fixture loads the brokering context once).
pytestmark = pytest.mark.xdist_group("services.brokering.test_pair_model")


@pytest.fixture(scope="module")
def context(sample_built) -> BrokeringContext:
    return BrokeringContext.load(sample_built.store, sample_built.current_searcher()[0], Settings())


def test_signals_at_a_pseudo_cutoff_come_only_from_before_it(context):
    history = context.history
    cutoff = history.cutoffs((0.6,))[0]
    full = member_state(history, cutoff, context.settings)
    # The same history with everything from the cutoff on removed gives the very same signals.
    truncated = History.of(
        corpus_as_of(history.corpus, cutoff), context.doc_vectors, context.facts, context.searcher.document_rows
    )
    past = member_state(truncated, cutoff, context.settings)
    members = np.flatnonzero(full.active)
    assert 2 < len(members) < history.corpus.n_members  # some members only joined later
    np.testing.assert_array_equal(full.active, past.active)
    a, b = np.meshgrid(members[:20], members[:20])
    np.testing.assert_allclose(signals(full, a.ravel(), b.ravel()), signals(past, a.ravel(), b.ravel()), atol=1e-6)
    # ... and later contributions do change them (the check is not vacuous).
    today = member_state(history, np.inf, context.settings)
    assert not np.allclose(signals(today, a.ravel(), b.ravel()), signals(full, a.ravel(), b.ravel()))


def test_fitted_on_the_sample_history_it_ranks_the_held_out_pairs_above_the_formula(context):
    settings = context.settings
    history = context.history
    data = training_set(history, settings, history.cutoffs(settings.intro_model_cutoffs))
    assert data.x.shape == (len(data.y), len(SIGNALS)) and data.positives >= settings.intro_model_min_positives
    fitted = fit(history, settings)
    assert fitted.model is not None, fitted.reason
    assert fitted.model.positives == data.positives
    check = fitted.validation
    base_rate = check.positives / 20_000  # at most intro_model_negatives sampled at the held-out cutoff
    assert check.positives > 0 and check.model_ap > check.formula_ap and check.model_ap > base_rate
    assert np.isfinite(fitted.model.weights).all() and len(fitted.model.weights) == len(SIGNALS)
    # A pair's chance is symmetric and a probability.
    state = member_state(history, np.inf, settings)
    a, b = np.array([0, 1, 2]), np.array([3, 4, 5])
    forward, backward = fitted.model.score(state, a, b)[0], fitted.model.score(state, b, a)[0]
    np.testing.assert_allclose(forward, backward)
    assert ((forward > 0) & (forward < 1)).all()
    # Fitted once per snapshot and model settings.
    key = (str(context.searcher.path), context.searcher.version)
    assert cached_fit(key, history, settings) is cached_fit(key, history, settings)


def test_the_sample_is_scored_by_the_pair_model_and_its_reasons_say_so(context):
    # So test_intro_quality's faithfulness, label, diversity and planted-pair checks (default
    # settings, the same sample) run on the learned path.
    assert context.pair_model() is not None
    top = rank_suggestions(context, limit=5)
    assert len(top) == 5
    assert all(s.reasons["scored_by"].startswith("pair model learned from") for s in top)


def test_below_the_documented_minimum_the_hand_set_formula_serves(context, sample_built):
    positives = context.fitted().model.positives
    settings = context.settings.with_overrides(intro_model_min_positives=positives + 1)
    formula = BrokeringContext.load(sample_built.store, sample_built.current_searcher()[0], settings)
    fitted = formula.fitted()
    assert fitted.model is None and f"fewer than {positives + 1}" in fitted.reason
    assert formula.pair_model() is None
    # The formula's candidates are topic neighbours with the formula's scores; the model's differ.
    learned, hand_set = candidate_pairs(context), candidate_pairs(formula)
    assert len(learned.a) >= len(hand_set.a) > 0
    top = rank_suggestions(formula, limit=5)
    assert all(s.reasons["scored_by"].startswith("hand-set formula (fewer than") for s in top)
    assert [(s.member_a, s.member_b) for s in top] != [
        (s.member_a, s.member_b) for s in rank_suggestions(context, limit=5)
    ]
