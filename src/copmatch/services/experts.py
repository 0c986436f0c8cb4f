"""Who knows about X? Ranked members with the evidence that drove their score."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field

import numpy as np

from copmatch.errors import InvalidQueryError
from copmatch.ranking.content import content_scores
from copmatch.ranking.features import MemberFacts, QueryMatch, member_features
from copmatch.ranking.learned import LearnedRanker
from copmatch.ranking.retrieval import PassageCandidates, Searcher
from copmatch.ranking.scores import (
    DocumentHits,
    MemberEvidence,
    MemberPriors,
)
from copmatch.ranking.snippets import focused_snippet
from copmatch.ranking.threads import one_blas_thread
from copmatch.settings import Settings


@dataclass(frozen=True)
class Evidence:
    document_id: str
    title: str
    kind: str
    role: str
    score: float
    snippet: str


@dataclass(frozen=True)
class Expert:
    """One ranked member. ``score`` ranks (comparable across queries); ``knows`` is the topical
    evidence alone (how well their best matching answer, document or profile fits, in [0, 1])
    and ``active`` the activity prior alone, kept apart so "knows it" is never confused with
    "is around". ``has_evidence``: ``knows`` reaches ``settings.knows_threshold``."""

    member_id: str
    name: str
    silo: str | None
    score: float
    knows: float
    active: float
    has_evidence: bool
    content: float
    profile: float
    prior: float
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ExpertQuery:
    text: str
    limit: int = 10
    exclude: Collection[str] = ()
    candidates: Collection[str] | None = None
    id: str | None = None


@dataclass(frozen=True)
class ExpertAnswers:
    """Rankings for a batch of queries and the snapshot that produced every one of them."""

    index_version: str
    results: list[list[Expert]]


def nobody_known(experts: list[Expert]) -> bool:
    """No returned member has topical evidence: the list holds only the closest members, not experts."""
    return not any(e.has_evidence for e in experts)


def validate_query(query: ExpertQuery, settings: Settings) -> None:
    """Any length is answered (a long query is read in windows); only empty text and bad limits are refused."""
    if not query.text or not query.text.strip():
        raise InvalidQueryError("The query text is empty.", hint="Describe the topic or paste the question.")
    if not 1 <= query.limit <= settings.max_limit:
        raise InvalidQueryError(
            f"limit must be between 1 and {settings.max_limit}, got {query.limit}.",
            hint=f"Pass a --limit from 1 to {settings.max_limit}.",
        )
    try:
        query.text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidQueryError(
            "The query text holds a lone surrogate (an invalid \\ud800-\\udfff escape).",
            hint="Send the text as valid UTF-8.",
        ) from None


@dataclass(frozen=True)
class Retrieved:
    """What one query retrieves: candidate passages and profile scores, before any weighting."""

    passages: PassageCandidates
    profile_cos: np.ndarray  # (n_members,)
    profile_bm25: np.ndarray  # (n_members,)


@dataclass(frozen=True)
class MemberScores:
    """Every member's score for one query, with the parts it was built from."""

    final: np.ndarray  # (n_members,) the score returned to users
    evidence: MemberEvidence  # content score and the contributions that made it
    profile: np.ndarray  # (n_members,) profile (bio/skills) relevance
    hits: DocumentHits
    knows: np.ndarray  # (n_members,) topical evidence alone, in [0, 1]
    active: np.ndarray  # (n_members,) activity prior alone


def retrieve(
    searcher: Searcher,
    query_text: str,
    query_vector: np.ndarray,
    settings: Settings,
    candidate_rows: np.ndarray | None = None,
) -> Retrieved:
    """Dense and BM25 passage hits, plus every passage of the candidates, and profile scores.

    ``query_vector``: (dim,) or (n_windows, dim) for a long query read in windows."""
    extra = searcher.passages_of_members(candidate_rows) if candidate_rows is not None else None
    if searcher.content_only:  # the content ranker's background documents are scored with every query
        background = searcher.content_background(settings).passages
        extra = background if extra is None else np.union1d(extra, background)
    how = settings.query_window_combination
    return Retrieved(
        searcher.retrieve(query_vector, query_text, settings.dense_top_k, settings.sparse_top_k, extra, how),
        searcher.profile_cosines(query_vector, how),
        searcher.profile_bm25_scores(query_text),
    )


def score_members(
    searcher: Searcher,
    retrieved: Retrieved,
    priors: MemberPriors,
    settings: Settings,
    ranker: LearnedRanker | None = None,
) -> MemberScores:
    """Score every member from what a query retrieved (the ranking weights are all applied here).

    With a learned ranker (the community's own, ``searcher.ranker``) the score is its calibrated
    probability that the member answers; in a community without Q&A history, the content
    ranker's (ranking/content.py); otherwise the default formula's."""
    corpus = searcher.corpus
    found = retrieved.passages
    facts = searcher.member_facts(settings)
    if priors is not facts.priors:  # a caller's own priors (benchmarks) replace the snapshot's
        facts = MemberFacts(priors, facts.activity)
    match = QueryMatch(found.ids, found.cos, found.bm25, retrieved.profile_cos, retrieved.profile_bm25)
    features = member_features(corpus, match, searcher.newest_day, settings, facts)
    if ranker is not None:
        final = ranker.probability(features.values)
    elif searcher.content_only:
        final = content_scores(
            corpus, features.doc_cos, features.doc_bm25, searcher.content_background(settings), settings
        )
    else:
        final = features.default_score
    return MemberScores(final, features.evidence, features.profile, features.hits, features.knows, features.active)


def rank_experts(
    searcher: Searcher,
    query: ExpertQuery,
    query_vector: np.ndarray,
    priors: MemberPriors,
    opted_out: Collection[str],
    settings: Settings,
) -> list[Expert]:
    """Rank members for one encoded query. ``priors`` come from ``rank.member_priors``."""
    corpus = searcher.corpus
    candidate_rows = _candidate_rows(searcher, query.candidates, query.id)
    one_blas_thread()  # a query's products are small (ranking/threads.py)
    found = retrieve(searcher, query.text, query_vector, settings, candidate_rows)
    scored = score_members(searcher, found, priors, settings, searcher.ranker)
    scores = scored.final

    allowed = np.ones(corpus.n_members, dtype=bool)
    blocked = set(query.exclude) | set(opted_out)
    allowed[[searcher.member_rows[m] for m in blocked if m in searcher.member_rows]] = False
    if candidate_rows is not None:
        # Every candidate is returned, scored, however low: the caller compares them.
        rows = candidate_rows[allowed[candidate_rows]]
        rows = rows[np.argsort(-scores[rows], kind="stable")]
    else:
        rows = _experts_then_closest(np.flatnonzero(allowed), scored, query.limit, settings.knows_threshold)
    return _experts(searcher, rows, scored, priors, query.text, settings)


def _experts_then_closest(rows: np.ndarray, scored: MemberScores, limit: int, threshold: float) -> np.ndarray:
    """Members with evidence best score first; then, to fill ``limit``, the closest without (best knows first).

    A member with no matching evidence is never ranked above one with it: being active is not knowing."""
    knows, final = scored.knows[rows], scored.final[rows]
    has = knows >= threshold
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


def _could_be_among_best(values: np.ndarray, k: int) -> np.ndarray | slice:
    """Which of ``values`` a stable sort, largest first, could place in its first ``k``: those
    at least the k-th largest (ties included), in their order. Sorting only them gives the same
    first ``k`` as sorting all (every member of a large community is scored, few are shown)."""
    if k <= 0:
        return np.zeros(len(values), dtype=bool)
    if len(values) <= k or not np.all(np.isfinite(values)):
        return slice(None)
    return values >= np.partition(values, len(values) - k)[len(values) - k]


def _candidate_rows(searcher: Searcher, candidates: Collection[str] | None, query_id: str | None) -> np.ndarray | None:
    if candidates is None:
        return None
    unknown = [c for c in candidates if c not in searcher.member_rows]
    if unknown:
        where = f"Query {query_id!r}: unknown" if query_id else "Unknown"
        more = " …" if len(unknown) > 5 else ""
        raise InvalidQueryError(
            f"{where} candidate member id(s): {unknown[:5]}{more}.",
            hint="Use member ids from the import; if they were imported after the last build, "
            "run: copmatch index build",
        )
    return np.array(sorted({searcher.member_rows[c] for c in candidates}), dtype=np.int64)


def _experts(
    searcher: Searcher,
    rows: np.ndarray,
    scored: MemberScores,
    priors: MemberPriors,
    query_text: str,
    settings: Settings,
) -> list[Expert]:
    corpus = searcher.corpus
    scores, evidence, profile, hits = scored.final, scored.evidence, scored.profile, scored.hits
    picked = _evidence_rows(evidence, rows, settings.evidence_per_member, settings.evidence_min_score)
    texts = searcher.passage_texts(sorted({int(hits.best_passage[h]) for items in picked.values() for h, _ in items}))
    experts = []
    for row in rows.tolist():
        items = []
        for hit, weight in picked.get(row, []):
            doc = int(hits.docs[hit])
            role = searcher.role_of(row, doc)
            items.append(
                Evidence(
                    document_id=str(corpus.doc_ids[doc]),
                    title=str(corpus.doc_titles[doc]),
                    kind=str(corpus.doc_kinds[doc]),
                    role=role,
                    score=round(float(weight), 4),
                    snippet=focused_snippet(
                        texts.get(int(hits.best_passage[hit]), ""), query_text, settings.snippet_chars
                    ),
                )
            )
        experts.append(
            Expert(
                member_id=str(corpus.member_ids[row]),
                name=str(corpus.member_names[row]),
                silo=str(corpus.member_silos[row]) or None,
                score=round(float(scores[row]), 4),
                knows=round(float(scored.knows[row]), 4),
                active=round(float(scored.active[row]), 4),
                has_evidence=bool(scored.knows[row] >= settings.knows_threshold),
                content=round(float(evidence.scores[row]), 4),
                profile=round(float(profile[row]), 4),
                prior=round(float(priors.prior[row]), 4),
                evidence=items,
            )
        )
    return experts


def _evidence_rows(
    evidence: MemberEvidence, rows: np.ndarray, per_member: int, min_score: float
) -> dict[int, list[tuple[int, float]]]:
    """The counted contributions (already best-first per member) of the returned members:
    exactly the terms summed into their content score, the largest first."""
    # A document that added next to nothing did not drive the score; showing it would mislead.
    keep = np.isin(evidence.member, rows) & (evidence.weight >= min_score)
    out: dict[int, list[tuple[int, float]]] = {}
    for member, hit, weight in zip(
        evidence.member[keep].tolist(), evidence.doc_hit[keep].tolist(), evidence.weight[keep].tolist()
    ):
        if len(out.setdefault(member, [])) < per_member:
            out[member].append((hit, weight))
    return out
