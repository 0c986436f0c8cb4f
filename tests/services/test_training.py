"""The training set a build learns from, made the way a large community needs it: rows bounded
as they are made, and training questions searched in the snapshot's index past a limit."""

from __future__ import annotations

import numpy as np
import pytest

from copmatch.cli.index import describe_ranker
from copmatch.embedding.cache import EmbeddingCache
from copmatch.index.snapshot import LEARNED_RANKER
from copmatch.ranking.learned import bounded_rows
from copmatch.services.training import SnapshotArrays, build_training_set, validation_size
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


def test_past_the_passage_limit_training_questions_search_the_index(coffee, embedder):
    """Above learned_training_passages a question's closest passages come from one batched
    search of the snapshot's index (as serving finds them) instead of a scan per question: the
    same questions and labels, features of nearly the same passages."""
    searcher, _ = coffee.current_searcher()
    limit = 64
    assert searcher.corpus.n_passages > limit
    settings = coffee.settings.with_overrides(learned_training_passages=limit, learned_negatives=0)
    scanned = _training(coffee, embedder, settings, with_index=False)
    searched = _training(coffee, embedder, settings, with_index=True)
    assert [q.doc for q in searched.questions] == [q.doc for q in scanned.questions]
    assert np.array_equal(searched.labels, scanned.labels) and np.array_equal(searched.members, scanned.members)
    # The exact index returns each window's nearest: with one window per question, the cosine
    # half is the scan's; the default formula's scores then agree for nearly every row.
    close = np.isclose(searched.default, scanned.default, rtol=1e-4, atol=1e-6)
    assert close.mean() > 0.99, close.mean()


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
