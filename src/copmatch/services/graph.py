"""The interaction graph: who has dealt with whom, read from contributions.

A *tie* is an answerer and the asker of the question they answered, or two co-authors of
one document. Answering the same question as someone is weaker: it counts as having
met (an introduction would be pointless) but not as a tie in the community's structure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from copmatch.store.store import Store

ANSWERED, COAUTHORED, SAME_THREAD = "answered", "coauthored", "same_thread"
TIE_KINDS = (ANSWERED, COAUTHORED)


def pair(a: str, b: str) -> tuple[str, str]:
    """A pair of members in canonical (sorted) order."""
    return (a, b) if a < b else (b, a)


@dataclass(frozen=True)
class Interaction:
    a: str
    b: str
    kind: str
    document_id: str  # the answer, the co-authored document, or the second answer in a thread


def interactions(documents: Iterable[dict], contributions: Iterable[tuple[str, str, str]]) -> list[Interaction]:
    """Every pairwise interaction, one per (pair, kind, document).

    ``documents`` need ``id``, ``kind`` and ``parent_id``; ``contributions`` are
    (member_id, document_id, role) rows as the store returns them.
    """
    documents = list(documents)
    members_of: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for member_id, document_id, role in contributions:
        members_of[document_id].append((member_id, role))
    found: list[Interaction] = []
    answers_of: dict[str, list[str]] = defaultdict(list)
    for doc in documents:
        people = sorted({m for m, _ in members_of.get(doc["id"], ())})
        found += [
            Interaction(*pair(a, b), COAUTHORED, doc["id"]) for i, a in enumerate(people) for b in people[i + 1 :]
        ]
        if doc["kind"] == "answer" and doc.get("parent_id"):
            answers_of[doc["parent_id"]].append(doc["id"])
    for question_id, answer_ids in answers_of.items():
        askers = {m for m, role in members_of.get(question_id, ()) if role == "asker"}
        seen: set[str] = set()
        for answer_id in answer_ids:
            answerers = {m for m, role in members_of.get(answer_id, ()) if role == "answerer"}
            found += [
                Interaction(*pair(asker, answerer), ANSWERED, answer_id)
                for asker in askers
                for answerer in answerers
                if asker != answerer
            ]
            found += [
                Interaction(*pair(earlier, answerer), SAME_THREAD, answer_id)
                for earlier in seen
                for answerer in answerers
                if earlier != answerer
            ]
            seen |= answerers
    return found


@dataclass(frozen=True)
class InteractionGraph:
    ties: nx.Graph  # every member a node; edge weight = number of tie interactions
    met: frozenset[tuple[str, str]]  # canonical pairs that interacted in any way

    def have_met(self, a: str, b: str) -> bool:
        return pair(a, b) in self.met


def build_graph(member_ids: Iterable[str], found: Iterable[Interaction]) -> InteractionGraph:
    graph = nx.Graph()
    graph.add_nodes_from(member_ids)
    met: set[tuple[str, str]] = set()
    for item in found:
        met.add((item.a, item.b))
        if item.kind not in TIE_KINDS or item.a not in graph or item.b not in graph:
            continue
        if graph.has_edge(item.a, item.b):
            graph[item.a][item.b]["weight"] += 1
        else:
            graph.add_edge(item.a, item.b, weight=1)
    return InteractionGraph(graph, frozenset(met))


def load_graph(store: Store) -> InteractionGraph:
    """The interaction graph of everything in the store."""
    members = [m["id"] for m in store.members()]
    return build_graph(members, interactions(store.document_facts(), store.contributions()))
