"""The vectorised ranking helpers against slow, obvious loops on random inputs."""

from __future__ import annotations

import numpy as np
import pytest

from copmatch.ranking.corpus import Corpus, concat_ranges
from copmatch.ranking.scores import DocumentHits, aggregate_members, document_relevance, passage_relevance, role_weights
from copmatch.settings import Settings


def random_corpus(rng, n_docs=60, n_members=12, n_contrib=150) -> Corpus:
    pairs = {(int(rng.integers(n_docs)), int(rng.integers(n_members))) for _ in range(n_contrib)}
    keys = sorted(pairs)
    contrib_doc = np.array([k[0] for k in keys], dtype=np.int32)
    ptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.add.at(ptr, contrib_doc.astype(np.int64) + 1, 1)
    return Corpus(
        doc_ids=np.array([f"d{i}" for i in range(n_docs)]),
        doc_titles=np.array([""] * n_docs),
        doc_kinds=np.array(["answer"] * n_docs),
        doc_days=np.zeros(n_docs),
        passage_doc=np.sort(rng.integers(0, n_docs, size=n_docs * 2)).astype(np.int32),
        member_ids=np.array([f"m{i}" for i in range(n_members)]),
        member_names=np.array([""] * n_members),
        member_silos=np.array([""] * n_members),
        contrib_member=np.array([k[1] for k in keys], dtype=np.int32),
        contrib_doc=contrib_doc,
        contrib_class=rng.integers(0, 5, size=len(keys)).astype(np.int8),
        doc_ptr=np.cumsum(ptr),
    )


@pytest.mark.parametrize("seed", range(5))
def test_aggregate_members_matches_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    corpus = random_corpus(rng)
    settings = Settings(top_documents=4, rank_decay=0.8)
    docs = np.unique(rng.integers(0, corpus.n_docs, size=30))
    hits = DocumentHits(docs, rng.random(len(docs)), docs)
    recency = rng.random(len(corpus.contrib_doc))
    fast = aggregate_members(hits, corpus, settings, recency).scores

    weights = role_weights(settings)
    relevance = dict(zip(docs.tolist(), hits.relevance.tolist()))
    slow = np.zeros(corpus.n_members)
    for member in range(corpus.n_members):
        got = sorted(
            (
                weights[c] * relevance[d] ** settings.relevance_power * recency[i]
                for i, (m, d, c) in enumerate(zip(corpus.contrib_member, corpus.contrib_doc, corpus.contrib_class))
                if m == member and d in relevance
            ),
            reverse=True,
        )
        slow[member] = sum(w * settings.rank_decay**i for i, w in enumerate(got[: settings.top_documents]))
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_evidence_weights_are_exactly_what_the_content_score_sums():
    rng = np.random.default_rng(7)
    corpus = random_corpus(rng)
    docs = np.unique(rng.integers(0, corpus.n_docs, size=30))
    hits = DocumentHits(docs, rng.random(len(docs)), docs)
    evidence = aggregate_members(hits, corpus, Settings(), rng.random(len(corpus.contrib_doc)))
    summed = np.bincount(evidence.member, weights=evidence.weight, minlength=corpus.n_members)
    np.testing.assert_allclose(summed, evidence.scores, atol=1e-12)
    # Best first within each member, so the first items shown are the ones that counted most.
    for member in np.unique(evidence.member):
        weight = evidence.weight[evidence.member == member]
        assert (np.diff(weight) <= 0).all()


def test_focus_beats_volume():
    """Three strong documents beat thirty weak ones."""
    n_docs = 33
    contrib_member = np.array([0] * 3 + [1] * 30, dtype=np.int32)
    corpus = Corpus(
        doc_ids=np.array([str(i) for i in range(n_docs)]),
        doc_titles=np.array([""] * n_docs),
        doc_kinds=np.array(["answer"] * n_docs),
        doc_days=np.zeros(n_docs),
        passage_doc=np.arange(n_docs, dtype=np.int32),
        member_ids=np.array(["focused", "generalist"]),
        member_names=np.array(["", ""]),
        member_silos=np.array(["", ""]),
        contrib_member=contrib_member,
        contrib_doc=np.arange(n_docs, dtype=np.int32),
        contrib_class=np.ones(n_docs, dtype=np.int8),
        doc_ptr=np.arange(n_docs + 1, dtype=np.int64),
    )
    relevance = np.array([0.8] * 3 + [0.3] * 30)
    hits = DocumentHits(np.arange(n_docs), relevance, np.arange(n_docs))
    scores = aggregate_members(hits, corpus, Settings()).scores
    assert scores[0] > scores[1]


def test_document_relevance_is_the_best_passage():
    passage_doc = np.array([0, 0, 1, 2, 2, 2])
    hits = document_relevance(np.arange(6), np.array([0.1, 0.5, 0.0, 0.2, 0.9, 0.3]), passage_doc)
    assert hits.docs.tolist() == [0, 2]  # doc 1 has no relevant passage
    assert hits.relevance.tolist() == [0.5, 0.9]
    assert hits.best_passage.tolist() == [1, 4]


def test_passage_relevance_is_absolute_and_bounded():
    settings = Settings()
    cos = np.array([0.0, settings.dense_floor, 0.6, 1.0])
    rel = passage_relevance(cos, np.zeros(4), settings)
    assert rel[0] == rel[1] == 0.0
    assert 0 < rel[2] < rel[3] <= 1.0
    # The same cosine scores the same, whatever else the query retrieved.
    assert passage_relevance(cos[2:3], np.zeros(1), settings)[0] == rel[2]


def test_concat_ranges_matches_a_loop():
    rng = np.random.default_rng(3)
    ptr = np.cumsum(np.r_[0, rng.integers(0, 4, size=40)])
    rows = rng.choice(40, size=15, replace=False)
    expected = [i for r in rows for i in range(ptr[r], ptr[r + 1])]
    assert concat_ranges(ptr, rows).tolist() == expected
