"""Who should meet? Introductions between members of different silos who work on close
topics and have never interacted, each with the topic and documents that show why.

Candidates come from FAISS nearest neighbours (topic to topic, interest to expertise);
where the community's history taught a pair model (``pair_model.py``), every pair (up to
``intro_model_all_pairs``) and the busiest members' pairs are candidates too. Each is scored
by that model's chance that the two meet times their best topic cosine to
``intro_model_closeness_power``, or else by the hand-set formula of ``score.py``, and moved
by the broker's past decisions on similar pairs (``feedback.py``). The list is then built by
maximal marginal relevance over pairs under a per-member cap (``diversity.py``), each
pair explained as it comes up (``reasons.py``; a pair with no checkable shared topic is
passed over), and stored for the broker's review (``review.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from copmatch.ranking.retrieval import Searcher
from copmatch.services.brokering.context import BrokeringContext
from copmatch.services.brokering.diversity import diversified
from copmatch.services.brokering.feedback import Decisions, centre_of, centred
from copmatch.services.brokering.reasons import Explainer
from copmatch.services.brokering.review import OPEN_STATUSES, Introduction, introductions_by_id
from copmatch.services.brokering.score import ScoredPairs, score_pairs
from copmatch.services.knn import nearest
from copmatch.settings import Settings
from copmatch.store.store import Store


def neighbour_pairs(
    queries: np.ndarray, keys: np.ndarray, query_rows: np.ndarray, key_rows: np.ndarray, k: int, exact_max: int
) -> np.ndarray:
    """(n, 2) unordered member-row pairs: each query row's k nearest key rows (FAISS)."""
    if len(query_rows) == 0 or len(key_rows) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    _, found = nearest(keys[key_rows], queries[query_rows], k + 1, exact_max)  # often itself first
    valid = found >= 0
    a = np.repeat(query_rows, found.shape[1])[valid.ravel()]
    b = key_rows[found[valid]]
    return np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)[a != b]


def candidate_pairs(context: BrokeringContext) -> ScoredPairs:
    """Every eligible, scored pair before the list is made: different silos, neither opted
    out, never interacted, never suggested before, close enough on some topic."""
    searcher, settings, topics, members = context.searcher, context.settings, context.topics, context.members
    ids = searcher.corpus.member_ids.tolist()
    active = topics.asking + topics.offering
    # A member with no contributions has nothing to show a broker, and no one to meet yet.
    eligible = np.array(
        [i for i, m in enumerate(ids) if m in members and not members[m]["opt_out"] and active[i] > 0],
        dtype=np.int64,
    )
    asks = eligible[topics.asking[eligible] > 0]
    knows = eligible[topics.offering[eligible] > 0]
    k, exact = settings.intro_neighbours, settings.exact_index_max
    learned = context.pair_model() is not None
    if learned and len(eligible) * (len(eligible) - 1) // 2 <= settings.intro_model_all_pairs:
        # The learned model is cheap per pair: where all pairs fit, every pair is a candidate.
        x, y = np.triu_indices(len(eligible), 1)
        found = [np.stack([eligible[x], eligible[y]], axis=1)]
    else:
        found = [
            neighbour_pairs(topics.topic, topics.topic, eligible, eligible, k, exact),
            neighbour_pairs(topics.interest, topics.expertise, asks, knows, k, exact),
        ]
    if learned:
        # The learned model may rank busy members' pairs first: those pairs are candidates too.
        busiest = eligible[np.argsort(-active[eligible], kind="stable")[: settings.intro_model_active_members]]
        x, y = np.triu_indices(len(busiest), 1)
        found.append(np.stack([np.minimum(busiest[x], busiest[y]), np.maximum(busiest[x], busiest[y])], axis=1))
    found = np.concatenate(found)
    n = len(ids) + 1
    keys = np.unique(found[:, 0] * n + found[:, 1])
    silos = context.silos()
    a, b = keys // n, keys % n
    # An unknown silo (a member with no ties) differs from every silo, even another unknown one.
    cross = (silos[a] != silos[b]) | (silos[a] == "") | (silos[b] == "")
    known = {(r["member_a"], r["member_b"]) for r in context.introductions} | set(context.met)
    rows = searcher.member_rows
    blocked = np.array(
        [min(rows[x], rows[y]) * n + max(rows[x], rows[y]) for x, y in known if x in rows and y in rows],
        dtype=np.int64,
    )
    keep = cross & ~np.isin(keys, blocked)
    pairs = score_pairs(topics, a[keep], b[keep], settings.intro_peer_weight, settings.intro_similarity_power)
    close = np.maximum(pairs.peer, np.maximum(pairs.a_asks_b, pairs.b_asks_a)) >= settings.intro_min_similarity
    pairs = pairs.take(close & (pairs.score > 0))
    learned = context.pair_model()
    if learned is not None:
        model, state = learned
        # The learned chance that they meet, times how close they are on their best reason
        # to (a broker introduces people for a shared topic, not for being busy).
        closeness = np.maximum(pairs.peer, np.maximum(pairs.a_asks_b, pairs.b_asks_a))
        chance = model.score(state, pairs.a, pairs.b)[0]
        pairs = replace(pairs, score=chance * closeness**settings.intro_model_closeness_power)
    return pairs


@dataclass(frozen=True)
class Suggestion:
    member_a: str
    member_b: str
    score: float  # the pair formula's score times the broker-feedback factor
    reasons: dict[str, Any]


def open_load(context: BrokeringContext) -> dict[int, int]:
    """Open introductions (suggested, snoozed, approved) each member row has already."""
    load: dict[int, int] = {}
    rows = context.searcher.member_rows
    for intro in context.introductions:
        if intro["status"] in OPEN_STATUSES:
            for member in (intro["member_a"], intro["member_b"]):
                if member in rows:
                    load[rows[member]] = load.get(rows[member], 0) + 1
    return load


def rank_suggestions(context: BrokeringContext, limit: int, per_member: int | None = None) -> list[Suggestion]:
    """The next ``limit`` introductions, explained, in the order a broker should see them
    (nothing is stored): the best-scored candidates, each given its shared topic, moved by
    the broker's decisions on similar topics, and listed by MMR under the cap."""
    settings = context.settings
    per_member = settings.intro_per_member if per_member is None else per_member
    pairs = candidate_pairs(context)
    # Only the best-scored candidates can make the list: their shared topics are worked out.
    best = np.argsort(-pairs.score, kind="stable")[: max(settings.intro_candidates, 4 * limit)]
    pairs = pairs.take(best)
    explain = Explainer(context)
    similarity = [
        {"peer": pairs.peer[i], "a_asks_b": pairs.a_asks_b[i], "b_asks_a": pairs.b_asks_a[i]} for i in range(len(best))
    ]
    shared = [explain.shared_topic(int(pairs.a[i]), int(pairs.b[i]), similarity[i]) for i in range(len(best))]
    has_topic = np.array([t is not None for t in shared], dtype=bool)
    directions = np.zeros((len(shared), context.doc_vectors.shape[1]), dtype=np.float32)
    for i, found in enumerate(shared):
        if found is not None:
            directions[i] = found.direction
    topic = centred(directions, centre_of(context.doc_vectors))
    decisions = Decisions.of(context.introductions, context.doc_vectors, context.searcher.document_rows, settings)
    factor = decisions.factors(topic, settings)
    score = np.where(has_topic, pairs.score * factor, 0.0)
    reasons: dict[int, dict] = {}
    fitted = context.fitted()
    scored_by = (
        f"pair model learned from {fitted.model.positives} pairs that met in this community's history"
        if fitted.model is not None
        else f"hand-set formula ({fitted.reason})"
    )

    def explained(i: int) -> bool:
        if shared[i] is None:
            return False
        found = explain(int(pairs.a[i]), int(pairs.b[i]), similarity[i], shared[i])
        if found is not None:
            if factor[i] != 1.0:
                found["feedback"] = {
                    "factor": round(float(factor[i]), 4),
                    "like": decisions.nearest(topic[i], settings),
                }
            found["scored_by"] = scored_by
            reasons[i] = found
        return found is not None

    order = diversified(
        score, topic, pairs.a, pairs.b, context.silos(), settings, open_load(context), per_member, limit, explained
    )
    ids = context.searcher.corpus.member_ids
    return [Suggestion(str(ids[pairs.a[i]]), str(ids[pairs.b[i]]), round(float(score[i]), 4), reasons[i])
            for i in order]  # fmt: skip


def suggest(
    store: Store,
    searcher: Searcher,
    settings: Settings,
    limit: int = 20,
    per_member: int | None = None,
    broker: str | None = None,
) -> list[Introduction]:
    """Rank, explain and store new suggestions; the stored introductions, in list order."""
    context = BrokeringContext.load(store, searcher, settings)
    found = rank_suggestions(context, limit, per_member)
    rows = [{"member_a": s.member_a, "member_b": s.member_b, "score": s.score, "reasons": s.reasons} for s in found]
    return introductions_by_id(store, store.add_introductions(rows, broker=broker), context.members)
