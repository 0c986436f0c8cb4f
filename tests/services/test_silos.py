"""The interaction graph and silos: imported, or inferred (and stored with how)."""

from __future__ import annotations

from collections import Counter

import networkx as nx
import pytest

from copmatch.errors import ConflictError
from copmatch.services.graph import ANSWERED, COAUTHORED, SAME_THREAD, build_graph, interactions, load_graph
from copmatch.services.silos import ensure_silos, infer_and_store, infer_silos, needs_inference
from copmatch.settings import Settings
from copmatch.store.records import Contribution, Document, ImportBatch, Member
from copmatch.store.store import Store


def test_interactions_of_the_tiny_corpus(tiny):
    found = {(i.a, i.b, i.kind) for i in interactions(tiny.store.document_facts(), tiny.store.contributions())}
    assert ("ana", "ask", ANSWERED) in found  # ana answered ask's q1
    assert ("ana", "lab", COAUTHORED) in found  # pub1
    assert ("ana", "gen", SAME_THREAD) in found  # both answered q1
    graph = load_graph(tiny.store)
    assert graph.ties.has_edge("ana", "ask") and graph.ties.has_edge("ana", "lab")
    assert not graph.ties.has_edge("ana", "gen")  # answering one thread is not a tie ...
    assert graph.have_met("gen", "ana")  # ... but they have met
    assert graph.ties.degree("cold") == 0 and "cold" in graph.ties
    assert graph.ties["ask"]["gen"]["weight"] == 4  # gen answered all four of ask's questions


def two_cliques_and_a_loner() -> tuple[list[str], list]:
    left, right = ["a1", "a2", "a3", "a4"], ["b1", "b2", "b3", "b4"]
    docs, contributions = [], []
    for group in (left, right):
        for i, asker in enumerate(group):
            for answerer in group[i + 1 :]:
                q, a = f"q-{asker}-{answerer}", f"a-{asker}-{answerer}"
                docs += [
                    Document(q, "question", "body", tags=(group[0][0] + "-topic",)),
                    Document(a, "answer", "b", parent_id=q),
                ]
                contributions += [Contribution(asker, q, "asker"), Contribution(answerer, a, "answerer")]
    docs += [Document("q-x", "question", "body"), Document("a-x", "answer", "b", parent_id="q-x")]
    contributions += [Contribution("a1", "q-x", "asker"), Contribution("b1", "a-x", "answerer")]  # one bridge
    return [*left, *right, "loner"], (docs, contributions)


@pytest.fixture
def dump_like_store(tmp_path):
    members, (docs, contributions) = two_cliques_and_a_loner()
    store = Store(tmp_path / "copmatch.sqlite")
    store.import_batch(ImportBatch([Member(m, m.upper()) for m in members], docs, contributions, source="t"))
    yield store
    store.close()


def test_inferred_silos_are_the_graph_communities_and_recorded(dump_like_store):
    settings = Settings()
    assert needs_inference(dump_like_store)
    summary = infer_and_store(dump_like_store, settings)
    silo = {m["id"]: m["silo"] for m in dump_like_store.members()}
    assert len({silo[m] for m in ("a1", "a2", "a3", "a4")}) == 1
    assert len({silo[m] for m in ("b1", "b2", "b3", "b4")}) == 1
    assert silo["a1"] != silo["b1"]
    assert silo["loner"] is None  # no ties: no community to belong to
    assert silo["a1"].endswith("a-topic") or silo["b1"].endswith("b-topic")  # named by typical tags
    sources = {m["silo_source"] for m in dump_like_store.members()}
    assert sources == {"inferred:louvain(seed=0,resolution=1.0)"}
    assert summary.unassigned == 1 and sorted(summary.silos.values()) == [4, 4]
    assert not needs_inference(dump_like_store)


def test_inference_is_deterministic():
    members, (docs, contributions) = two_cliques_and_a_loner()
    facts = [{"id": d.id, "kind": d.kind, "parent_id": d.parent_id} for d in docs]
    rows = [(c.member_id, c.document_id, c.role) for c in contributions]
    graph = build_graph(members, interactions(facts, rows)).ties
    runs = [infer_silos(nx.Graph(graph), {}, Settings()) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]


def test_imported_silos_are_never_overwritten(tiny):
    before = {m["id"]: (m["silo"], m["silo_source"]) for m in tiny.store.members()}
    assert not needs_inference(tiny.store)
    ensure_silos(tiny.store, Settings())  # a no-op with imported silos
    with pytest.raises(ConflictError, match="were imported"):
        tiny.infer_silos()
    assert {m["id"]: (m["silo"], m["silo_source"]) for m in tiny.store.members()} == before
    assert Counter(s for s, _ in before.values())["Field Operations"] == 2
    assert tiny.silos().source == "import"


def test_new_members_trigger_inference_again(dump_like_store):
    settings = Settings()
    ensure_silos(dump_like_store, settings)
    dump_like_store.import_batch(ImportBatch([Member("newbie", "NEWBIE")], source="t2"))
    assert needs_inference(dump_like_store)
    ensure_silos(dump_like_store, settings)
    assert not needs_inference(dump_like_store)
