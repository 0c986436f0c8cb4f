"""Recency, the activity prior and the final blend: oracles and the calibration contract."""

from __future__ import annotations

import numpy as np
import pytest

from copmatch.ranking.corpus import ACCEPTED, ANSWER, ASKER, AUTHOR, Corpus
from copmatch.ranking.recency import community_clock_recency
from copmatch.ranking.scores import MemberPriors, blend, member_priors
from copmatch.settings import Settings


def dated_corpus(member_of_doc: list[int], class_of_doc: list[int], days: list[float], n_members: int) -> Corpus:
    """One contribution per document, documents in the given order."""
    n_docs = len(member_of_doc)
    return Corpus(
        doc_ids=np.array([f"d{i}" for i in range(n_docs)]),
        doc_titles=np.array([""] * n_docs),
        doc_kinds=np.array(["answer"] * n_docs),
        doc_days=np.array(days, dtype=np.float64),
        passage_doc=np.arange(n_docs, dtype=np.int32),
        member_ids=np.array([f"m{i}" for i in range(n_members)]),
        member_names=np.array([""] * n_members),
        member_silos=np.array([""] * n_members),
        contrib_member=np.array(member_of_doc, dtype=np.int32),
        contrib_doc=np.arange(n_docs, dtype=np.int32),
        contrib_class=np.array(class_of_doc, dtype=np.int8),
        doc_ptr=np.arange(n_docs + 1, dtype=np.int64),
    )


@pytest.mark.parametrize("seed", range(3))
def test_community_clock_recency_matches_a_loop(seed):
    rng = np.random.default_rng(seed)
    n = 80
    days = rng.integers(0, 30, size=n).astype(float)  # many ties: same-day posts are not "since"
    days[rng.random(n) < 0.1] = np.nan
    classes = rng.integers(0, 5, size=n)
    corpus = dated_corpus(rng.integers(0, 6, size=n).tolist(), classes.tolist(), days.tolist(), 6)
    settings = Settings(recency_half_life_answers=7.0)
    fast = community_clock_recency(corpus, settings.recency_half_life_answers)

    answering = [c in (ACCEPTED, ANSWER, AUTHOR) for c in classes]
    slow = []
    for day in days:
        if np.isnan(day):
            slow.append(1.0)  # undated: nothing says it is stale
            continue
        since = sum(1 for d, a in zip(days, answering) if a and not np.isnan(d) and d > day)
        slow.append(0.5 ** (since / 7.0))
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_prior_favours_recent_answerers_and_does_not_zero_newcomers():
    # m0 answered the last 10 answers, m1 the 10 before the 100 answers of m3, m2 only asked, m4 nothing.
    members = [1] * 10 + [3] * 100 + [0] * 10 + [2] * 3
    classes = [ANSWER] * 120 + [ASKER] * 3
    days = list(range(120)) + [119.0] * 3
    corpus = dated_corpus(members, classes, days, 5)
    priors = member_priors(corpus, Settings())
    recent, stale, asker, newcomer = priors.prior[[0, 1, 2, 4]]
    assert recent > stale
    assert asker == newcomer > 0  # a newcomer is not "idle"; by default asking is not activity
    assert np.all((priors.prior > 0) & (priors.prior < 1))
    counting_questions = member_priors(corpus, Settings(activity_question_weight=0.5)).prior
    assert counting_questions[2] > counting_questions[4]


def test_prior_ignores_the_clock_when_nothing_was_posted_since():
    """A quiet community does not make its members stale: age is counted in answers posted since."""
    members, classes = [0] * 5 + [1] * 5, [ANSWER] * 10
    fast = member_priors(dated_corpus(members, classes, list(range(10)), 2), Settings()).prior
    slow = member_priors(dated_corpus(members, classes, [d * 100.0 for d in range(10)], 2), Settings()).prior
    np.testing.assert_allclose(fast, slow)


def priors_for(n: int, prior: float = 0.6) -> MemberPriors:
    return MemberPriors(np.full(n, prior), np.full(n, 0.35), np.ones(0))


def test_final_score_is_bounded_and_rises_with_the_match():
    settings = Settings()
    content = np.array([0.0, 0.05, 0.3, 1.0, 5.0])
    scores = blend(content, np.zeros(5), priors_for(5), settings)
    assert np.all((scores > 0) & (scores < 1))
    assert np.all(np.diff(scores) > 0)


def test_one_members_score_ignores_everyone_elses():
    """Calibration: nothing is normalised per query, so a member's score for a query depends
    only on her own match and prior, and her close query outscores her far one."""
    settings = Settings()
    close = blend(np.array([0.8, 0.1, 2.0]), np.zeros(3), priors_for(3), settings)
    far = blend(np.array([0.02, 3.0, 0.0]), np.zeros(3), priors_for(3), settings)
    alone = blend(np.array([0.8]), np.zeros(1), priors_for(1), settings)
    assert close[0] == pytest.approx(alone[0])
    assert close[0] > far[0]
