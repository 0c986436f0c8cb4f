"""The reference for services/experts.py: the ranking as it was before scoring cost what a query
touched, computing every feature and score for every member, per query (its code then, kept as
an oracle, slow and obvious). tests/services/test_touched_ranking.py checks the served path
gives exactly its rows, order, scores and evidence."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from copmatch.ranking.content import content_scores
from copmatch.ranking.features import (
    FEATURES,
    MATCHING_RELEVANCE,
    SUM_COSINE_FLOOR,
    MemberFacts,
    QueryMatch,
    _best_per_member,
    _Contributions,
    _sum_offered,
    _top_mean,
)
from copmatch.ranking.learned import LearnedRanker
from copmatch.ranking.retrieval import Searcher
from copmatch.ranking.scores import (
    DocumentHits,
    MemberEvidence,
    MemberPriors,
    aggregate_members,
    blend,
    document_relevance,
    passage_relevance,
    profile_relevance,
)
from copmatch.ranking.snippets import focused_snippet
from copmatch.services.experts import Evidence, Expert, ExpertQuery, _candidate_rows, retrieve
from copmatch.settings import Settings


@dataclass(frozen=True)
class FullFeatures:
    """Every member's features for one query, each an (n_members,) array."""

    default_score: np.ndarray
    content: np.ndarray
    profile: np.ndarray
    offered: np.ndarray
    asked: np.ndarray
    knows: np.ndarray
    values: np.ndarray  # (n_members, n_features) float32
    doc_cos: np.ndarray  # (n_docs,)
    doc_bm25: np.ndarray
    hits: DocumentHits
    evidence: MemberEvidence


def full_features(corpus, match: QueryMatch, facts: MemberFacts, settings: Settings) -> FullFeatures:
    n, priors = corpus.n_members, facts.priors
    relevance = passage_relevance(match.cos, match.bm25, settings)
    hits = document_relevance(match.passages, relevance, corpus.passage_doc)
    evidence = aggregate_members(hits, corpus, settings, priors.recency)
    content = np.bincount(evidence.member, weights=evidence.weight, minlength=n)  # as the scores were summed
    profile = profile_relevance(match.profile_cos, match.profile_bm25, settings)
    default = blend(content, profile, priors, settings)
    touched = np.unique(corpus.passage_doc[match.passages]).astype(np.int64)
    matched = _Contributions.of(corpus, corpus.contributions_of_docs(touched))
    doc_relevance = np.zeros(corpus.n_docs)
    doc_relevance[hits.docs] = hits.relevance
    offered, asked = _best_per_member(matched, n, doc_relevance)
    knows = np.maximum(offered, passage_relevance(match.profile_cos, match.profile_bm25, settings))
    docs = corpus.passage_doc[match.passages].astype(np.int64)
    doc_cos, doc_bm25 = np.full(corpus.n_docs, -1.0), np.zeros(corpus.n_docs)
    np.maximum.at(doc_cos, docs, match.cos)
    np.maximum.at(doc_bm25, docs, match.bm25)
    best_cos, _ = _best_per_member(matched, n, doc_cos, empty=-1.0)
    best_bm25, _ = _best_per_member(matched, n, doc_bm25)
    columns = {
        "log default score": np.log(default),
        "log content": np.log1p(10.0 * content),
        "log prior": np.log(priors.prior),
        "best offered relevance": offered,
        "best offered cosine": best_cos,
        "best offered bm25": np.log1p(best_bm25),
        "top3 mean cosine": _top_mean(matched, n, doc_cos, 3),
        "best asked relevance": asked,
        "profile relevance": profile,
        "summed offered cosine": np.log1p(10.0 * _sum_offered(matched, n, np.maximum(doc_cos - SUM_COSINE_FLOOR, 0))),
        "summed offered bm25": np.log1p(_sum_offered(matched, n, doc_bm25)),
        "offered documents matching": np.log1p(
            _sum_offered(matched, n, (doc_relevance >= MATCHING_RELEVANCE).astype(np.float64))
        ),
        **facts.activity,
    }
    values = np.column_stack([columns[name] for name in FEATURES]).astype(np.float32)
    return FullFeatures(default, content, profile, offered, asked, knows, values, doc_cos, doc_bm25, hits, evidence)


def full_rank_experts(
    searcher: Searcher,
    query: ExpertQuery,
    query_vector: np.ndarray,
    priors: MemberPriors,
    opted_out: Collection[str],
    settings: Settings,
    ranker: LearnedRanker | None,
) -> list[Expert]:
    """rank_experts as it was: every member scored, every allowed member ranked."""
    corpus = searcher.corpus
    candidate_rows = _candidate_rows(searcher, query.candidates, query.id)
    found = retrieve(searcher, query.text, query_vector, settings, candidate_rows)
    facts = searcher.member_facts(settings)
    if priors is not facts.priors:
        facts = MemberFacts(priors, facts.activity)
    passages = found.passages
    match = QueryMatch(passages.ids, passages.cos, passages.bm25, found.profile_cos, found.profile_bm25)
    features = full_features(corpus, match, facts, settings)
    if ranker is not None:
        final = ranker.probability(features.values)
    elif searcher.content_only:
        background = searcher.content_background(settings)
        final = content_scores(corpus, features.doc_cos, features.doc_bm25, background, settings)
    else:
        final = features.default_score
    allowed = np.ones(corpus.n_members, dtype=bool)
    blocked = set(query.exclude) | set(opted_out)
    allowed[[searcher.member_rows[m] for m in blocked if m in searcher.member_rows]] = False
    if candidate_rows is not None:
        rows = candidate_rows[allowed[candidate_rows]]
        rows = rows[np.argsort(-final[rows], kind="stable")]
    else:
        rows = _experts_then_closest(np.flatnonzero(allowed), final, features.knows, query.limit, settings)
    return _experts(searcher, rows, final, features, facts.priors, query.text, settings)


def _experts_then_closest(rows, final_all, knows_all, limit: int, settings: Settings) -> np.ndarray:
    """Every allowed member sorted: those with evidence by score, then the rest by knows, then score."""
    knows, final = knows_all[rows], final_all[rows]
    has = knows >= settings.knows_threshold
    evident = rows[has][np.argsort(-final[has], kind="stable")][:limit]
    rest = rows[~has][np.lexsort((-final[~has], -knows[~has]))][: max(limit - len(evident), 0)]
    return np.concatenate([evident, rest]).astype(np.int64)


def _experts(searcher, rows, final, features: FullFeatures, priors, query_text, settings) -> list[Expert]:
    corpus, evidence, hits = searcher.corpus, features.evidence, features.hits
    keep = np.isin(evidence.member, rows) & (evidence.weight >= settings.evidence_min_score)
    picked: dict[int, list[tuple[int, float]]] = {}
    for member, hit, weight in zip(evidence.member[keep], evidence.doc_hit[keep], evidence.weight[keep]):
        if len(picked.setdefault(int(member), [])) < settings.evidence_per_member:
            picked[int(member)].append((int(hit), float(weight)))
    texts = searcher.passage_texts(sorted({int(hits.best_passage[h]) for items in picked.values() for h, _ in items}))
    experts = []
    for row in rows.tolist():
        items = [
            Evidence(
                document_id=str(corpus.doc_ids[hits.docs[hit]]),
                title=str(corpus.doc_titles[int(hits.docs[hit])]),
                kind=str(corpus.doc_kinds[hits.docs[hit]]),
                role=searcher.role_of(row, int(hits.docs[hit])),
                score=round(weight, 4),
                snippet=focused_snippet(texts.get(int(hits.best_passage[hit]), ""), query_text, settings.snippet_chars),
            )
            for hit, weight in picked.get(row, [])
        ]
        experts.append(
            Expert(
                member_id=str(corpus.member_ids[row]),
                name=str(corpus.member_names[row]),
                silo=str(corpus.member_silos[row]) or None,
                score=round(float(final[row]), 4),
                knows=round(float(features.knows[row]), 4),
                active=round(float(priors.prior[row]), 4),
                has_evidence=bool(features.knows[row] >= settings.knows_threshold),
                content=round(float(features.content[row]), 4),
                profile=round(float(features.profile[row]), 4),
                prior=round(float(priors.prior[row]), 4),
                evidence=items,
            )
        )
    return experts
