"""The share-clock activity and the activity prior (ranking/prior.py): oracles and contracts."""

from __future__ import annotations

import numpy as np
import pytest

from copmatch.ranking.corpus import ACCEPTED, ANSWER, ASKER, AUTHOR
from copmatch.ranking.prior import activity_prior, saturating, share_clock_activity, share_clock_weight
from copmatch.ranking.scores import member_priors
from copmatch.settings import Settings
from tests.ranking.test_priors import dated_corpus


@pytest.mark.parametrize("seed", range(3))
def test_share_clock_activity_matches_a_loop(seed):
    rng = np.random.default_rng(seed)
    n = 90
    days = rng.integers(0, 40, size=n).astype(float)  # ties: same-day answers are not "after"
    days[rng.random(n) < 0.1] = np.nan
    classes = rng.choice([ACCEPTED, ANSWER, AUTHOR, ASKER], size=n)
    members = rng.integers(0, 7, size=n)
    corpus = dated_corpus(members.tolist(), classes.tolist(), days.tolist(), 7)
    fast = share_clock_activity(corpus, 0.05)

    answer_days = [d for d, c in zip(days, classes) if c in (ACCEPTED, ANSWER) and not np.isnan(d)]
    slow = np.zeros(7)
    for m, d, c in zip(members, days, classes):
        if c in (ACCEPTED, ANSWER) and not np.isnan(d):  # authored documents and undated answers: no clock
            share_after = sum(1 for other in answer_days if other > d) / len(answer_days)
            slow[m] += 0.5 ** (share_after / 0.05)
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_share_clock_is_the_same_stretch_of_life_at_any_pace():
    """A member who gave the latest tenth of a community's answers: ten times the answers in a ten
    times larger community give ten times the activity (the clock ages by share, not by count)."""

    def latest_tenth(n_answers: int) -> float:
        tenth = n_answers // 10
        members = [1] * (n_answers - tenth) + [0] * tenth
        corpus = dated_corpus(members, [ANSWER] * n_answers, list(range(n_answers)), 2)
        return float(share_clock_activity(corpus, 0.02)[0])

    # (an answers clock of fixed half-life gives about 3x: it has forgotten most of the larger tenth)
    assert latest_tenth(5000) == pytest.approx(10 * latest_tenth(500), rel=0.05)


def test_prior_is_the_answers_clock_alone_when_the_share_weight_is_zero():
    activity = np.array([0.0, 1.0, 5.0, 40.0])
    settings = Settings(prior_share_weight=0.0)
    expected = ((activity + 1.0) / (activity + 1.0 + 10.0)) ** settings.prior_weight
    np.testing.assert_allclose(activity_prior(activity, None, settings), expected)
    with pytest.raises(ValueError, match="share-clock"):
        activity_prior(activity, None, Settings(prior_share_weight=0.5))


def test_share_clock_lifts_whoever_answers_now_over_a_past_regular():
    """The coffee case of issue #12: a newcomer with a few answers just now against a regular whose
    many answers are older; the share-clock factor moves the prior towards the newcomer."""
    members = [1] * 60 + [0] * 4
    corpus = dated_corpus(members, [ANSWER] * 64, list(range(64)), 2)
    answers_only = member_priors(corpus, Settings(prior_share_weight=0.0)).prior
    with_share = member_priors(corpus, Settings(prior_share_weight=1.0, prior_share_half_life=0.02)).prior
    assert with_share[0] / with_share[1] > answers_only[0] / answers_only[1]
    assert np.all((with_share > 0) & (with_share < 1))


def test_saturating_starts_at_the_newcomer_level_and_stays_below_one():
    values = saturating(np.array([0.0, 10.0, 1e6]), 1.0, 10.0)
    assert values[0] == pytest.approx(1.0 / 11.0)
    assert np.all(np.diff(values) > 0) and values[-1] < 1.0


def test_share_clock_grows_in_with_the_history():
    """A share of a few answers says only who answered last: below prior_share_min_answers dated
    answers the factor's exponent shrinks in proportion, and from there it is the setting's."""
    settings = Settings(prior_share_weight=1.0, prior_share_min_answers=50)
    assert share_clock_weight(0, settings) == 0.0
    assert share_clock_weight(10, settings) == pytest.approx(0.2)
    assert share_clock_weight(50, settings) == share_clock_weight(5000, settings) == 1.0
    # A newest answerer of a seven-answer history is not lifted as in a long one.
    members = [1] * 3 + [0] * 4
    corpus = dated_corpus(members, [ANSWER] * 7, list(range(7)), 2)
    short = member_priors(corpus, settings).prior
    unramped = member_priors(corpus, Settings(prior_share_weight=1.0, prior_share_min_answers=1)).prior
    answers_only = member_priors(corpus, Settings(prior_share_weight=0.0)).prior
    assert answers_only[0] / answers_only[1] < short[0] / short[1] < unramped[0] / unramped[1]
