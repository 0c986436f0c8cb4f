"""Expert finding on the tiny corpus (experts known by eye) and on the sample community."""

from __future__ import annotations

from collections import Counter

import pytest

from copmatch.errors import InvalidQueryError
from copmatch.services.experts import ExpertQuery
from tests.conftest import private_copy
from tests.support import open_community


def ids(experts):
    return [e.member_id for e in experts]


def test_the_right_expert_comes_first(tiny):
    assert ids(tiny.find_experts("my pump shakes after we replaced the bearings", limit=3))[0] == "ana"
    assert ids(tiny.find_experts("free chlorine residual is too low at dead ends", limit=3))[0] == "lab"


def test_cold_start_member_is_found_through_the_profile(tiny):
    experts = tiny.find_experts("pressure surges and water hammer when a valve closes fast", limit=3)
    assert experts[0].member_id == "cold"
    assert experts[0].content == 0 and experts[0].profile > 0
    assert experts[0].evidence == []


def test_evidence_is_the_documents_that_drove_the_score(tiny):
    top = tiny.find_experts("laser shaft alignment of pump and motor", limit=1)[0]
    assert top.member_id == "ana"
    assert top.evidence and top.evidence[0].document_id in {"p1", "a1"}
    assert all(ev.snippet for ev in top.evidence)
    # Evidence is listed best first, with the role the member played.
    assert [ev.score for ev in top.evidence] == sorted((ev.score for ev in top.evidence), reverse=True)
    assert {ev.role for ev in top.evidence} <= {"accepted answer", "answer", "author"}


def test_opted_out_member_is_never_returned(tiny):
    question = "SCADA alarm flood, how to rationalise alarms"
    assert "shy" not in ids(tiny.find_experts(question, limit=10))
    assert "shy" not in ids(tiny.find_experts(question, candidates=["shy", "gen"]))


def test_exclude_removes_a_member(tiny):
    assert "ana" not in ids(tiny.find_experts("pump vibration", exclude=["ana"], limit=10))


def test_candidates_are_all_returned_scored_and_only_them(tiny):
    experts = tiny.find_experts("pump vibration", candidates=["gen", "lab", "ask", "cold"], limit=1)
    assert sorted(ids(experts)) == ["ask", "cold", "gen", "lab"]
    scores = [e.score for e in experts]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(s, float) for s in scores)


def test_unknown_candidate_is_an_error(tiny):
    with pytest.raises(InvalidQueryError, match="ghost"):
        tiny.find_experts("pumps", candidates=["ghost"])


def test_scores_are_comparable_across_queries(tiny):
    """One member's score for a close query is above her score for a far one."""
    close = tiny.find_experts("vibration after a bearing change on a booster pump", candidates=["ana"])[0]
    far = tiny.find_experts("customer disputes estimated bills", candidates=["ana"])[0]
    assert close.score > far.score
    # And the reverse for the laboratory chemist.
    close_lab = tiny.find_experts("vials and quenching for trihalomethane samples", candidates=["lab"])[0]
    far_lab = tiny.find_experts("customer disputes estimated bills", candidates=["lab"])[0]
    assert close_lab.score > far_lab.score


def test_scores_do_not_depend_on_the_rest_of_the_batch(tiny):
    from copmatch import ExpertQuery

    alone = tiny.find_experts("chlorine residual", candidates=["lab"])[0].score
    batch = tiny.find_experts_batch(
        [ExpertQuery("pump vibration"), ExpertQuery("chlorine residual", candidates=["lab"])]
    )
    assert batch[1][0].score == pytest.approx(alone, abs=1e-4)


@pytest.mark.parametrize(
    ("text", "limit", "message"),
    [("", 5, "empty"), ("   ", 5, "empty"), ("pumps", 0, "limit")],
)
def test_bad_queries_are_clear_errors(tiny, text, limit, message):
    with pytest.raises(InvalidQueryError, match=message):
        tiny.find_experts(text, limit=limit)


def test_sample_community_known_experts(sample_built):
    """Every sample question's expected expert is in the top 3 for most questions, first for many."""
    from copmatch.sample import questions

    qs = questions()
    top1 = top3 = 0
    for q in qs:
        found = ids(sample_built.find_experts(q["text"], limit=3))
        top1 += found[0] == q["expected"][0]
        top3 += q["expected"][0] in found
    assert top3 / len(qs) >= 0.75, (top1, top3, len(qs))
    assert top1 / len(qs) >= 0.5, (top1, top3, len(qs))


def test_sample_cold_start_member_is_found_among_active_ones(sample_built):
    """Planted fact 3: m020 has a bio on water hammer and no documents; active members do not bury her."""
    from copmatch.sample import questions

    question = next(q for q in questions() if q["id"] == "q9")
    found = sample_built.find_experts(question["text"], limit=3)
    assert "m020" in ids(found)
    assert next(e for e in found if e.member_id == "m020").evidence == []


def test_evidence_adds_up_to_the_content_score(tiny):
    """The evidence shown is the documents that drove the score: its scores are the terms of the
    content sum, largest first (all of them when the member has few matching documents)."""
    for expert in tiny.find_experts("laser shaft alignment of pump and motor", limit=3):
        shown = sum(ev.score for ev in expert.evidence)
        assert shown <= expert.content + 1e-3
        if len(expert.evidence) < 3:
            assert shown == pytest.approx(expert.content, abs=1e-3)


def test_calibrated_scores_and_evidence_on_a_real_dump(coffee_built, tmp_path, embedder):
    """On a slice of the real coffee dump: a member's score for a question she answered beats her
    score for an unrelated one, and her evidence for it includes that answer."""
    community = open_community(private_copy(coffee_built, tmp_path / "data"), embedder)

    documents = {d["id"]: d for d in community.store.documents()}
    answerers = Counter(m for m, _, role in community.store.contributions() if role == "answerer")
    member = answerers.most_common(1)[0][0]
    answer = next(d for m, d, role in community.store.contributions() if m == member and role == "answerer")
    question = documents[documents[answer]["parent_id"]]
    close = community.find_experts(f"{question['title']}\n{question['body']}", candidates=[member])[0]
    far = community.find_experts(
        "escalation path when a customer disputes three estimated water bills", candidates=[member]
    )[0]
    assert close.score > far.score
    assert answer in {ev.document_id for ev in close.evidence}
    community.close()


def test_bm25_searched_in_the_background_gives_the_same_experts(sample_built, monkeypatch):
    """Large snapshots search BM25 on another thread while the dense search and the profile
    match run (ranking/overlap.py); forced here on the sample, the answers are the inline ones."""
    import threading

    from copmatch.ranking import retrieval
    from copmatch.sample import questions

    texts = [q["text"] for q in questions()]
    searcher, _ = sample_built.current_searcher()
    search, threads = searcher.sparse.search, []

    def recording(*args):
        threads.append(threading.current_thread())
        return search(*args)

    monkeypatch.setattr(searcher.sparse, "search", recording)
    inline = [[e.to_dict() for e in sample_built.find_experts(t, limit=10)] for t in texts]
    assert len(threads) == len(texts)  # one search a query, none repeated
    assert all(t is threading.current_thread() for t in threads)  # small: no handoff
    threads.clear()
    monkeypatch.setattr(retrieval, "LEXICAL_OVERLAP_MIN_PASSAGES", 0)
    overlapped = [[e.to_dict() for e in sample_built.find_experts(t, limit=10)] for t in texts]
    assert len(threads) == len(texts) and all(t is not threading.current_thread() for t in threads)
    assert overlapped == inline
    # A batch starts its first searches before encoding; the others start as their queries are ranked.
    threads.clear()
    batch = sample_built.find_experts_batch([ExpertQuery(t, 10) for t in texts])
    assert len(threads) == len(texts)
    assert [[e.to_dict() for e in experts] for experts in batch] == inline


def test_bm25_search_starts_before_the_query_is_encoded(sample_built, monkeypatch):
    """BM25 reads only the text, so it starts before the encoder runs (in a large snapshot it
    then runs through the encoding); inline on the sample, the order is plain to see."""
    searcher, _ = sample_built.current_searcher()
    search, encode, events = searcher.sparse.search, sample_built.serving.encode, []

    def searching(*args):
        events.append("search")
        return search(*args)

    def encoding(*args, **kwargs):
        events.append("encode")
        return encode(*args, **kwargs)

    monkeypatch.setattr(searcher.sparse, "search", searching)
    monkeypatch.setattr(sample_built.serving, "encode", encoding)
    sample_built.find_experts("filter cartridge replacement", limit=5)
    assert events == ["search", "encode"]
    events.clear()
    sample_built.practices("filter cartridge replacement", limit=5)
    assert events == ["search", "encode"]


def test_large_snapshot_overlap_reads_the_same_candidates(coffee_built, tmp_path, embedder, monkeypatch):
    """A large snapshot (IVF, vectors read from disk row by row) runs BM25 through the query's
    encoding and the profile match through the dense search; forced on a small one here,
    experts and related practice equal those of the inline path."""
    from copmatch.index.vectors import RowReader
    from copmatch.ranking import retrieval

    community = open_community(private_copy(coffee_built, tmp_path / "data"), embedder)
    community.settings = community.settings.with_overrides(exact_index_max=50)
    monkeypatch.setattr(retrieval, "open_vectors", RowReader)  # as a large snapshot's are opened
    community.build_index(full=True)  # served from the next query on
    searcher, _ = community.current_searcher()
    assert isinstance(searcher.passage_vectors, RowReader) and not searcher._exact_scan
    queries = ["how fine should the grind be for a moka pot", "descaling an espresso machine", "cold brew ratio"]

    def answers():
        return [
            ([e.to_dict() for e in community.find_experts(q, limit=10)], [p.to_dict() for p in community.practices(q)])
            for q in queries
        ]

    inline = answers()
    monkeypatch.setattr(retrieval, "LEXICAL_OVERLAP_MIN_PASSAGES", 0)
    assert answers() == inline
    community.close()
