"""Per-member features of one query, for the learned ranker (and the default formula's parts).

One function computes them at index build (for each past question, on the corpus as it
stood before it: ranking/asof.py) and at query time (on the snapshot, "now" being just
after its newest document), so training and serving see the same quantities. Every
feature is absolute: a function of cosines, BM25 values and member facts, never of the
query's own score distribution, so the learned score stays comparable across queries.
Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from copmatch.ranking.corpus import ACCEPTED, ANSWER, ASKER, OFFERING_CLASSES, Corpus
from copmatch.ranking.scores import (
    DocumentHits,
    MemberEvidence,
    MemberPriors,
    aggregate_members,
    blend,
    document_relevance,
    member_priors,
    passage_relevance,
    profile_relevance,
)
from copmatch.settings import Settings

DAY_WINDOWS = (7.0, 30.0, 90.0, 365.0)  # calendar activity windows, days
CLOCK_HALF_LIVES = (0.005, 0.02, 0.1)  # community-clock half-lives, as shares of all history answers
# Volume of matching work, not only the best match: cosines above MiniLM's background level
# (~0.3 for unrelated text) and documents whose relevance passes half-way.
SUM_COSINE_FLOOR = 0.4
MATCHING_RELEVANCE = 0.5

#: Feature groups (the ablation drops one group at a time). Names are stable: saved models refer to them.
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "default formula": ("log default score", "log content", "log prior"),
    "topical": (
        "best offered relevance",
        "best offered cosine",
        "best offered bm25",
        "top3 mean cosine",
        "best asked relevance",
        "profile relevance",
        "summed offered cosine",
        "summed offered bm25",
        "offered documents matching",
    ),
    "calendar activity": tuple(f"answers in {int(d)} d" for d in DAY_WINDOWS),
    "community-clock activity": tuple(f"clock activity {h:g}" for h in CLOCK_HALF_LIVES),
    "recency of last post": ("log days since last post", "log answers since last post"),
    "volume and acceptance": ("log answers", "log accepted", "acceptance rate", "log questions asked"),
}
FEATURES: tuple[str, ...] = tuple(name for group in FEATURE_GROUPS.values() for name in group)


@dataclass(frozen=True)
class QueryMatch:
    """What one query matched: candidate passages (already restricted to the moment) and profiles."""

    passages: np.ndarray  # (n,) passage ids
    cos: np.ndarray  # (n,) cosine of each passage to the query
    bm25: np.ndarray  # (n,) BM25 score of each passage
    profile_cos: np.ndarray  # (n_members,)
    profile_bm25: np.ndarray  # (n_members,)


@dataclass(frozen=True)
class MemberFeatures:
    values: np.ndarray  # (n_members, n_features) float32, columns in FEATURES order
    default_score: np.ndarray  # (n_members,) the default formula's final score
    knows: np.ndarray  # (n_members,) topical evidence in [0, 1]: best matching offered document or profile
    active: np.ndarray  # (n_members,) the activity prior in (0, 1)
    # The default formula's parts, kept so a query's scoring and evidence read them instead
    # of computing them again (at a million passages that was ~40% of a warm query).
    hits: DocumentHits
    evidence: MemberEvidence
    profile: np.ndarray  # (n_members,) profile relevance
    doc_cos: np.ndarray  # (n_docs,) best passage cosine of each document, -1 when none matched
    doc_bm25: np.ndarray  # (n_docs,) best passage BM25 of each document

    def column(self, name: str) -> np.ndarray:
        return self.values[:, FEATURES.index(name)]


@dataclass(frozen=True)
class MemberFacts:
    """What the features need that no query changes: the priors and the activity at ``now``
    (a serving snapshot computes them once; a past view, once per training question)."""

    priors: MemberPriors
    activity: dict[str, np.ndarray]


def member_facts(corpus: Corpus, now: float, settings: Settings) -> MemberFacts:
    return MemberFacts(member_priors(corpus, settings), _activity(corpus, now))


@dataclass(frozen=True)
class _Contributions:
    """Some contributions of a corpus: who, to which document, offering (answer, authored) or asking."""

    member: np.ndarray  # int64
    doc: np.ndarray
    offering: np.ndarray  # bool
    asking: np.ndarray  # bool

    @classmethod
    def of(cls, corpus: Corpus, rows: np.ndarray | None = None) -> _Contributions:
        kind = corpus.contrib_class if rows is None else corpus.contrib_class[rows]
        member = corpus.contrib_member if rows is None else corpus.contrib_member[rows]
        doc = corpus.contrib_doc if rows is None else corpus.contrib_doc[rows]
        return cls(member.astype(np.int64), doc, np.isin(kind, OFFERING_CLASSES), kind == ASKER)


def member_features(
    corpus: Corpus, match: QueryMatch, now: float, settings: Settings, facts: MemberFacts | None = None
) -> MemberFeatures:
    """Every member's features for one query on ``corpus`` (a snapshot, or a past view of one).

    ``facts``: the query-independent part, when the caller keeps it (``member_facts``)."""
    n = corpus.n_members
    facts = facts if facts is not None else member_facts(corpus, now, settings)
    priors = facts.priors
    relevance = passage_relevance(match.cos, match.bm25, settings)
    hits = document_relevance(match.passages, relevance, corpus.passage_doc)
    evidence = aggregate_members(hits, corpus, settings, priors.recency)
    profile = profile_relevance(match.profile_cos, match.profile_bm25, settings)
    default = blend(evidence.scores, profile, priors, settings)

    doc_cos, doc_bm25 = document_maxima(corpus, match)
    # Only contributions to matched documents can move a member off the empty value of a
    # topical feature, so only those are read: a query costs what it matched, not the corpus.
    touched = np.unique(corpus.passage_doc[match.passages]).astype(np.int64)
    matched = _Contributions.of(corpus, corpus.contributions_of_docs(touched))
    doc_relevance = doc_value(corpus, hits.docs, hits.relevance)
    offered, asked = _best_per_member(matched, n, doc_relevance)
    best_cos, _ = _best_per_member(matched, n, doc_cos, empty=-1.0)
    best_bm25, _ = _best_per_member(matched, n, doc_bm25)
    summed_cos = _sum_offered(matched, n, np.maximum(doc_cos - SUM_COSINE_FLOOR, 0.0))
    summed_bm25 = _sum_offered(matched, n, doc_bm25)
    matching = _sum_offered(matched, n, (doc_relevance >= MATCHING_RELEVANCE).astype(np.float64))
    columns = {
        "log default score": np.log(default),
        "log content": np.log1p(10.0 * evidence.scores),
        "log prior": np.log(priors.prior),
        "best offered relevance": offered,
        "best offered cosine": best_cos,
        "best offered bm25": np.log1p(best_bm25),
        "top3 mean cosine": _top_mean(matched, n, doc_cos, 3),
        "best asked relevance": asked,
        "profile relevance": profile,
        "summed offered cosine": np.log1p(10.0 * summed_cos),
        "summed offered bm25": np.log1p(summed_bm25),
        "offered documents matching": np.log1p(matching),
        **facts.activity,
    }
    values = np.column_stack([columns[name] for name in FEATURES]).astype(np.float32)
    # What the member says about themselves counts as evidence like one of their documents
    # would (rare specialities in a bio match by BM25 as much as by meaning).
    knows = np.maximum(offered, passage_relevance(match.profile_cos, match.profile_bm25, settings))
    return MemberFeatures(values, default, knows, priors.prior, hits, evidence, profile, doc_cos, doc_bm25)


def document_maxima(corpus: Corpus, match: QueryMatch) -> tuple[np.ndarray, np.ndarray]:
    """(n_docs,) best passage cosine (-1 when none matched) and best BM25 of each document."""
    docs = corpus.passage_doc[match.passages].astype(np.int64)
    doc_cos = np.full(corpus.n_docs, -1.0)
    doc_bm25 = np.zeros(corpus.n_docs)
    np.maximum.at(doc_cos, docs, match.cos)
    np.maximum.at(doc_bm25, docs, match.bm25)
    return doc_cos, doc_bm25


def doc_value(corpus: Corpus, docs: np.ndarray, values: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """(n_docs,) ``values`` at the rows ``docs``, ``empty`` elsewhere."""
    per_doc = np.full(corpus.n_docs, empty)
    per_doc[docs] = values
    return per_doc


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


def _sum_offered(contribs: _Contributions, n_members: int, per_doc: np.ndarray) -> np.ndarray:
    """(n_members,) sum of a per-document value over the documents each member offered."""
    member = contribs.member[contribs.offering]
    return np.bincount(member, weights=per_doc[contribs.doc[contribs.offering]], minlength=n_members)


def top_mean_cosine(corpus: Corpus, doc_cos: np.ndarray, k: int) -> np.ndarray:
    """(n_members,) mean cosine of each member's k most similar offered documents (0 for missing ones).

    Also the plain content-only baseline of benchmarks/content_matching.py.
    """
    return _top_mean(_Contributions.of(corpus), corpus.n_members, doc_cos, k)


def _top_mean(contribs: _Contributions, n_members: int, doc_cos: np.ndarray, k: int) -> np.ndarray:
    member = contribs.member[contribs.offering]
    cos = np.maximum(doc_cos[contribs.doc[contribs.offering]], 0.0)
    order = np.lexsort((-cos, member))
    member, cos = member[order], cos[order]
    starts = np.flatnonzero(np.r_[True, member[1:] != member[:-1]]) if len(member) else np.zeros(0, dtype=np.int64)
    rank = np.arange(len(member)) - np.repeat(starts, np.diff(np.r_[starts, len(member)]))
    top = rank < k
    return np.bincount(member[top], weights=cos[top], minlength=n_members) / k


def _activity(corpus: Corpus, now: float) -> dict[str, np.ndarray]:
    """Query-independent activity features of every member at the moment ``now``."""
    n = corpus.n_members
    cls, member = corpus.contrib_class, corpus.contrib_member.astype(np.int64)
    days = corpus.doc_days[corpus.contrib_doc]  # (n_contrib,)
    dated = np.isfinite(days)
    answering = (cls == ACCEPTED) | (cls == ANSWER)
    offering = np.isin(cls, OFFERING_CLASSES)
    out: dict[str, np.ndarray] = {}
    for window in DAY_WINDOWS:
        recent = offering & dated & (days >= now - window)
        out[f"answers in {int(window)} d"] = np.log1p(np.bincount(member[recent], minlength=n))
    # The community's own clock: s = share of all history answers posted after this one.
    clock = np.sort(days[answering & dated])
    total = max(len(clock), 1)
    after = (len(clock) - np.searchsorted(clock, days, side="right")) / total
    for half_life in CLOCK_HALF_LIVES:
        weight = np.where(answering & dated, 0.5 ** (after / half_life), 0.0)
        out[f"clock activity {half_life:g}"] = np.log1p(np.bincount(member, weights=weight, minlength=n))
    last = np.full(n, -np.inf)
    np.maximum.at(last, member[dated], days[dated])
    never = ~np.isfinite(last)
    out["log days since last post"] = np.where(never, np.log1p(3650.0), np.log1p(np.maximum(now - last, 0.0)))
    since = len(clock) - np.searchsorted(clock, np.where(never, -np.inf, last), side="right")
    out["log answers since last post"] = np.log1p(since)
    answers = np.bincount(member[answering], minlength=n).astype(np.float64)
    accepted = np.bincount(member[cls == ACCEPTED], minlength=n).astype(np.float64)
    base_rate = accepted.sum() / max(answers.sum(), 1.0)
    out["log answers"] = np.log1p(np.bincount(member[offering], minlength=n))
    out["log accepted"] = np.log1p(accepted)
    out["acceptance rate"] = (accepted + 2.0 * base_rate) / (answers + 2.0)
    out["log questions asked"] = np.log1p(np.bincount(member[cls == ASKER], minlength=n))
    return out
