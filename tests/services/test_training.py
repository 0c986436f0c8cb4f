"""The training set a build learns from, made the way a large community needs it: rows bounded
as they are made, and training questions searched in the snapshot's index past a limit."""

from __future__ import annotations

import numpy as np
import pytest

from copmatch.cli.index import describe_ranker
from copmatch.embedding.cache import EmbeddingCache
from copmatch.index.snapshot import LEARNED_RANKER
from copmatch.ranking.asof import passages_before
from copmatch.ranking.history import _dense_hits, _searched_passages, answered_questions, past_questions
from copmatch.ranking.learned import bounded_rows
from copmatch.services.training import History, SnapshotArrays, build_training_set, validation_size
from tests.conftest import private_copy
from tests.support import open_community


@pytest.fixture(scope="module")
def coffee(coffee_built, embedder):
    community = open_community(coffee_built, embedder)
    yield community
    community.close()


def _arrays(searcher, with_index: bool) -> SnapshotArrays:
    return SnapshotArrays(
        searcher.corpus,
        searcher.passage_vectors,
        searcher.sparse,
        searcher.profile_vectors,
        searcher.profile_sparse,
        searcher.dense if with_index else None,
    )


def _training(community, embedder, settings, with_index: bool):
    searcher, _ = community.current_searcher()
    cache = EmbeddingCache(community.cache_path, embedder.cache_key)
    try:
        return build_training_set(
            _arrays(searcher, with_index), list(community.store.documents()), embedder, cache, settings
        )
    finally:
        cache.close()


def test_rows_bounded_while_made_are_the_rows_bounded_afterwards(coffee, embedder):
    """Bounding each question's rows as it is made (what lets a million-passage build hold its
    training set) keeps exactly the rows bounding the whole set keeps, and the held-out latest
    questions keep every candidate, as learn_ranker ranks them."""
    settings = coffee.settings.with_overrides(learned_negatives=4)
    bounded = _training(coffee, embedder, settings, with_index=False)
    full = _training(coffee, embedder, settings.with_overrides(learned_negatives=0), with_index=False)
    assert bounded.n_questions == full.n_questions >= 10
    n_fit = full.n_questions - validation_size(full.n_questions, settings)
    fit, held = np.arange(n_fit), np.arange(n_fit, full.n_questions)
    expected = bounded_rows(full.subset(fit), 4, settings.learned_hard_negative_share, settings.learned_sample_seed)
    got = bounded.subset(fit)
    assert len(got.labels) < len(full.subset(fit).labels)  # something was left out
    for name in ("features", "labels", "group", "default", "members"):
        assert np.array_equal(getattr(got, name), getattr(expected, name)), name
    for name in ("features", "labels", "members"):
        assert np.array_equal(getattr(bounded.subset(held), name), getattr(full.subset(held), name)), name


def test_past_the_passage_limit_training_questions_are_matched_as_served_queries(coffee, embedder):
    """Above learned_training_passages a question is matched as serving matches a query: its
    dense_top_k nearest passages among those that existed then (one batched search of the
    snapshot's index per serving block, through an id selector) and its sparse_top_k best by
    BM25, not a scan of every vector per question. Same questions and candidates either way."""
    searcher, _ = coffee.current_searcher()
    corpus, limit, k = searcher.corpus, 64, 16
    assert corpus.n_passages > limit
    settings = coffee.settings.with_overrides(
        learned_training_passages=limit, learned_negatives=0, dense_top_k=k, sparse_top_k=k
    )
    scanned = _training(coffee, embedder, settings, with_index=False)
    searched = _training(coffee, embedder, settings, with_index=True)
    assert [q.doc for q in searched.questions] == [q.doc for q in scanned.questions]
    assert np.array_equal(searched.labels, scanned.labels) and np.array_equal(searched.members, scanned.members)
    # The passages of each question: exactly the brute-force ones (the coffee index is exact).
    windows = [embedder.encode([f"question {i}", f"other window {i}"]) for i in range(3)]
    moments = [float(np.nanmedian(corpus.doc_days))] * 2 + [float(np.nanmax(corpus.doc_days))]
    hits = _dense_hits(searcher.dense, corpus, windows, moments, k)
    vectors = np.asarray(searcher.passage_vectors)
    for found, window, moment in zip(hits, windows, moments):
        before = passages_before(corpus, moment)
        assert before.sum() > limit
        cos = np.where(before[None, :], window @ vectors.T, -np.inf)
        assert [set(row) for row in found] == [set(np.argsort(-row)[:k]) for row in cos]
        # Any BM25 scores (0 for passages of a later moment, as scores_among gives): the k best.
        bm25 = np.where(before & (np.arange(len(before)) % 3 > 0), np.random.default_rng(0).random(len(before)), 0.0)
        present = _searched_passages(found, before, bm25, limit, k)
        best_bm25 = np.argsort(-bm25)[:k]
        assert set(present) == set(found.ravel()) | set(best_bm25) and before[present].all()


def test_builds_keep_the_ranker_while_the_history_barely_moved(coffee_built, tmp_path, embedder):
    """The ranker is a trained model like the IVF lists: a build (incremental or full) keeps the
    current one while the answered past questions moved by less than learned_refit_share and
    no setting changed; a new answered question past that share, another setting, or
    --retrain refits it."""
    community = open_community(private_copy(coffee_built, tmp_path / "data"), embedder)
    community.settings = community.settings.with_overrides(learned_min_questions=10, learned_choices=("learned",))
    first = community.build_index()  # settings changed since coffee_built: refitted
    assert "kept" not in first_report(community) and (first.path / LEARNED_RANKER).is_file()
    trained_on = first_report(community)["history_questions"]
    searcher, _ = community.current_searcher()
    parents = History.of(list(community.store.documents())).doc_parent
    assert trained_on == len(past_questions(searcher.corpus, parents)) == answered_questions(searcher.corpus, parents)
    member = community.store.members()[0]["id"]
    practice = {"id": "zz-practice", "kind": "practice", "title": "Descaling with citric acid",
                "body": "Run citric acid through the boiler, then flush.", "authors": [member]}  # fmt: skip
    community.import_records(documents=[practice])
    derived = community.build_index()
    assert derived.mode == "incremental"
    kept = first_report(community)
    assert kept["kept"] == {"from": first.version, "history_questions": trained_on}, kept
    assert (derived.path / LEARNED_RANKER).read_bytes() == (first.path / LEARNED_RANKER).read_bytes()
    assert "kept from snapshot" in describe_ranker(kept)
    rebuilt = community.build_index(full=True)  # a full rebuild keeps it too: both answer alike
    assert rebuilt.mode == "full" and first_report(community)["kept"]["from"] == derived.version
    # Two answered questions: past learned_refit_share (5% of 38), so the next build refits.
    asker = community.store.members()[1]["id"]
    new_threads = []
    for n in range(2):
        new_threads += [
            {"id": f"zz-q{n}", "kind": "question", "title": f"Why is espresso {n} sour?", "authors": [asker],
             "body": "Shots run fast and taste sour.", "created_at": f"2030-01-0{n + 1}T00:00:00Z"},
            {"id": f"zz-a{n}", "kind": "answer", "parent_id": f"zz-q{n}", "body": "Grind finer.",
             "authors": [member], "created_at": f"2030-01-0{n + 1}T12:00:00Z"},
        ]  # fmt: skip
    community.import_records(documents=new_threads)
    community.build_index()
    refit = first_report(community)
    assert "kept" not in refit and refit["history_questions"] == trained_on + 2, refit.get("kept")
    community.settings = community.settings.with_overrides(learned_regularisation=0.02)
    community.build_index()
    assert "kept" not in first_report(community)  # another setting: refitted
    community.build_index(retrain=True)
    assert "kept" not in first_report(community) and community.index_status()["manifest"]["counts"]
    community.close()


def first_report(community) -> dict:
    return community.index_status()["manifest"]["ranker"]
