"""Who knows about X? Ranked members with the evidence that drove their score."""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np

from copmatch.errors import InvalidQueryError
from copmatch.index.sparse import SparseMatch
from copmatch.ranking.content import content_scores
from copmatch.ranking.corpus import concat_runs
from copmatch.ranking.features import MemberBaseline, MemberFacts, QueryMatch, member_features
from copmatch.ranking.learned import LearnedRanker
from copmatch.ranking.member_values import MemberValues, among
from copmatch.ranking.retrieval import PassageCandidates, Searcher
from copmatch.ranking.scores import (
    DocumentHits,
    MemberEvidence,
    MemberPriors,
    rank_within_runs,
)
from copmatch.ranking.snippets import FocusedSnippets
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
    candidates: np.ndarray | None = None  # sorted member rows the query was restricted to, if any


@dataclass(frozen=True)
class MemberScores:
    """Every member's score for one query, with the parts it was built from.

    Held as the values of the members the query touched over what every other member has
    (``MemberValues``: a per-snapshot baseline), so a query costs what it matched; the
    (n_members,) arrays ``final``, ``knows``, ``profile`` are built when first read."""

    final_values: MemberValues  # the score returned to users
    knows_values: MemberValues  # topical evidence alone, in [0, 1]
    profile_values: MemberValues  # profile (bio/skills) relevance
    content_values: MemberValues  # content score (``evidence.scores``)
    evidence: MemberEvidence  # content score and the contributions that made it
    hits: DocumentHits
    active: np.ndarray  # (n_members,) activity prior alone
    #: every member's baseline score and their order, best first, ties by row: how the members a
    #: query did not touch rank (None when every member is scored per query)
    untouched: UntouchedScores | None

    @property
    def touched(self) -> np.ndarray:
        """(n_touched,) sorted rows of the members scored for this query (the other values'
        rows are among them: a member the query did not touch has every baseline value)."""
        return self.final_values.rows

    @property
    def final(self) -> np.ndarray:
        """(n_members,) the score returned to users."""
        return self.final_values.full

    @property
    def knows(self) -> np.ndarray:
        """(n_members,) topical evidence alone, in [0, 1]."""
        return self.knows_values.full

    @property
    def profile(self) -> np.ndarray:
        """(n_members,) profile (bio/skills) relevance."""
        return self.profile_values.full


@dataclass(frozen=True)
class UntouchedScores:
    """The final score of every member as a query that touched nothing of theirs gives it, and
    the members in that order: one per snapshot, settings and ranker (``untouched_scores``)."""

    final: np.ndarray  # (n_members,)

    @cached_property
    def order(self) -> np.ndarray:
        """(n_members,) rows, best first; ties by row, as the ranking's stable sorts keep them
        (sorted on first use: scoring alone, as benchmarks do, never needs it)."""
        return np.argsort(-self.final, kind="stable")


def untouched_scores(baseline: MemberBaseline, ranker: LearnedRanker | None) -> UntouchedScores:
    """The baseline scores of ``ranker`` (None: the default formula), computed once per baseline."""

    def make() -> tuple[LearnedRanker | None, UntouchedScores]:
        final = baseline.default if ranker is None else ranker.probability(baseline.values)
        return ranker, UntouchedScores(final)

    # Keyed by the ranker's identity; the entry holds the ranker, so no other can take its id.
    kept_ranker, scores = baseline.kept(("untouched scores", id(ranker)), make)
    assert kept_ranker is ranker
    return scores


def retrieve(
    searcher: Searcher,
    query_text: str,
    query_vector: np.ndarray,
    settings: Settings,
    candidate_rows: np.ndarray | None = None,
    lexical: Future[SparseMatch] | None = None,
) -> Retrieved:
    """Dense and BM25 passage hits, plus every passage of the candidates, and profile scores.

    ``query_vector``: (dim,) or (n_windows, dim) for a long query read in windows. ``lexical``:
    the query's BM25 search if the caller started it (``Searcher.start_lexical``) before
    encoding the query, which it does not need."""
    extra = searcher.passages_of_members(candidate_rows) if candidate_rows is not None else None
    if searcher.content_only:  # the content ranker's background documents are scored with every query
        background = searcher.content_background(settings).passages
        extra = background if extra is None else np.union1d(extra, background)
    how = settings.query_window_combination
    # In a large snapshot BM25 runs in the background (from before the encoding, where the
    # caller started it), and so does the profile match, beside the dense search.
    if lexical is None:
        lexical = searcher.start_lexical(query_text, settings.sparse_top_k)
    profiles = searcher.start_profile_match(query_vector, how)
    passages = searcher.retrieve(
        query_vector, query_text, settings.dense_top_k, settings.sparse_top_k, extra, how, lexical=lexical
    )
    return Retrieved(passages, profiles.result(), searcher.profile_bm25_scores(query_text), candidate_rows)


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
    ranker's (ranking/content.py); otherwise the default formula's. Only the members the query
    touched are scored; every other member keeps the snapshot's baseline (``untouched_scores``)."""
    corpus = searcher.corpus
    found = retrieved.passages
    facts = searcher.member_facts(settings)
    if priors is not facts.priors:  # a caller's own priors (benchmarks) replace the snapshot's
        facts = MemberFacts(priors, facts.activity)
    match = QueryMatch(found.ids, found.cos, found.bm25, retrieved.profile_cos, retrieved.profile_bm25)
    features = member_features(corpus, match, searcher.newest_day, settings, facts)
    evidence, baseline = features.evidence, features.baseline
    content = MemberValues(evidence.scored, evidence.content, baseline.zeros)
    untouched: UntouchedScores | None = None
    if searcher.content_only and ranker is None:
        # The content ranker scores every member against the corpus background (small communities).
        rows = np.arange(corpus.n_members, dtype=np.int64)
        every = content_scores(
            corpus, features.doc_cos, features.doc_bm25, searcher.content_background(settings), settings
        )
        final = MemberValues(rows, every, every)
        knows, profile = features.knows, features.profile
    else:
        untouched = untouched_scores(baseline, ranker)
        rows, knows, profile = features.rows, features.touched_knows, features.touched_profile
        if ranker is None:
            final = MemberValues(rows, features.touched_default, untouched.final)
        else:  # the learned features move more members than the default formula's parts
            final = MemberValues(features.feature_rows, ranker.probability(features.touched_values), untouched.final)
    return MemberScores(
        final,
        MemberValues(rows, knows, baseline.zeros),
        MemberValues(rows, profile, baseline.zeros),
        content,
        evidence,
        features.hits,
        features.active,
        untouched,
    )


def rank_experts(
    searcher: Searcher,
    query: ExpertQuery,
    query_vector: np.ndarray,
    priors: MemberPriors,
    opted_out: Collection[str],
    settings: Settings,
    lexical: Future[SparseMatch] | None = None,
) -> list[Expert]:
    """Rank members for one encoded query. ``priors`` come from ``rank.member_priors``;
    ``lexical``: its BM25 search, if already started (``retrieve``)."""
    candidate_rows = _candidate_rows(searcher, query.candidates, query.id)
    one_blas_thread()  # a query's products are small (ranking/threads.py)
    found = retrieve(searcher, query.text, query_vector, settings, candidate_rows, lexical)
    return rank_retrieved(searcher, query, found, priors, opted_out, settings)


def rank_retrieved(
    searcher: Searcher,
    query: ExpertQuery,
    found: Retrieved,
    priors: MemberPriors,
    opted_out: Collection[str],
    settings: Settings,
) -> list[Expert]:
    """``rank_experts`` from what the query retrieved: score, rank, and read the evidence."""
    scored = score_members(searcher, found, priors, settings, searcher.ranker)
    blocked = set(query.exclude) | set(opted_out)
    blocked_rows = np.array(sorted({searcher.member_rows[m] for m in blocked if m in searcher.member_rows}), np.int64)
    candidate_rows = found.candidates
    if candidate_rows is not None:
        # Every candidate is returned, scored, however low: the caller compares them.
        rows = candidate_rows[~among(candidate_rows, blocked_rows)]
        rows = rows[np.argsort(-scored.final_values.at(rows), kind="stable")]
    else:
        rows = _ranked_rows(scored, blocked_rows, query.limit, settings.knows_threshold)
    return _experts(searcher, rows, scored, priors, query.text, settings)


def _ranked_rows(scored: MemberScores, blocked: np.ndarray, limit: int, threshold: float) -> np.ndarray:
    """The first ``limit`` allowed members, as ranking every member would give them.

    Every member the query did not touch has knows 0 and the baseline score, so among them the
    ranking follows the baseline order: only the first ``limit`` allowed ones of that order can
    be shown. They join the touched members, and the ranking sorts just those."""
    touched, final, knows = scored.touched, scored.final_values, scored.knows_values
    touched_final, touched_knows = final.touched, knows.at(touched)
    if len(blocked):
        allowed = ~among(touched, blocked)
        touched, touched_final, touched_knows = touched[allowed], touched_final[allowed], touched_knows[allowed]
    untouched = scored.untouched
    fill = (
        np.zeros(0, dtype=np.int64)
        if untouched is None
        else _first_untouched(untouched.order, scored.touched, blocked, limit)
    )
    rows = np.concatenate([touched, fill])
    return _experts_then_closest(
        rows,
        np.concatenate([touched_final, final.baseline[fill]]),
        np.concatenate([touched_knows, knows.baseline[fill]]),
        limit,
        threshold,
    )


def _first_untouched(order: np.ndarray, touched: np.ndarray, blocked: np.ndarray, limit: int) -> np.ndarray:
    """The first ``limit`` members of ``order`` neither touched nor blocked (read a block at a time)."""
    found: list[np.ndarray] = []
    count, start, size = 0, 0, 2 * limit + 16
    while count < limit and start < len(order):
        block = order[start : start + size]
        block = block[~among(block, touched) & ~among(block, blocked)]
        found.append(block)
        count, start, size = count + len(block), start + size, 2 * size
    return np.concatenate(found)[:limit] if found else np.zeros(0, dtype=np.int64)


def _experts_then_closest(
    rows: np.ndarray, final: np.ndarray, knows: np.ndarray, limit: int, threshold: float
) -> np.ndarray:
    """Members with evidence best score first; then, to fill ``limit``, the closest without (best knows first).

    ``rows`` in any order, with each one's ``final`` score and ``knows``; ties go to the lower row.
    A member with no matching evidence is never ranked above one with it: being active is not knowing."""
    has = knows >= threshold
    evident, evident_final = rows[has], final[has]
    keep = _could_be_among_best(evident_final, limit)
    evident, evident_final = evident[keep], evident_final[keep]
    evident = evident[np.lexsort((evident, -evident_final))][:limit]
    rest, rest_knows, rest_final = rows[~has], knows[~has], final[~has]
    wanted = limit - len(evident)
    keep = _could_be_among_best(rest_knows, wanted)
    rest, rest_knows, rest_final = rest[keep], rest_knows[keep], rest_final[keep]
    rest = rest[np.lexsort((rest, -rest_final, -rest_knows))][: max(wanted, 0)]
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
    evidence, hits = scored.evidence, scored.hits
    picked = _evidence_rows(evidence, rows, settings.evidence_per_member, settings.evidence_min_score)
    texts = searcher.passage_texts(sorted({int(hits.best_passage[h]) for items in picked.values() for h, _ in items}))
    columns = (scored.final_values, scored.knows_values, scored.content_values, scored.profile_values)
    finals, knows, contents, profiles = (values.at(rows).tolist() for values in columns)
    active, prior = scored.active[rows].tolist(), priors.prior[rows].tolist()
    ids, names, silos = (
        column[rows].tolist() for column in (corpus.member_ids, corpus.member_names, corpus.member_silos)
    )
    snippet_of = FocusedSnippets(query_text, settings.snippet_chars)
    experts = []
    for i, row in enumerate(rows.tolist()):
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
                    score=round(weight, 4),
                    snippet=snippet_of(texts.get(int(hits.best_passage[hit]), "")),
                )
            )
        experts.append(
            Expert(
                member_id=str(ids[i]),
                name=str(names[i]),
                silo=str(silos[i]) or None,
                score=round(finals[i], 4),
                knows=round(knows[i], 4),
                active=round(active[i], 4),
                has_evidence=knows[i] >= settings.knows_threshold,
                content=round(contents[i], 4),
                profile=round(profiles[i], 4),
                prior=round(prior[i], 4),
                evidence=items,
            )
        )
    return experts


def _evidence_rows(
    evidence: MemberEvidence, rows: np.ndarray, per_member: int, min_score: float
) -> dict[int, list[tuple[int, float]]]:
    """The counted contributions (already best-first per member) of the returned members:
    exactly the terms summed into their content score, the largest first."""
    # Counted contributions are sorted by member: each returned member's are one run.
    starts = np.searchsorted(evidence.member, rows, side="left")
    counted = concat_runs(starts, np.searchsorted(evidence.member, rows, side="right") - starts)
    # A document that added next to nothing did not drive the score; showing it would mislead.
    counted = counted[evidence.weight[counted] >= min_score]
    counted = counted[rank_within_runs(evidence.member[counted]) < per_member]
    out: dict[int, list[tuple[int, float]]] = {}
    for member, hit, weight in zip(
        evidence.member[counted].tolist(), evidence.doc_hit[counted].tolist(), evidence.weight[counted].tolist()
    ):
        out.setdefault(member, []).append((hit, weight))
    return out
