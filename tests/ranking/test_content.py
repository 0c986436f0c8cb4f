"""The content ranker on a real built content-only community (members known by publications alone)."""

from __future__ import annotations

import numpy as np

from copmatch import ExpertQuery
from copmatch.ranking.content import member_top_mean
from copmatch.ranking.features import top_mean_cosine

PUMPS = "Our booster pump vibrates badly since the bearings were replaced; how do we check shaft alignment?"
BILLING = "A customer disputes an estimated water bill after a meter read; how should we settle it?"
OFF_TOPIC = "kubernetes helm chart upgrade rollback"
MEMBERS = ["pia", "cal", "bea", "gus"]


def scores(community, text: str) -> dict[str, float]:
    (found,) = community.find_experts_batch([ExpertQuery(text, candidates=MEMBERS)])
    return {e.member_id: e.score for e in found}


def test_content_only_community_is_served_by_the_content_ranker(publications_built):
    searcher = publications_built.current_searcher()[0]
    assert searcher.ranker is None and searcher.content_only
    background = searcher.content_background(publications_built.settings)
    assert len(background.docs) == searcher.corpus.n_docs  # a small corpus is its own background


def test_a_member_scores_higher_for_the_query_their_publications_fit(publications_built):
    pumps, billing = scores(publications_built, PUMPS), scores(publications_built, BILLING)
    # Compared across queries: each author fits their own subject better than the other one.
    assert pumps["pia"] > billing["pia"]
    assert billing["bea"] > pumps["bea"]
    # And within one query the author of the matching publications leads.
    assert max(pumps, key=pumps.get) == "pia"
    assert max(billing, key=billing.get) == "bea"


def test_an_off_topic_query_scores_everyone_low(publications_built):
    off = scores(publications_built, OFF_TOPIC)
    on = [scores(publications_built, PUMPS)["pia"], scores(publications_built, BILLING)["bea"]]
    assert max(off.values()) < min(on)
    assert all(0.0 < s < 0.1 for s in off.values())  # absolute: nobody is a good fit, not "the best is 1"


def test_member_top_mean_matches_the_one_query_baseline(publications_built):
    corpus = publications_built.current_searcher()[0].corpus
    doc_values = np.random.default_rng(0).uniform(-0.2, 0.9, size=(5, corpus.n_docs))
    batched = member_top_mean(corpus, doc_values, 3)
    one_by_one = np.stack([top_mean_cosine(corpus, row, 3) for row in doc_values])
    np.testing.assert_allclose(batched, one_by_one)
