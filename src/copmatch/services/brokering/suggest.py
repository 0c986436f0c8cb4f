"""Who should meet? Introductions between members of different silos who work on close
topics and have never interacted, each with the topics and documents that show why.

Candidates come from FAISS nearest neighbours (topic to topic, interest to expertise),
never from all pairs; each is scored by the pair formula of ``score.py``, the best are
picked under a per-member cap, explained (``reasons.py``) and stored for the broker's
review (``review.py``).
"""

from __future__ import annotations

import numpy as np

from copmatch.index.dense import DenseIndex, choose_spec
from copmatch.ranking.retrieval import Searcher
from copmatch.services.brokering.reasons import Explainer
from copmatch.services.brokering.review import OPEN_STATUSES, Introduction, list_introductions
from copmatch.services.brokering.score import ScoredPairs, score_pairs
from copmatch.services.graph import load_graph
from copmatch.services.topics import MemberTopics, member_topics
from copmatch.settings import Settings
from copmatch.store.store import Store


def neighbour_pairs(
    queries: np.ndarray, keys: np.ndarray, query_rows: np.ndarray, key_rows: np.ndarray, k: int, exact_max: int
) -> np.ndarray:
    """(n, 2) unordered member-row pairs: each query row's k nearest key rows (FAISS)."""
    if len(query_rows) == 0 or len(key_rows) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    index = DenseIndex.build(keys[key_rows], choose_spec(len(key_rows), exact_max))
    _, found = index.search(queries[query_rows], k + 1)  # (n_queries, k + 1), often itself first
    valid = found >= 0
    a = np.repeat(query_rows, found.shape[1])[valid.ravel()]
    b = key_rows[found[valid]]
    return np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)[a != b]


def pick_with_cap(
    order: np.ndarray, a: np.ndarray, b: np.ndarray, load: dict[int, int], per_member: int, limit: int
) -> list[int]:
    """Best pairs first, skipping any that would give a member more than ``per_member``
    open introductions (``load`` holds what each member has already)."""
    chosen: list[int] = []
    load = dict(load)
    for i in order.tolist():
        if len(chosen) >= limit:
            break
        if load.get(int(a[i]), 0) < per_member and load.get(int(b[i]), 0) < per_member:
            chosen.append(i)
            load[int(a[i])] = load.get(int(a[i]), 0) + 1
            load[int(b[i])] = load.get(int(b[i]), 0) + 1
    return chosen


def candidate_pairs(store: Store, searcher: Searcher, settings: Settings) -> tuple[ScoredPairs, MemberTopics]:
    """Every eligible, scored pair before the cap: different silos, neither opted out,
    never interacted, never suggested before, close enough on some topic."""
    corpus = searcher.corpus
    members = {m["id"]: m for m in store.members()}
    topics = member_topics(searcher, searcher.document_vectors(), settings)
    ids = corpus.member_ids.tolist()
    active = topics.asking + topics.offering
    # A member with no contributions has nothing to show a broker, and no one to meet yet.
    eligible = np.array(
        [i for i, m in enumerate(ids) if m in members and not members[m]["opt_out"] and active[i] > 0],
        dtype=np.int64,
    )
    asks = eligible[topics.asking[eligible] > 0]
    knows = eligible[topics.offering[eligible] > 0]
    k, exact = settings.intro_neighbours, settings.exact_index_max
    found = np.concatenate(
        [
            neighbour_pairs(topics.topic, topics.topic, eligible, eligible, k, exact),
            neighbour_pairs(topics.interest, topics.expertise, asks, knows, k, exact),
        ]
    )
    n = len(ids) + 1
    keys = np.unique(found[:, 0] * n + found[:, 1])
    silos = np.array([(members.get(m) or {}).get("silo") or "" for m in ids], dtype=object)
    a, b = keys // n, keys % n
    # An unknown silo (a member with no ties) differs from every silo, even another unknown one.
    cross = (silos[a] != silos[b]) | (silos[a] == "") | (silos[b] == "")
    known = {(r["member_a"], r["member_b"]) for r in store.introductions()} | set(load_graph(store).met)
    blocked = np.array([min(rows) * n + max(rows) for rows in _rows_of(known, searcher.member_rows)], dtype=np.int64)
    keep = cross & ~np.isin(keys, blocked)
    pairs = score_pairs(topics, a[keep], b[keep], settings.intro_peer_weight, settings.intro_similarity_power)
    close = np.maximum(pairs.peer, np.maximum(pairs.a_asks_b, pairs.b_asks_a)) >= settings.intro_min_similarity
    return pairs.take(close & (pairs.score > 0)), topics


def _rows_of(pairs: set[tuple[str, str]], rows: dict[str, int]) -> list[tuple[int, int]]:
    return [(rows[a], rows[b]) for a, b in pairs if a in rows and b in rows]


def suggest(
    store: Store,
    searcher: Searcher,
    settings: Settings,
    limit: int = 20,
    per_member: int | None = None,
    broker: str | None = None,
) -> list[Introduction]:
    """Score, pick under the per-member cap, explain, and store new suggestions."""
    per_member = settings.intro_per_member if per_member is None else per_member
    pairs, topics = candidate_pairs(store, searcher, settings)
    load: dict[int, int] = {}
    for intro in list_introductions(store):
        if intro.status in OPEN_STATUSES:
            for member in (intro.member_a, intro.member_b):
                if member in searcher.member_rows:
                    row = searcher.member_rows[member]
                    load[row] = load.get(row, 0) + 1
    order = np.argsort(-pairs.score, kind="stable")
    chosen = pick_with_cap(order, pairs.a, pairs.b, load, per_member, limit)
    explain = Explainer(store, searcher, topics, settings)
    ids = searcher.corpus.member_ids
    rows = [
        {
            "member_a": str(ids[pairs.a[i]]),
            "member_b": str(ids[pairs.b[i]]),
            "score": round(float(pairs.score[i]), 4),
            "reasons": explain(
                int(pairs.a[i]),
                int(pairs.b[i]),
                {"peer": pairs.peer[i], "a_asks_b": pairs.a_asks_b[i], "b_asks_a": pairs.b_asks_a[i]},
            ),
        }
        for i in chosen
    ]
    new_ids = set(store.add_introductions(rows, broker=broker))
    return [intro for intro in list_introductions(store) if intro.id in new_ids]
