"""Scoring only the members a query touched gives exactly what scoring every member gives.

A query scores the members it touched (a contribution to a matched document, a profile near
it) and takes every other member's score from the snapshot's baseline. Checked against the
full computation of tests/services/full_ranking.py: every member's score, knows, profile and
content bit for bit, every feature row, and the ranked experts (rows, order, scores, evidence)
with opted-out and excluded members, candidates, limits past the touched members (so untouched
ones fill), a query nothing matches, other settings, and learned rankers of both kinds.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest

from copmatch.embedding.cache import EmbeddingCache
from copmatch.ranking.asof import corpus_as_of, passages_before
from copmatch.ranking.features import QueryMatch, member_facts, member_features
from copmatch.services.experts import ExpertQuery, rank_experts, retrieve, score_members
from copmatch.services.training import SnapshotArrays, build_training_set, learn_ranker
from tests.services.full_ranking import full_features, full_rank_experts
from tests.support import open_community

NOTHING = "zzqx qqvvz xxkkq"  # no word of it is in any text, and its meaning is near none
QUERIES = {
    "tiny": [
        "my pump shakes after we replaced the bearings",
        "free chlorine residual is too low at dead ends",
        "pressure surges and water hammer when a valve closes fast",
        "SCADA alarm flood, how to rationalise alarms",
        "customer disputes estimated bills",
        NOTHING,
    ],
    "sample": [
        "THM results creeping towards 80 ug/L in summer samples",
        "Is every wet well entry a confined space entry?",
        "burst response rota out of hours",
        "mains with no install date in GIS",
        "how do we keep the pumping stations running during a power cut " * 40,  # read in windows
        NOTHING,
    ],
    "coffee": [
        "Why does my espresso taste sour?",
        "How fine should I grind for a French press?",
        "Is it bad to store coffee beans in the freezer?",
        NOTHING,
    ],
    "publications": ["hydraulic transients in pipelines", "membrane fouling", NOTHING],
}
#: Settings that move which members a query touches, or where the untouched ones rank.
VARIANTS = {
    "defaults": {},
    "every member evident": {"knows_threshold": 0.0},
    "bio words weigh": {"profile_lexical_weight": 0.3, "lexical_weight": 0.0},
    "no words at all": {"lexical_weight": 0.0},
    "strict floors": {"profile_floor": 0.6, "dense_floor": 0.5},
}


@pytest.fixture(scope="module")
def coffee(coffee_built, embedder):
    community = open_community(coffee_built, embedder)
    yield community
    community.close()


@pytest.fixture(scope="module")
def coffee_rankers(coffee, embedder):
    """Rankers learned from the coffee history as a build learns them: logistic and trees."""
    searcher, _ = coffee.current_searcher()
    settings = coffee.settings.with_overrides(learned_min_questions=10, learned_choices=("learned",))
    arrays = SnapshotArrays(
        searcher.corpus, searcher.passage_vectors, searcher.sparse, searcher.profile_vectors, searcher.profile_sparse
    )
    cache = EmbeddingCache(coffee.cache_path, embedder.cache_key)
    try:
        train = build_training_set(arrays, list(coffee.store.documents()), embedder, cache, settings)
    finally:
        cache.close()
    rankers = {}
    for model in ("logistic", "trees"):
        ranker, report = learn_ranker(train, settings.with_overrides(learned_model=model, learned_trees=30))
        assert ranker is not None, report
        rankers[model] = ranker
    return rankers


def _communities(request, names):
    return {name: request.getfixturevalue(fixture) for name, fixture in names.items()}


@contextmanager
def serving(community, ranker):
    """The community's snapshot served with ``ranker`` (None: the default formula) for a while."""
    searcher, _ = community.current_searcher()
    kept, searcher.ranker = searcher.ranker, ranker
    try:
        yield
    finally:
        searcher.ranker = kept


def _check_every_member(community, texts, settings) -> list[int]:
    """Every member's values from score_members and member_features are the full computation's,
    bit for bit, under the community's ranker. Returns how many members each query touched."""
    searcher, priors = community.current_searcher()
    ranker = searcher.ranker
    facts = searcher.member_facts(settings)
    touched = []
    for text, vector in zip(texts, community.encode_query_windows(texts)):
        found = retrieve(searcher, text, vector, settings)
        scored = score_members(searcher, found, priors, settings, ranker)
        match = QueryMatch(
            found.passages.ids, found.passages.cos, found.passages.bm25, found.profile_cos, found.profile_bm25
        )
        full = full_features(searcher.corpus, match, facts, settings)
        if ranker is not None:
            expected = ranker.probability(full.values)
        elif searcher.content_only:
            expected = None  # the content ranker's scores are read from the full arrays as they were
        else:
            expected = full.default_score
        if expected is not None:
            assert np.array_equal(scored.final, expected), text
        assert np.array_equal(scored.knows, full.knows), text
        assert np.array_equal(scored.profile, full.profile), text
        assert np.array_equal(scored.evidence.scores, full.content), text
        features = member_features(searcher.corpus, match, searcher.newest_day, settings, facts)
        for name in ("default_score", "offered", "asked", "knows", "profile", "values", "doc_cos", "doc_bm25"):
            assert np.array_equal(getattr(features, name), getattr(full, name)), (name, text)
        touched.append(len(scored.touched))
    return touched


def _check_rankings(community, texts, settings, every_shape: bool = True) -> None:
    """The ranked experts are the full ranking's for limits, exclusions and candidates
    (``every_shape``: all of the query shapes below, else three of them)."""
    searcher, priors = community.current_searcher()
    ranker = searcher.ranker
    opted_out = community.store.opted_out()
    members = list(searcher.corpus.member_ids)
    rng = np.random.default_rng(0)
    for text, vector in zip(texts, community.encode_query_windows(texts)):
        first = full_rank_experts(searcher, ExpertQuery(text, 3), vector, priors, opted_out, settings, ranker)
        candidates = sorted(rng.choice(members, size=min(5, len(members)), replace=False)) + list(opted_out)
        queries = [ExpertQuery(text, limit) for limit in (1, 3, 10, 200)] + [
            ExpertQuery(text, 10, exclude=[e.member_id for e in first[:2]]),
            ExpertQuery(text, 200, exclude=[e.member_id for e in first[:1]]),
            ExpertQuery(text, 2, candidates=candidates),
            ExpertQuery(text, 10, exclude=candidates[:1], candidates=candidates),
        ]
        for query in queries if every_shape else queries[1:2] + queries[5:7]:
            served = rank_experts(searcher, query, vector, priors, opted_out, settings)
            expected = full_rank_experts(searcher, query, vector, priors, opted_out, settings, ranker)
            assert [e.to_dict() for e in served] == [e.to_dict() for e in expected], (text, query)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_member_is_scored_as_the_full_computation(request, variant):
    communities = _communities(request, {"tiny": "tiny", "sample": "sample_built", "coffee": "coffee"})
    for name, community in communities.items():
        settings = community.settings.with_overrides(**VARIANTS[variant])
        learned = community.current_searcher()[0].ranker  # the sample community's build learned one
        for ranker in {id(r): r for r in (learned, None)}.values():
            with serving(community, ranker):
                touched = _check_every_member(community, QUERIES[name], settings)
            if variant == "defaults" and name == "sample" and ranker is None:
                # The check is about something: members were left out, and the nonsense query
                # touched fewer than the limit, so untouched members fill its ranking.
                assert min(touched) < 10 and max(touched) < len(community.current_searcher()[0].member_rows)


@pytest.mark.parametrize("variant", VARIANTS)
def test_rankings_are_the_full_ranking(request, variant):
    communities = _communities(request, {"tiny": "tiny", "sample": "sample_built", "coffee": "coffee"})
    for name, community in communities.items():
        settings = community.settings.with_overrides(**VARIANTS[variant])
        learned = community.current_searcher()[0].ranker
        for ranker in {id(r): r for r in (learned, None)}.values():
            with serving(community, ranker):
                _check_rankings(community, QUERIES[name], settings, every_shape=variant == "defaults")


def test_the_opted_out_member_is_blocked_and_the_rest_fill(tiny):
    """Tiny's opted-out member is never ranked, even when every other member is returned."""
    searcher, _ = tiny.current_searcher()
    found = tiny.find_experts(NOTHING, limit=200)
    assert sorted(e.member_id for e in found) == sorted(set(searcher.corpus.member_ids) - {"shy"})


@pytest.mark.parametrize("model", ["logistic", "trees"])
def test_learned_rankers_score_as_the_full_computation(coffee, coffee_rankers, model):
    with serving(coffee, coffee_rankers[model]):  # this module's own community, as if its build chose it
        _check_every_member(coffee, QUERIES["coffee"], coffee.settings)
        _check_rankings(coffee, QUERIES["coffee"], coffee.settings)


def test_content_only_communities_rank_as_before(publications_built):
    _check_every_member(publications_built, QUERIES["publications"], publications_built.settings)
    _check_rankings(publications_built, QUERIES["publications"], publications_built.settings)


def test_features_of_a_past_view_are_the_full_computation(coffee):
    """Training builds its features on the corpus as it stood at a past moment: the same equality."""
    searcher, _ = coffee.current_searcher()
    corpus, settings = searcher.corpus, coffee.settings
    moment = float(np.nanmedian(corpus.doc_days))
    view, before = corpus_as_of(corpus, moment), passages_before(corpus, moment)
    facts = member_facts(view, moment, settings)
    for text, vector in zip(QUERIES["coffee"], coffee.encode_query_windows(QUERIES["coffee"])):
        found = retrieve(searcher, text, vector, settings)
        keep = before[found.passages.ids]
        passages = found.passages
        match = QueryMatch(
            passages.ids[keep], passages.cos[keep], passages.bm25[keep], found.profile_cos, found.profile_bm25
        )
        features = member_features(view, match, moment, settings, facts)
        full = full_features(view, match, facts, settings)
        for name in ("default_score", "knows", "profile", "values"):
            assert np.array_equal(getattr(features, name), getattr(full, name)), (name, text)
