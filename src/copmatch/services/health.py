"""Is this community healthy? The known failure modes of communities of practice, measured.

- a core group: the main k-core of the interaction graph;
- weak one-to-one ties: members with at most one tie;
- silos: the share of ties that cross silos, a silo-by-silo tie matrix, isolated silos;
- unanswered questions, and topics with demand but one or no answerers (bus factor),
  topics being communities of a nearest-neighbour graph of the questions;
- bridges: the members with the highest betweenness between silos.

Members who opted out count in every aggregate (ties, sizes, core size) but are named
nowhere: not in the core group's list, the bridges, a topic's answerers or an asker.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace

import networkx as nx
import numpy as np

from copmatch.ranking.retrieval import Searcher
from copmatch.services.graph import build_graph, interactions
from copmatch.services.knn import nearest
from copmatch.services.labels import Labeller, labeller_for
from copmatch.services.silos import summarise
from copmatch.settings import Settings
from copmatch.store.store import Store

NO_SILO = "(no silo)"


@dataclass(frozen=True)
class Topic:
    label: str
    questions: list[str]
    unanswered: int
    answerers: list[dict]  # [{member_id, name, silo, answers}], members who opted out left out
    unnamed_answerers: int = 0  # answerers who opted out: counted, never named


@dataclass(frozen=True)
class HealthReport:
    members: int
    ties: int
    silo_source: str
    silos: list[dict]  # [{silo, members, internal_ties, external_ties, external_share, isolated}]
    tie_matrix: dict  # {"silos": [...], "counts": [[...]]}, ties between (row, column) silos
    cross_silo_share: float
    core: dict  # {"k", "members": [{member_id, name, silo}]}
    weak_ties: dict  # {"at_most_one_tie", "share", "no_ties"}
    degree_counts: list[int]  # members with 0, 1, 2, ... ties
    unanswered: dict  # {"questions", "unanswered", "share", "oldest": [...]}
    thin_topics: list[Topic]  # topics with demand and at most one answerer, most asked first
    bridges: list[dict]  # [{member_id, name, silo, betweenness, silos_reached}]
    findings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def community_health(store: Store, searcher: Searcher, settings: Settings) -> HealthReport:
    hidden = store.opted_out()
    members = {m["id"]: m for m in store.members()}
    facts = store.document_facts()
    contributions = store.contributions()
    graph = build_graph(members, interactions(facts, contributions)).ties
    silo_of = {m: members[m]["silo"] or NO_SILO for m in graph}
    labeller = labeller_for(searcher, store, settings)
    silos, matrix, cross_share = silo_ties(graph, silo_of, settings)
    degrees = np.array([d for _, d in graph.degree()], dtype=np.int64)
    report = HealthReport(
        members=graph.number_of_nodes(),
        ties=graph.number_of_edges(),
        silo_source=summarise(store).source,
        silos=silos,
        tie_matrix=matrix,
        cross_silo_share=cross_share,
        core=core_group(graph, members),
        weak_ties={
            "at_most_one_tie": int((degrees <= 1).sum()),
            "share": round(float((degrees <= 1).mean()) if len(degrees) else 0.0, 4),
            "no_ties": int((degrees == 0).sum()),
        },
        degree_counts=np.bincount(degrees).tolist() if len(degrees) else [],
        unanswered=unanswered_questions(facts, contributions, members),
        thin_topics=thin_topics(searcher, facts, contributions, members, settings, labeller),
        bridges=bridges(graph, silo_of, members, settings, hidden),
    )
    named = without_members(report, hidden)
    return replace(named, findings=findings(named))


def without_members(report: HealthReport, hidden: frozenset[str]) -> HealthReport:
    """The report naming none of ``hidden`` (members who opted out); counts unchanged."""
    if not hidden:
        return report

    def named(people: list[dict]) -> list[dict]:
        return [p for p in people if p["member_id"] not in hidden]

    oldest = [{**q, "asker": None if (q["asker"] or {}).get("member_id") in hidden else q["asker"]}
              for q in report.unanswered["oldest"]]  # fmt: skip
    topics = [
        replace(t, answerers=named(t.answerers), unnamed_answerers=len(t.answerers) - len(named(t.answerers)))
        for t in report.thin_topics
    ]
    return replace(
        report,
        core={**report.core, "members": named(report.core["members"])},
        unanswered={**report.unanswered, "oldest": oldest},
        thin_topics=topics,
        bridges=named(report.bridges),
    )


def silo_ties(graph: nx.Graph, silo_of: dict[str, str], settings: Settings) -> tuple[list[dict], dict, float]:
    sizes = Counter(silo_of.values())
    names = sorted(sizes, key=lambda s: (s == NO_SILO, -sizes[s], s))
    index = {name: i for i, name in enumerate(names)}
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    for a, b in graph.edges():
        i, j = index[silo_of[a]], index[silo_of[b]]
        counts[i, j] += 1
        if i != j:
            counts[j, i] += 1
    internal = np.diag(counts)
    external = counts.sum(axis=1) - internal
    silos = []
    for i, name in enumerate(names):
        total = int(internal[i] + external[i])
        share = float(external[i]) / total if total else 0.0
        silos.append(
            {
                "silo": name,
                "members": sizes[name],
                "internal_ties": int(internal[i]),
                "external_ties": int(external[i]),
                "external_share": round(share, 4),
                # A pair or trio that only talks among itself is a weak-ties problem, not a silo.
                "isolated": name != NO_SILO
                and sizes[name] >= settings.health_min_isolated_members
                and total > 0
                and share <= settings.health_isolated_share,
            }
        )
    n_ties = graph.number_of_edges()
    cross = sum(1 for a, b in graph.edges() if silo_of[a] != silo_of[b])
    return silos, {"silos": names, "counts": counts.tolist()}, round(cross / n_ties, 4) if n_ties else 0.0


def _member(member_id: str, members: dict[str, dict]) -> dict:
    m = members.get(member_id, {})
    return {"member_id": member_id, "name": m.get("name", member_id), "silo": m.get("silo")}


def core_group(graph: nx.Graph, members: dict[str, dict]) -> dict:
    """The main core: the largest k for which some members each have k ties among themselves."""
    if graph.number_of_edges() == 0:
        return {"k": 0, "members": []}
    simple = nx.Graph(graph)
    simple.remove_edges_from(nx.selfloop_edges(simple))
    core_numbers = nx.core_number(simple)
    k = max(core_numbers.values())
    return {"k": k, "members": [_member(m, members) for m in sorted(core_numbers) if core_numbers[m] == k]}


def unanswered_questions(facts: list[dict], contributions: list, members: dict[str, dict], oldest: int = 5) -> dict:
    answered = {f["parent_id"] for f in facts if f["kind"] == "answer" and f.get("parent_id")}
    questions = [f for f in facts if f["kind"] == "question"]
    open_questions = sorted((f for f in questions if f["id"] not in answered), key=lambda f: f.get("created_at") or "")
    askers = {doc: m for m, doc, role in contributions if role == "asker"}
    return {
        "questions": len(questions),
        "unanswered": len(open_questions),
        "share": round(len(open_questions) / len(questions), 4) if questions else 0.0,
        "oldest": [
            {"document_id": f["id"], "title": f["title"], "created_at": f.get("created_at"),
             "asker": _member(askers[f["id"]], members) if f["id"] in askers else None}
            for f in open_questions[:oldest]
        ],
    }  # fmt: skip


def question_topics(vectors: np.ndarray, settings: Settings) -> list[list[int]]:
    """Groups of questions on one topic: Louvain communities of the graph linking each
    question to its nearest neighbours with cosine of at least health_topic_similarity."""
    if len(vectors) == 0:
        return []
    sims, found = nearest(vectors, vectors, settings.health_topic_neighbours + 1, settings.exact_index_max)
    rows = np.repeat(np.arange(len(vectors)), found.shape[1])
    keep = (found.ravel() >= 0) & (found.ravel() != rows) & (sims.ravel() >= settings.health_topic_similarity)
    graph = nx.Graph()
    graph.add_nodes_from(range(len(vectors)))
    graph.add_weighted_edges_from(zip(rows[keep].tolist(), found.ravel()[keep].tolist(), sims.ravel()[keep].tolist()))
    found_topics = nx.community.louvain_communities(graph, weight="weight", seed=settings.silo_seed)
    return sorted((sorted(t) for t in found_topics), key=lambda t: (-len(t), t[0]))


def thin_topics(searcher: Searcher, facts: list[dict], contributions: list, members: dict[str, dict],
                settings: Settings, labeller: Labeller) -> list[Topic]:  # fmt: skip
    """Topics asked about at least health_min_topic_questions times with at most one answerer,
    each named by the labeller (the tags, else key phrases, that distinguish its questions)."""
    corpus = searcher.corpus
    questions = np.flatnonzero(corpus.doc_kinds == "question")
    groups = question_topics(searcher.document_vectors(questions), settings)
    answers_of: dict[str, list[str]] = {}
    for f in facts:
        if f["kind"] == "answer" and f.get("parent_id"):
            answers_of.setdefault(f["parent_id"], []).append(f["id"])
    answerers_of: dict[str, list[str]] = {}
    for member_id, doc_id, role in contributions:
        if role == "answerer":
            answerers_of.setdefault(doc_id, []).append(member_id)
    topics = []
    for group in groups:
        if len(group) < settings.health_min_topic_questions:
            continue
        ids = [str(corpus.doc_ids[questions[i]]) for i in group]
        answers = Counter(m for q in ids for a in answers_of.get(q, []) for m in answerers_of.get(a, []))
        if len(answers) > 1:
            continue
        labels = labeller.describe(questions[group], settings.health_topic_labels)
        label = " / ".join(x.text for x in labels) or str(corpus.doc_titles[questions[group[0]]])
        topics.append(
            Topic(
                label=label,
                questions=ids,
                unanswered=sum(1 for q in ids if not answers_of.get(q)),
                answerers=[{**_member(m, members), "answers": n} for m, n in answers.most_common()],
            )
        )
    return sorted(topics, key=lambda t: (-len(t.questions), t.label))


def bridges(
    graph: nx.Graph,
    silo_of: dict[str, str],
    members: dict[str, dict],
    settings: Settings,
    hidden: frozenset[str] = frozenset(),
) -> list[dict]:
    """Members with the highest betweenness, with how many other silos they have ties into
    (the strongest who did not opt out)."""
    if graph.number_of_edges() == 0:
        return []
    sample = settings.health_betweenness_sample
    k = sample if graph.number_of_nodes() > sample else None
    centrality = nx.betweenness_centrality(graph, k=k, seed=settings.silo_seed)
    ranked = [m for m in sorted(centrality, key=lambda m: (-centrality[m], m)) if m not in hidden]
    ranked = ranked[: settings.health_bridges]
    return [
        {
            **_member(m, members),
            "betweenness": round(centrality[m], 4),
            "silos_reached": len({silo_of[n] for n in graph[m]} - {silo_of[m]}),
        }
        for m in ranked
    ]


def findings(report: HealthReport) -> list[str]:
    """The weak spots in one sentence each, most important first."""
    out = []
    for silo in report.silos:
        if silo["isolated"]:
            out.append(
                f"Isolated silo: {silo['silo']} ({silo['members']} members) has {silo['external_ties']} of "
                f"{silo['internal_ties'] + silo['external_ties']} ties to other silos."
            )
    for topic in report.thin_topics:
        who = topic.answerers[0]["name"] + f" ({topic.answerers[0]['member_id']})" if topic.answerers else ""
        expert = f"a single answerer, {who}" if who else "no answerer"
        if topic.unnamed_answerers:
            expert = "a single answerer (who opted out of being named)"
        out.append(f"Topic with {expert}: {topic.label} ({len(topic.questions)} questions, {topic.unanswered} open).")
    unanswered = report.unanswered
    if unanswered["unanswered"]:
        oldest = unanswered["oldest"][0]
        out.append(
            f"{unanswered['unanswered']} of {unanswered['questions']} questions ({unanswered['share']:.0%}) are "
            f"unanswered; the oldest is {oldest['document_id']} '{oldest['title']}' ({oldest['created_at']})."
        )
    weak = report.weak_ties
    out.append(f"{weak['share']:.0%} of members have at most one tie ({weak['no_ties']} have none).")
    out.append(f"{report.cross_silo_share:.0%} of {report.ties} ties cross silos.")
    out.append(f"Core group: {len(report.core['members'])} members each tied to {report.core['k']}+ others in it.")
    return out
