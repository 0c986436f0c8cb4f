"""Related practice on the sample community: one result per document, diverse, filterable."""

from __future__ import annotations

import numpy as np
import pytest

from copmatch.errors import InvalidQueryError, NotFoundError
from copmatch.services.practices import mmr

DRONE_QUESTIONS = {"d0244", "d0285", "d0299", "d0321"}


def ids(found) -> list[str]:
    return [p.document_id for p in found]


def test_practice_and_answered_questions_on_the_topic(sample_built):
    found = sample_built.practices("chlorine residual dropping at the far end of the network", limit=5)
    assert {"d0073", "d0310"} <= set(ids(found[:3]))  # m004's practice and the dead-end question
    assert len(set(ids(found))) == len(found)  # one result per document
    assert {p.kind for p in found} <= {"practice", "publication", "question"}  # answers count for their question
    question = next(p for p in found if p.document_id == "d0310")
    assert question.answers >= 1 and question.matched_document_id in {"d0310", "d0311"}
    assert all(p.snippet and 0 < p.score <= 1 for p in found)
    assert [p.score for p in found[:2]] == sorted((p.score for p in found[:2]), reverse=True)


def test_unanswered_questions_are_not_existing_practice(sample_built):
    found = sample_built.practices("drone LiDAR survey of reservoir embankments", limit=10)
    assert not DRONE_QUESTIONS & set(ids(found))


def test_filter_by_kind(sample_built):
    found = sample_built.practices("pump vibration analysis", kinds=["practice"], limit=5)
    assert found and {p.kind for p in found} == {"practice"}
    assert "d0156" in ids(found)  # m011's vibration practice


def test_like_a_document_excludes_its_own_thread(sample_built):
    found = sample_built.practices(like="d0310", limit=5)
    assert "d0310" not in ids(found)
    assert "d0311" not in {p.matched_document_id for p in found}  # its own answer
    assert "d0073" in ids(found)  # the practice for exactly that problem


def test_bad_requests_are_clear_errors(sample_built):
    with pytest.raises(InvalidQueryError, match="Unknown document kind"):
        sample_built.practices("pumps", kinds=["memo"])
    with pytest.raises(InvalidQueryError, match=r"a text or a document to match \(got both\)"):
        sample_built.practices("pumps", like="d0073")
    with pytest.raises(InvalidQueryError, match=r"\(got neither\)"):
        sample_built.practices()
    with pytest.raises(InvalidQueryError, match="limit must be between 1 and"):
        sample_built.practices("pumps", limit=-5)
    with pytest.raises(NotFoundError, match="d9999"):
        sample_built.practices(like="d9999")


def test_mmr_prefers_a_distinct_document_over_a_near_duplicate():
    vectors = np.array([[1.0, 0.0], [0.999, 0.045], [0.0, 1.0]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    relevance = np.array([0.9, 0.88, 0.6])
    assert mmr(relevance, vectors, 2, trade_off=0.7) == [0, 2]
    assert mmr(relevance, vectors, 3, trade_off=1.0) == [0, 1, 2]  # pure relevance


def test_document_vectors_of_some_rows_read_only_those_and_agree_with_all(sample_built, tmp_path):
    """Related practice asks for its few candidates' vectors on every query; they must be the
    same as the whole-corpus ones, also when the snapshot's vectors are read row by row."""
    from copmatch.index.vectors import RowReader

    searcher, _ = sample_built.current_searcher()
    everything = searcher.document_vectors()
    rows = np.array([7, 0, 3, 3, searcher.corpus.n_docs - 1])  # any order, repeats allowed
    np.testing.assert_allclose(searcher.document_vectors(rows), everything[rows], atol=1e-6)
    in_memory = searcher.passage_vectors
    np.save(tmp_path / "v.npy", in_memory)
    searcher.passage_vectors = RowReader(tmp_path / "v.npy")
    try:
        np.testing.assert_allclose(searcher.document_vectors(rows), everything[rows], atol=1e-6)
    finally:
        searcher.passage_vectors.close()
        searcher.passage_vectors = in_memory
