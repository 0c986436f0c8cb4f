"""The reference for services/experts.py: the ranking as it was before scoring cost what a query
touched, computing every feature and score for every member, per query (its code then, kept as
an oracle). tests/services/test_touched_ranking.py checks the served path gives exactly its rows,
order, scores and evidence; benchmarks/member_scoring.py times the two side by side."""

from __future__ import annotations

from collections.abc import Collection
from functools import cached_property

import numpy as np

from copmatch.ranking.content import content_scores
from copmatch.ranking.features import (
    FEATURES,
    MATCHING_RELEVANCE,
    SUM_COSINE_FLOOR,
    MemberFacts,
    QueryMatch,
    _Contributions,
    _sum_offered,
    _top_mean,
)
from copmatch.ranking.learned import LearnedRanker
from copmatch.ranking.retrieval import Searcher
from copmatch.ranking.scores import (
    MemberPriors,
    aggregate_members,
    blend,
    document_relevance,
    passage_relevance,
    profile_relevance,
)
from copmatch.ranking.snippets import focused_snippet
from copmatch.services.experts import (
    Evidence,
    Expert,
    ExpertQuery,
    Retrieved,
    _candidate_rows,
    _could_be_among_best,
    retrieve,
)
from copmatch.settings import Settings


def _best_per_member(
    contribs: _Contributions, n_members: int, per_doc: np.ndarray, empty: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per member, the best per-document value over documents they offered (answered, authored)
    and over those they asked, among ``contribs`` (``empty`` for none)."""
    value = per_doc[contribs.doc]
    offered = np.full(n_members, empty)
    asked = np.full(n_members, empty)
    np.maximum.at(offered, contribs.member[contribs.offering], value[contribs.offering])
    np.maximum.at(asked, contribs.member[contribs.asking], value[contribs.asking])
    return offered, asked


class FullFeatures:
    """Every member's features for one query, each an (n_members,) array: the default formula's
    parts at once, the learned ranker's matrix and the per-document maxima when first read."""

    def __init__(self, corpus, match: QueryMatch, facts: MemberFacts, settings: Settings) -> None:
        n, priors = corpus.n_members, facts.priors
        self._corpus, self._match, self._facts, self._n = corpus, match, facts, n
        relevance = passage_relevance(match.cos, match.bm25, settings)
        self.hits = document_relevance(match.passages, relevance, corpus.passage_doc)
        self.evidence = aggregate_members(self.hits, corpus, settings, priors.recency)
        self.content = np.bincount(self.evidence.member, weights=self.evidence.weight, minlength=n)
        self.profile = profile_relevance(match.profile_cos, match.profile_bm25, settings)
        self.default_score = blend(self.content, self.profile, priors, settings)
        touched = np.unique(corpus.passage_doc[match.passages]).astype(np.int64)
        self._matched = _Contributions.of(corpus, corpus.contributions_of_docs(touched))
        self._doc_relevance = np.zeros(corpus.n_docs)
        self._doc_relevance[self.hits.docs] = self.hits.relevance
        self.offered, self.asked = _best_per_member(self._matched, n, self._doc_relevance)
        self.knows = np.maximum(self.offered, passage_relevance(match.profile_cos, match.profile_bm25, settings))

    @cached_property
    def doc_maxima(self) -> tuple[np.ndarray, np.ndarray]:
        docs = self._corpus.passage_doc[self._match.passages].astype(np.int64)
        doc_cos, doc_bm25 = np.full(self._corpus.n_docs, -1.0), np.zeros(self._corpus.n_docs)
        np.maximum.at(doc_cos, docs, self._match.cos)
        np.maximum.at(doc_bm25, docs, self._match.bm25)
        return doc_cos, doc_bm25

    @property
    def doc_cos(self) -> np.ndarray:
        return self.doc_maxima[0]

    @property
    def doc_bm25(self) -> np.ndarray:
        return self.doc_maxima[1]

    @cached_property
    def values(self) -> np.ndarray:
        """(n_members, n_features) float32, columns in FEATURES order."""
        n, matched, doc_cos, doc_bm25 = self._n, self._matched, self.doc_cos, self.doc_bm25
        best_cos, _ = _best_per_member(matched, n, doc_cos, empty=-1.0)
        best_bm25, _ = _best_per_member(matched, n, doc_bm25)
        summed_cos = _sum_offered(matched, n, np.maximum(doc_cos - SUM_COSINE_FLOOR, 0.0))
        matching = (self._doc_relevance >= MATCHING_RELEVANCE).astype(np.float64)
        columns = {
            "log default score": np.log(self.default_score),
            "log content": np.log1p(10.0 * self.content),
            "log prior": np.log(self._facts.priors.prior),
            "best offered relevance": self.offered,
            "best offered cosine": best_cos,
            "best offered bm25": np.log1p(best_bm25),
            "top3 mean cosine": _top_mean(matched, n, doc_cos, 3),
            "best asked relevance": self.asked,
            "profile relevance": self.profile,
            "summed offered cosine": np.log1p(10.0 * summed_cos),
            "summed offered bm25": np.log1p(_sum_offered(matched, n, doc_bm25)),
            "offered documents matching": np.log1p(_sum_offered(matched, n, matching)),
            **self._facts.activity,
        }
        return np.column_stack([columns[name] for name in FEATURES]).astype(np.float32)


def full_features(corpus, match: QueryMatch, facts: MemberFacts, settings: Settings) -> FullFeatures:
    return FullFeatures(corpus, match, facts, settings)


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
    candidate_rows = _candidate_rows(searcher, query.candidates, query.id)
    found = retrieve(searcher, query.text, query_vector, settings, candidate_rows)
    return full_rank_retrieved(searcher, query, found, priors, opted_out, settings, ranker)


def full_rank_retrieved(
    searcher: Searcher,
    query: ExpertQuery,
    found: Retrieved,
    priors: MemberPriors,
    opted_out: Collection[str],
    settings: Settings,
    ranker: LearnedRanker | None,
) -> list[Expert]:
    corpus = searcher.corpus
    candidate_rows = _candidate_rows(searcher, query.candidates, query.id)
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
    """Every allowed member sorted: those with evidence by score, then the rest by knows, then score
    (sorting only those a stable sort could place first, as the code then did)."""
    knows, final = knows_all[rows], final_all[rows]
    has = knows >= settings.knows_threshold
    evident, evident_final = rows[has], final[has]
    keep = _could_be_among_best(evident_final, limit)
    evident, evident_final = evident[keep], evident_final[keep]
    evident = evident[np.argsort(-evident_final, kind="stable")][:limit]
    rest, rest_knows, rest_final = rows[~has], knows[~has], final[~has]
    wanted = limit - len(evident)
    keep = _could_be_among_best(rest_knows, wanted)
    rest, rest_knows, rest_final = rest[keep], rest_knows[keep], rest_final[keep]
    rest = rest[np.lexsort((-rest_final, -rest_knows))][: max(wanted, 0)]
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
