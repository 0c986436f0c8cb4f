"""Incremental builds: a snapshot derived from the previous one answers exactly as a full rebuild."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

import faiss
import numpy as np
import pytest

from copmatch.errors import NotFoundError
from copmatch.index.snapshot import BM25_DIR, CORPUS, LEARNED_RANKER, PASSAGE_VECTORS, PASSAGES_FAISS
from copmatch.index.term_counts import TermCounts
from copmatch.index.texts import TextReader, derive_texts, write_texts
from copmatch.ranking.corpus import Corpus
from copmatch.services.incremental import RowPlan, update_ivf
from tests.conftest import private_copy
from tests.support import open_community

QUERIES = ["pump vibration after a bearing change", "chlorine residual in the network", "SCADA alarm flood", "billing"]


def _changes(community) -> None:
    """New documents (one answering an existing question), a retitled question, two deletions,
    a new member and a changed bio: every kind of change a derived build must carry."""
    community.import_records(
        members=[
            {"id": "new", "name": "Nadia New", "silo": "Laboratory", "bio": "Corrosion coupons and pipe inspection."},
            {"id": "lab", "name": "Lars Lab", "silo": "Laboratory", "bio": "Chlorine decay modelling in networks."},
        ],
        documents=[
            {
                "id": "a8",
                "kind": "answer",
                "parent_id": "q2",
                "body": "Model chlorine decay per pipe material; cast iron mains eat residual fastest.",
                "authors": ["new"],
                "accepted": True,
                "created_at": "2025-06-01T08:00:00Z",
            },
            {
                "id": "p9",
                "kind": "practice",
                "title": "Corrosion coupon inspection",
                "body": "Weigh coupons before and after ninety days; pitting depth tells more than mass loss.",
                "authors": ["new"],
            },
            {
                "id": "q1",
                "kind": "question",
                "title": "Booster pump shakes after new bearings were fitted",
                "body": "Since we replaced the bearings on booster pump 3 the vibration readings doubled.",
                "authors": ["ask"],
                "created_at": "2025-03-01T08:00:00Z",
            },
        ],
    )
    community.delete_documents(["a6", "p2"])


def _answers(community) -> dict:
    experts = {q: [asdict(e) for e in community.find_experts(q, limit=6)] for q in QUERIES}
    practices = {q: [asdict(p) for p in community.practices(q, limit=6)] for q in QUERIES}
    return {"experts": experts, "practices": practices}


def test_derived_snapshot_answers_as_a_full_rebuild(tiny):
    _changes(tiny)
    derived = tiny.build_index()
    assert derived.mode == "incremental"
    # q1 was retitled, so its answers (indexed under its title) were re-chunked too.
    assert derived.changed_documents == len({"a8", "p9", "q1", "a1", "a2", "a6", "p2"})
    incremental = _answers(tiny)
    rebuilt = tiny.build_index(full=True)
    assert rebuilt.mode == "full" and rebuilt.encoded == 0
    assert _answers(tiny) == incremental

    # The snapshots hold the same arrays, not merely the same top results.
    a, b = Corpus.load(derived.path / CORPUS), Corpus.load(rebuilt.path / CORPUS)
    assert a.doc_titles.tolist() == b.doc_titles.tolist()
    for field in fields(Corpus):
        if field.name != "doc_titles":
            x, y = getattr(a, field.name), getattr(b, field.name)
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), field.name
    assert np.array_equal(np.load(derived.path / PASSAGE_VECTORS), np.load(rebuilt.path / PASSAGE_VECTORS))
    counts_a, counts_b = TermCounts.load(derived.path / BM25_DIR), TermCounts.load(rebuilt.path / BM25_DIR)
    terms_a = {t: (counts_a.rows[counts_a.indptr[i] : counts_a.indptr[i + 1]]) for t, i in counts_a.vocab.items()}
    for term, i in counts_b.vocab.items():
        assert np.array_equal(terms_a[term], counts_b.rows[counts_b.indptr[i] : counts_b.indptr[i + 1]]), term


def _ranker(snapshot) -> dict:
    """A saved learned ranker without its timings (fit_s, refit_s, build_s)."""
    saved = json.loads((snapshot / LEARNED_RANKER).read_text())
    report = saved.get("report", {})
    for timing in [k for k in report if k.endswith("_s")]:
        report.pop(timing)
    return saved


def test_derived_build_learns_the_ranker_and_feedback_a_full_rebuild_does(coffee_built, tmp_path, embedder):
    """The learned ranker is retrained by a derived build exactly as a full build trains it, and
    helpful feedback (evidence that lives outside the documents table) is added like a document."""
    community = open_community(private_copy(coffee_built, tmp_path / "data"), embedder)
    # A ranker is learned and served even from this slice of the dump (its 40 questions).
    community.settings = community.settings.with_overrides(learned_min_questions=10, learned_choices=("learned",))
    answers = sorted({d for _, d, role in community.store.contributions() if role == "answerer"})
    member = community.store.members()[0]["id"]
    community.delete_documents(answers[:3])
    community.record_feedback("how fine should the grind be for a moka pot", member, helpful=True)
    derived = community.build_index()
    assert derived.mode == "incremental" and derived.changed_documents >= 4
    queries = ["how fine should the grind be for a moka pot", "descaling an espresso machine", "cold brew ratio"]
    incremental = {q: [asdict(e) for e in community.find_experts(q, limit=5)] for q in queries}
    searcher, _ = community.current_searcher()
    assert searcher.document_row("feedback:1") is not None
    rebuilt = community.build_index(full=True)
    assert rebuilt.mode == "full"
    assert _ranker(derived.path) == _ranker(rebuilt.path)
    assert {q: [asdict(e) for e in community.find_experts(q, limit=5)] for q in queries} == incremental
    community.close()


def test_deleted_documents_are_gone_from_every_result(tiny):
    before = {e.document_id for x in tiny.find_experts("chlorine disinfection by-products") for e in x.evidence}
    assert "p2" in before
    tiny.delete_documents(["p2", "a6"])
    tiny.build_index()
    searcher, _ = tiny.current_searcher()
    assert searcher.document_row("p2") is None and searcher.document_row("a6") is None
    for query in ("chlorine disinfection by-products", "alarms turn some off", "THM samples amber vials"):
        assert {e.document_id for x in tiny.find_experts(query) for e in x.evidence}.isdisjoint({"p2", "a6"})
        assert {p.document_id for p in tiny.practices(query)}.isdisjoint({"p2", "a6"})
    assert tiny.store.counts()["passages"] == searcher.corpus.n_passages


def test_unchanged_store_derives_an_identical_snapshot_without_encoding(tiny):
    before = _answers(tiny)
    report = tiny.build_index()
    assert report.mode == "incremental" and report.changed_documents == 0 and report.encoded == 0
    assert _answers(tiny) == before


def test_delete_documents_is_all_or_nothing(tiny):
    revision = tiny.store.revision()
    with pytest.raises(NotFoundError) as raised:
        tiny.delete_documents(["a1", "nope"])
    assert "nope" in raised.value.message
    assert tiny.store.get_document("a1")["id"] == "a1" and tiny.store.revision() == revision
    assert tiny.delete_documents(["a1"]) == 1
    assert tiny.store.revision() == revision + 1
    assert tiny.store.changed_document_ids(revision) == {"a1"}
    with pytest.raises(NotFoundError):
        tiny.store.get_document("a1")


def test_ivf_update_in_place_equals_adding_everything_to_the_same_lists():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    trained = faiss.index_factory(16, "IVF16,SQ8", faiss.METRIC_INNER_PRODUCT)
    trained.train(vectors)
    old = faiss.clone_index(trained)
    old.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))

    keep = rng.random(len(vectors)) > 0.1
    added = rng.standard_normal((200, 16)).astype(np.float32)
    added /= np.linalg.norm(added, axis=1, keepdims=True)
    kept = np.flatnonzero(keep)
    plan = RowPlan.merge(keep, kept.astype(float), np.sort(rng.choice(len(vectors), 200, replace=False)) + 0.5)
    update_ivf(old, plan.old_to_new, plan.added_new, added)

    expected = np.zeros((plan.size, 16), dtype=np.float32)
    expected[plan.kept_new], expected[plan.added_new] = vectors[kept], added
    fresh = faiss.clone_index(trained)
    fresh.add_with_ids(expected, np.arange(plan.size, dtype=np.int64))
    for index in (old, fresh):
        faiss.extract_index_ivf(index).nprobe = 4
    queries = expected[rng.choice(plan.size, 50, replace=False)]
    (score_a, ids_a), (score_b, ids_b) = old.search(queries, 10), fresh.search(queries, 10)
    assert np.array_equal(ids_a, ids_b) and np.array_equal(score_a, score_b)


def test_term_counts_derived_equal_counted_afresh():
    rng = np.random.default_rng(5)
    words = ["pump", "pumps", "vibration", "alarm", "chlorine", "the", "seal", "bearing", "dosing", "SCADA"]
    old = [" ".join(rng.choice(words, rng.integers(0, 12))) for _ in range(300)]
    keep = rng.random(len(old)) > 0.2
    new = [" ".join(rng.choice(words + ["novel", "terms"], rng.integers(0, 12))) for _ in range(40)]
    kept = np.flatnonzero(keep)
    plan = RowPlan.merge(keep, kept.astype(float), np.sort(rng.uniform(0, len(old), len(new))))
    texts = [""] * plan.size
    for row, i in zip(plan.kept_new, kept):
        texts[row] = old[i]
    for row, text in zip(plan.added_new, new):
        texts[row] = text
    derived = TermCounts.from_texts(old).derive(plan.old_to_new, plan.size, plan.added_new, new)
    afresh = TermCounts.from_texts(texts)
    assert np.array_equal(derived.lengths, afresh.lengths)
    scores_d = dict(zip(zip(derived.terms().tolist(), derived.rows.tolist()), derived.scores().tolist()))
    scores_f = dict(zip(zip(afresh.terms().tolist(), afresh.rows.tolist()), afresh.scores().tolist()))
    by_term_d = {
        (term, row): scores_d[(i, row)] for term, i in derived.vocab.items() for (j, row) in scores_d if j == i
    }
    by_term_f = {(term, row): scores_f[(i, row)] for term, i in afresh.vocab.items() for (j, row) in scores_f if j == i}
    assert by_term_d == by_term_f


def test_passage_texts_derive_in_runs(tmp_path):
    old = ["alpha", "béta", "", "gamma", "delta 日本"]
    write_texts(tmp_path / "old.bin", tmp_path / "old.npy", old)
    reader = TextReader(tmp_path / "old.bin", tmp_path / "old.npy")
    source = np.array([0, -1, 1, 3, -2, -3, 4])
    derive_texts(reader, source, ["new one", "x", "zwei"], tmp_path / "new.bin", tmp_path / "new.npy")
    derived = TextReader(tmp_path / "new.bin", tmp_path / "new.npy")
    assert derived.texts(range(7)) == dict(enumerate(["alpha", "new one", "béta", "gamma", "x", "zwei", "delta 日本"]))
    reader.close()
    derived.close()


def test_a_store_older_than_the_snapshot_gets_a_full_build(tiny):
    tiny.delete_documents(["a6"])
    tiny.build_index()
    # As if the database were restored from a backup taken before the last build.
    tiny.store.db.execute("UPDATE store_revision SET revision = 0")
    tiny.store.db.conn.commit()
    assert tiny.build_index().mode == "full"


def _ivf_lists(snapshot) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ids, codes) of every inverted list of a snapshot's IVF index."""
    index = faiss.read_index(str(snapshot / PASSAGES_FAISS))
    invlists = faiss.extract_index_ivf(index).invlists
    out = []
    for list_no in range(invlists.nlist):
        size = invlists.list_size(list_no)
        ids = faiss.rev_swig_ptr(invlists.get_ids(list_no), size).copy() if size else np.zeros(0, np.int64)
        codes = faiss.rev_swig_ptr(invlists.get_codes(list_no), size * invlists.code_size).copy() if size else b""
        out.append((ids, np.asarray(codes)))
    return out


def test_an_ivf_snapshot_derived_answers_as_a_full_rebuild(coffee_built, tmp_path, embedder):
    """Above exact_index_max, with the learned ranker serving: a derived build keeps the IVF
    lists and a full rebuild reuses them, so both lay out the same index (every list in id
    order, the same codes) and answer alike, down to the scores and evidence."""
    community = open_community(private_copy(coffee_built, tmp_path / "data"), embedder)
    community.settings = community.settings.with_overrides(
        exact_index_max=50, learned_min_questions=10, learned_choices=("learned",)
    )
    first = community.build_index()  # flat -> IVF: lists trained afresh
    assert community.index_status()["manifest"]["dense"]["passages"]["kind"] == "ivf_sq8"
    answers = sorted({d for _, d, role in community.store.contributions() if role == "answerer"})
    community.delete_documents(answers[::7])
    community.import_records(
        documents=[
            {"id": "zz-new-1", "kind": "practice", "title": "Descaling with citric acid",
             "body": "Run a 5% citric acid solution through the boiler, then flush twice with clean water.",
             "authors": [community.store.members()[0]["id"]]},
        ],
    )  # fmt: skip
    derived = community.build_index()
    assert derived.mode == "incremental" and first.mode == "incremental"
    searcher, _ = community.current_searcher()
    assert searcher.ranker is not None and not searcher._exact_scan
    queries = ["how fine should the grind be for a moka pot", "descaling an espresso machine", "cold brew ratio"]
    incremental = {q: [asdict(e) for e in community.find_experts(q, limit=5)] for q in queries}
    rebuilt = community.build_index(full=True)
    assert rebuilt.mode == "full"
    assert {q: [asdict(e) for e in community.find_experts(q, limit=5)] for q in queries} == incremental
    a, b = _ivf_lists(derived.path), _ivf_lists(rebuilt.path)
    assert len(a) == len(b) > 1
    for (ids_a, codes_a), (ids_b, codes_b) in zip(a, b):
        assert np.array_equal(ids_a, ids_b) and np.array_equal(codes_a, codes_b)
        assert np.all(np.diff(ids_a) > 0)
    community.close()
