"""Per-member features of one query, for the learned ranker (and the default formula's parts).

One function computes them at index build (for each past question, on the corpus as it
stood before it: ranking/asof.py) and at query time (on the snapshot, "now" being just
after its newest document), so training and serving see the same quantities. Every
feature is absolute: a function of cosines, BM25 values and member facts, never of the
query's own score distribution, so the learned score stays comparable across queries.
Pure numpy, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from copmatch.ranking.corpus import ACCEPTED, ANSWER, ASKER, OFFERING_CLASSES, OTHER, Corpus
from copmatch.ranking.member_values import MemberValues, among, compact_index
from copmatch.ranking.scores import (
    MemberPriors,
    aggregate_contributions,
    blend,
    document_relevance,
    member_priors,
    passage_relevance,
    profile_relevances,
    run_starts,
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


class MemberFeatures:
    """Every member's features for one query (``member_features``), computed for the members
    the query touched over the baseline every other member has.

    A member the query touched nothing of has the features of a query that matched nothing:
    they depend on the snapshot only (``MemberBaseline``). So a query costs what it matched,
    not the community: the ``touched_*`` arrays hold the touched members' values, and the
    (n_members,) arrays every member's, built when first read (training, benchmarks). Two sets
    of members are touched: ``rows``, whose default formula parts (score, content, profile,
    knows) a query moves, computed at once since every query needs them; and ``feature_rows``
    (a superset) whose learned-ranker features it moves, computed when first read.
    """

    def __init__(self, corpus: Corpus, match: QueryMatch, facts: MemberFacts, settings: Settings) -> None:
        self._corpus, self._match, self._facts, self._settings = corpus, match, facts, settings
        priors = facts.priors
        # Each array of a large corpus is read once, at the rows the query matched: at a million
        # passages every such read is a cache miss.
        self._passage_docs = passage_docs = corpus.passage_doc[match.passages]
        relevance = passage_relevance(match.cos, match.bm25, settings)
        self.hits = hits = document_relevance(match.passages, relevance, corpus.passage_doc, passage_docs)
        # Only contributions to matched documents can move a member off the empty value of a
        # topical feature, so only those are read: a query costs what it matched, not the corpus.
        self._docs = _sorted_unique(passage_docs).astype(np.int64)  # matched documents
        contributions = corpus.contributions_of_docs(self._docs)
        kind = corpus.contrib_class[contributions]
        self._matched = _Contributions(
            corpus.contrib_member[contributions].astype(np.int64),
            corpus.contrib_doc[contributions],
            _OFFERING[kind],
            kind == ASKER,
        )
        self._matched_doc = compact_index(self._docs, self._matched.doc)  # position in _docs
        # Relevance of each matched document (0 for those whose every passage fell below relevance).
        self._doc_relevance = np.zeros(len(self._docs))
        self._doc_relevance[compact_index(self._docs, hits.docs)] = hits.relevance
        # Contributions to documents without relevance add nothing to the default formula's parts;
        # those to the hit documents come in their order (both are in document order).
        relevant = self._doc_relevance[self._matched_doc] > 0
        self.evidence = aggregate_contributions(
            hits,
            self._matched.member[relevant],
            self._matched.doc[relevant],
            kind[relevant],
            priors.recency[contributions[relevant]],
            settings,
            corpus.n_members,
        )
        #: (n_touched,) sorted rows of the members whose default formula parts the query moves
        self.rows = touched_members(corpus.n_members, self._matched.member[relevant], match, settings)
        n = len(self.rows)
        self.touched_content = np.zeros(n)
        self.touched_content[compact_index(self.rows, self.evidence.scored)] = self.evidence.content
        # (n_touched,) profile relevance, and the profile's part of knows
        self.touched_profile, profile_knows = profile_relevances(
            match.profile_cos[self.rows], match.profile_bm25[self.rows], settings
        )
        here = MemberPriors(priors.prior[self.rows], priors.profile_weight[self.rows], priors.recency)
        #: (n_touched,) the default formula's final score
        self.touched_default = blend(self.touched_content, self.touched_profile, here, settings)
        self._relevant = relevant
        relevant_contributions = self._at(self.rows, relevant)
        self.touched_offered = _best_of(relevant_contributions, relevant_contributions.offering, n, self._doc_relevance)
        # What the member says about themselves counts as evidence like one of their documents
        # would (rare specialities in a bio match by BM25 as much as by meaning).
        #: (n_touched,) topical evidence in [0, 1]: best matching offered document or profile
        self.touched_knows = np.maximum(self.touched_offered, profile_knows)
        self.active = priors.prior  # (n_members,) the activity prior in (0, 1)

    def _at(self, rows: np.ndarray, keep: np.ndarray | slice) -> _Contributions:
        """The matched contributions ``keep``, with members as positions in ``rows`` and
        documents as positions in the matched documents."""
        m = self._matched
        return _Contributions(
            compact_index(rows, m.member[keep]), self._matched_doc[keep], m.offering[keep], m.asking[keep]
        )

    @cached_property
    def touched_asked(self) -> np.ndarray:
        """(n_touched,) relevance of each touched member's best matching asked question (learned features only)."""
        relevant_contributions = self._at(self.rows, self._relevant)
        return _best_of(relevant_contributions, relevant_contributions.asking, len(self.rows), self._doc_relevance)

    @cached_property
    def feature_rows(self) -> np.ndarray:
        """(n_feature_touched,) sorted rows of the members whose learned-ranker features the query
        moves: ``rows`` and every contributor to a matched document (their cosines and BM25 count
        even below relevance)."""
        contributors = np.unique(self._matched.member)
        extra = contributors[~among(contributors, self.rows)]
        return np.insert(self.rows, np.searchsorted(self.rows, extra), extra) if len(extra) else self.rows

    @cached_property
    def baseline(self) -> MemberBaseline:
        return self._facts.baseline(self._settings)

    def _spread(self, touched: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        return MemberValues(self.rows, touched, baseline).full

    @cached_property
    def default_score(self) -> np.ndarray:
        """(n_members,) the default formula's final score."""
        return self._spread(self.touched_default, self.baseline.default)

    @cached_property
    def profile(self) -> np.ndarray:
        """(n_members,) profile relevance."""
        return self._spread(self.touched_profile, self.baseline.zeros)

    @cached_property
    def knows(self) -> np.ndarray:
        """(n_members,) topical evidence in [0, 1]."""
        return self._spread(self.touched_knows, self.baseline.zeros)

    @cached_property
    def offered(self) -> np.ndarray:
        """(n_members,) relevance of each member's best matching offered document."""
        return self._spread(self.touched_offered, self.baseline.zeros)

    @cached_property
    def asked(self) -> np.ndarray:
        """(n_members,) relevance of each member's best matching asked question."""
        return self._spread(self.touched_asked, self.baseline.zeros)

    @cached_property
    def _touched_doc_maxima(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_matched_docs,) best passage cosine and best BM25 of each matched document."""
        at = compact_index(self._docs, self._passage_docs)
        doc_cos, doc_bm25 = np.full(len(self._docs), -1.0), np.zeros(len(self._docs))
        np.maximum.at(doc_cos, at, self._match.cos)
        np.maximum.at(doc_bm25, at, self._match.bm25)
        return doc_cos, doc_bm25

    @cached_property
    def doc_maxima(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_docs,) best passage cosine (-1 when none matched) and best BM25 of each document."""
        doc_cos, doc_bm25 = np.full(self._corpus.n_docs, -1.0), np.zeros(self._corpus.n_docs)
        doc_cos[self._docs], doc_bm25[self._docs] = self._touched_doc_maxima
        return doc_cos, doc_bm25

    @property
    def doc_cos(self) -> np.ndarray:
        return self.doc_maxima[0]

    @property
    def doc_bm25(self) -> np.ndarray:
        return self.doc_maxima[1]

    @cached_property
    def touched_values(self) -> np.ndarray:
        """(n_feature_touched, n_features) float32 feature rows of the ``feature_rows`` members,
        columns in FEATURES order."""
        rows, baseline = self.feature_rows, self.baseline
        n, matched = len(rows), self._at(rows, slice(None))
        doc_cos, doc_bm25 = self._touched_doc_maxima

        def spread(touched: np.ndarray, empty: np.ndarray) -> np.ndarray:
            """The default formula's parts at ``rows``: theirs where computed, else the empty value."""
            return MemberValues(self.rows, touched, empty).at(rows)

        best_cos = _best_of(matched, matched.offering, n, doc_cos, empty=-1.0)
        best_bm25 = _best_of(matched, matched.offering, n, doc_bm25)
        summed_cos = _sum_offered(matched, n, np.maximum(doc_cos - SUM_COSINE_FLOOR, 0.0))
        matching = (self._doc_relevance >= MATCHING_RELEVANCE).astype(np.float64)
        topical = {
            "best offered relevance": spread(self.touched_offered, baseline.zeros),
            "best offered cosine": best_cos,
            "best offered bm25": np.log1p(best_bm25),
            "top3 mean cosine": _top_mean(matched, n, doc_cos, 3),
            "best asked relevance": spread(self.touched_asked, baseline.zeros),
            "profile relevance": spread(self.touched_profile, baseline.zeros),
            "summed offered cosine": np.log1p(10.0 * summed_cos),
            "summed offered bm25": np.log1p(_sum_offered(matched, n, doc_bm25)),
            "offered documents matching": np.log1p(_sum_offered(matched, n, matching)),
        }
        default = spread(self.touched_default, baseline.default)
        content = spread(self.touched_content, baseline.zeros)
        return _feature_matrix(default, content, self._facts, rows, topical)

    @cached_property
    def values(self) -> np.ndarray:
        """(n_members, n_features) float32, columns in FEATURES order."""
        out = self.baseline.values.copy()
        out[self.feature_rows] = self.touched_values
        return out

    def column(self, name: str) -> np.ndarray:
        return self.values[:, FEATURES.index(name)]


class MemberBaseline:
    """What every member has for a query that touched nothing of theirs: no matching document,
    no profile near it. Depends on the snapshot (the members' facts) and the settings only, so
    it is computed once for both (``MemberFacts.baseline``); a query then computes only the
    members it touched (``MemberFeatures``)."""

    def __init__(self, facts: MemberFacts, settings: Settings) -> None:
        self._facts = facts
        self._kept: dict[Hashable, Any] = {}
        n = len(facts.priors.prior)
        self.zeros = np.zeros(n)  # (n_members,) content, profile, knows, offered and asked relevance
        self.default = blend(self.zeros, self.zeros, facts.priors, settings)  # (n_members,)

    def kept(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """``make()``, computed on the first call with ``key`` and kept with this baseline (what
        is derived from it, e.g. a ranker's scores; a race between threads computes it twice,
        harmlessly)."""
        if key not in self._kept:
            self._kept[key] = make()
        return self._kept[key]

    @cached_property
    def values(self) -> np.ndarray:
        """(n_members, n_features) float32: every member's feature row for a query that touched nothing."""
        zeros, n = self.zeros, len(self.zeros)
        empty = np.log1p(zeros)  # log1p of an empty sum, as the touched members' columns are made
        topical = {
            "best offered relevance": zeros,
            "best offered cosine": np.full(n, -1.0),
            "best offered bm25": empty,
            "top3 mean cosine": zeros,
            "best asked relevance": zeros,
            "profile relevance": zeros,
            "summed offered cosine": empty,
            "summed offered bm25": empty,
            "offered documents matching": empty,
        }
        return _feature_matrix(self.default, zeros, self._facts, slice(None), topical)


def _feature_matrix(
    default: np.ndarray, content: np.ndarray, facts: MemberFacts, rows: np.ndarray | slice, topical: dict
) -> np.ndarray:
    """(len(rows), n_features) float32 feature rows of the members ``rows`` from their default
    score, content score and topical columns, and their facts."""
    columns = {
        "log default score": np.log(default),
        "log content": np.log1p(10.0 * content),
        "log prior": np.log(facts.priors.prior[rows]),
        **topical,
        **{name: values[rows] for name, values in facts.activity.items()},
    }
    out = np.empty((len(default), len(FEATURES)), dtype=np.float32)
    for j, name in enumerate(FEATURES):
        out[:, j] = columns[name]  # rounded to float32 as a float64 matrix's astype would
    return out


@dataclass(frozen=True)
class MemberFacts:
    """What the features need that no query changes: the priors and the activity at ``now``
    (a serving snapshot computes them once; a past view, once per training question), and
    what is derived from them once per settings (``baseline``)."""

    priors: MemberPriors
    activity: dict[str, np.ndarray]
    _baselines: dict = field(default_factory=dict, compare=False, repr=False)

    def baseline(self, settings: Settings) -> MemberBaseline:
        """The members' baseline under ``settings``, computed on first use and kept with these facts."""
        baseline = self._baselines.get(settings)  # one lookup: hashing Settings costs microseconds
        if baseline is None:  # a race between threads computes it twice, harmlessly
            baseline = self._baselines[settings] = MemberBaseline(self, settings)
        return baseline


def member_facts(corpus: Corpus, now: float, settings: Settings) -> MemberFacts:
    return MemberFacts(member_priors(corpus, settings), _activity(corpus, now))


_OFFERING = np.isin(np.arange(OTHER + 1), OFFERING_CLASSES)  # by evidence class: offers knowledge


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
        return cls(member.astype(np.int64), doc, _OFFERING[kind], kind == ASKER)


def member_features(
    corpus: Corpus, match: QueryMatch, now: float, settings: Settings, facts: MemberFacts | None = None
) -> MemberFeatures:
    """Every member's features for one query on ``corpus`` (a snapshot, or a past view of one).

    ``facts``: the query-independent part, when the caller keeps it (``member_facts``)."""
    facts = facts if facts is not None else member_facts(corpus, now, settings)
    return MemberFeatures(corpus, match, facts, settings)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique(values), without sorting when they come sorted (passage ids in document order)."""
    if len(values) > 1 and not np.all(values[1:] >= values[:-1]):
        return np.unique(values)
    return values[run_starts(values)]


def touched_members(n_members: int, contributors: np.ndarray, match: QueryMatch, settings: Settings) -> np.ndarray:
    """Sorted rows of the members a query can move off the baseline: contributors to a matched
    document, and members whose profile is near enough or shares a word with it. A profile cosine
    below both floors (``profile_floor`` of the profile relevance, ``dense_floor`` of knows) adds
    exactly 0, and so does a BM25 of 0; a member with neither has the baseline's values."""
    floors = (settings.profile_floor, settings.dense_floor)
    if max(floors) >= 1.0 or settings.lexical_saturation <= 0:
        return np.arange(n_members, dtype=np.int64)  # degenerate settings: no value is known to vanish
    touched = np.zeros(n_members, dtype=bool)
    touched[contributors] = True
    touched |= match.profile_cos >= min(floors)
    if settings.lexical_weight > 0 or settings.profile_lexical_weight > 0:
        touched |= match.profile_bm25 > 0
    return np.flatnonzero(touched)


def _best_of(
    contribs: _Contributions, which: np.ndarray, n_members: int, per_doc: np.ndarray, empty: float = 0.0
) -> np.ndarray:
    """Per member, the best per-document value over the contributions ``which`` (``empty`` for none)."""
    best = np.full(n_members, empty)
    np.maximum.at(best, contribs.member[which], per_doc[contribs.doc[which]])
    return best


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
