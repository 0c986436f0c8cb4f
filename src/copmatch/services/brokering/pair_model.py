"""Who will meet? A pair model learned from this community's own history.

Which signals predict that two members who never dealt with each other will (one answers a
question of the other) differs from one community to the next: in some, recent activity
says nearly everything; in others, what one asks and the other knows. So the weights are
not set by hand but learned, when suggestions are made, from the community's past:

- *pseudo-cutoffs* inside the snapshot's history (``intro_model_cutoffs``: shares of its
  dated documents, on the community's own clock);
- at each, every signal is computed strictly from the contributions dated before it, for
  ordered pairs (asker, answerer) of members active before it who had not yet met (shared
  a thread);
- the label: the answerer answered a question of the asker after the pseudo-cutoff;
- a regularised logistic regression (scikit-learn, standardised signals, L2 strength
  ``intro_model_c``) on every positive pair and a seeded sample of the negatives (sampling
  negatives shifts only the intercept, so the order of pairs is unchanged).

A pair's chance is the probability that either answers the other, from both directions'
predictions on today's signals (``suggest.py`` multiplies it by the pair's best topic cosine
to ``intro_model_closeness_power``, so a suggestion still rests on a shared topic). The
model serves only where learning demonstrably helps (``fit``): the history must hold
``intro_model_min_positives`` pairs that met after a pseudo-cutoff, and a model fitted on the
earlier pseudo-cutoffs (labels only from before the last one) must rank the last one's
pairs better (average precision) than the hand-set formula of ``score.py`` on the same as-of
signals; otherwise the formula serves. Each fit is kept per snapshot (its version) and
settings, so a serving process fits once.

The signals (``SIGNALS``): how close the asker's questions are to the answerer's answers
and documents, their overall topics, and their tags; each one's activity in the role at
several time scales, on the community's clock (posts since) and the calendar, and in
total; how long since each last posted; and how many members each has dealt with.
Everything is numpy and scipy sparse products; no loop over members or pairs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from copmatch.ranking.corpus import ASKER, OFFERING_CLASSES, Corpus
from copmatch.ranking.retrieval import normalise_rows
from copmatch.services.brokering.score import score_pairs
from copmatch.services.topics import MemberTopics, document_tags
from copmatch.settings import Settings

# Time scales of activity: half-lives in posts of the community since, and in days.
POST_SCALES = (30.0, 300.0)
DAY_SCALES = (30.0, 365.0)


def _activity_names(role: str, who: str) -> list[str]:
    return [f"{who} {role}, half-life {h:g} posts" for h in POST_SCALES] + [
        f"{who} {role}, half-life {h:g} days" for h in DAY_SCALES
    ] + [f"{who} {role}, in total"]  # fmt: skip


SIGNALS: tuple[str, ...] = (
    "asker's questions vs answerer's answers (cosine)",
    "their topics (cosine)",
    "asker's question tags vs answerer's answer tags (cosine)",
    *_activity_names("asks", "asker"),
    *_activity_names("answers", "answerer"),
    "asker answers, in total",
    "answerer asks, in total",
    "posts since the asker last posted",
    "posts since the answerer last posted",
    "members the asker has dealt with",
    "members the answerer has dealt with",
)


@dataclass(frozen=True)
class History:
    """The snapshot's contributions with what dates and links them: each document's thread
    (a question and its answers), each contribution's day, and the community's clock."""

    corpus: Corpus
    doc_vectors: np.ndarray  # (n_docs, dim) unit
    thread: np.ndarray  # (n_docs,) row of the document's thread root (itself if none)
    parent: np.ndarray  # (n_docs,) row of the question an answer answers, -1 otherwise
    tags: sparse.csr_matrix  # (n_docs, n_tags) 1 where a document carries a tag
    contrib_day: np.ndarray  # (n_contrib,) day of the contribution's document, NaN if undated
    dated_days: np.ndarray  # sorted days of every dated document: the community's clock

    @classmethod
    def of(cls, corpus: Corpus, doc_vectors: np.ndarray, facts: list[dict], doc_rows: dict[str, int]) -> History:
        parent = np.full(corpus.n_docs, -1, dtype=np.int64)
        known = [(doc_rows[f["id"]], doc_rows[f["parent_id"]]) for f in facts
                 if f.get("parent_id") in doc_rows and f["id"] in doc_rows]  # fmt: skip
        if known:
            rows, parents = np.array(known, dtype=np.int64).T
            parent[rows] = parents
        thread = np.where(parent >= 0, parent, np.arange(corpus.n_docs))
        tags_of = document_tags(facts)
        vocabulary: dict[str, int] = {}
        rows_, cols_ = [], []
        for doc_id, tags in tags_of.items():
            if doc_id in doc_rows:
                for tag in tags:
                    rows_.append(doc_rows[doc_id])
                    cols_.append(vocabulary.setdefault(tag, len(vocabulary)))
        tags = sparse.csr_matrix(
            (np.ones(len(rows_), dtype=np.float32), (rows_, cols_)), shape=(corpus.n_docs, max(len(vocabulary), 1))
        )
        days = corpus.doc_days
        return cls(
            corpus, doc_vectors, thread, parent, tags, days[corpus.contrib_doc], np.sort(days[np.isfinite(days)])
        )

    def cutoffs(self, shares: tuple[float, ...]) -> list[float]:
        """The days at the given shares of the dated documents (the community's clock)."""
        n = len(self.dated_days)
        return [float(self.dated_days[min(int(n * s), n - 1)]) for s in shares] if n else []


@dataclass(frozen=True)
class MemberState:
    """Every member's signals as of a day (contributions strictly before it)."""

    active: np.ndarray  # (n_members,) bool: contributed before the day
    interest: np.ndarray  # (n_members, dim) unit: questions asked
    expertise: np.ndarray  # (n_members, dim) unit: answers and documents
    topic: np.ndarray  # (n_members, dim) unit: everything
    asked_tags: sparse.csr_matrix  # (n_members, n_tags) unit rows
    offered_tags: sparse.csr_matrix
    asks: np.ndarray  # (n_members, len(POST_SCALES) + len(DAY_SCALES) + 1) log1p activity
    answers: np.ndarray
    since_last: np.ndarray  # (n_members,) log1p posts since their last dated contribution
    degree: np.ndarray  # (n_members,) log1p members dealt with
    met: sparse.csr_matrix  # (n_members, n_members) > 0 where two shared a thread
    recent_asking: np.ndarray  # (n_members,) the hand-set formula's activity (intro_activity_*)
    recent_offering: np.ndarray

    def topics(self) -> MemberTopics:
        """These signals as the hand-set formula of ``score.py`` reads them."""
        return MemberTopics(self.topic, self.interest, self.expertise, self.recent_asking, self.recent_offering)


def _unit_sparse(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix


def member_state(history: History, before: float, settings: Settings) -> MemberState:
    """Signals from the contributions dated before ``before`` (undated ones always count:
    standing knowledge, as old as one half-life); ``np.inf`` for today."""
    corpus = history.corpus
    day = history.contrib_day
    dated = np.isfinite(day)
    keep = ~dated | (day < before)
    member, doc, cls = corpus.contrib_member[keep], corpus.contrib_doc[keep], corpus.contrib_class[keep]
    day = day[keep]
    dated = dated[keep]
    n, n_docs = corpus.n_members, corpus.n_docs
    asked = cls == ASKER
    offered = np.isin(cls, OFFERING_CLASSES)

    def per_member(weights: np.ndarray, cols: np.ndarray = doc, width: int = n_docs) -> sparse.csr_matrix:
        return sparse.csr_matrix((weights.astype(np.float32), (member, cols)), shape=(n, width))

    vectors = history.doc_vectors
    interest = normalise_rows(np.asarray(per_member(asked) @ vectors))
    expertise = normalise_rows(np.asarray(per_member(offered) @ vectors))
    topic = normalise_rows(np.asarray(per_member(np.ones(len(member))) @ vectors))
    asked_tags = _unit_sparse(per_member(asked) @ history.tags)
    offered_tags = _unit_sparse(per_member(offered) @ history.tags)

    # Age of each contribution on both clocks, as of the latest dated document before the day.
    clock = history.dated_days[history.dated_days < before]
    now_day = clock[-1] if len(clock) else 0.0
    posts_age = np.where(dated, len(clock) - np.searchsorted(clock, np.where(dated, day, 0.0), side="right"), np.nan)
    days_age = np.where(dated, now_day - day, np.nan)

    def activity(role: np.ndarray) -> np.ndarray:
        columns = []
        for ages, scales in ((posts_age, POST_SCALES), (days_age, DAY_SCALES)):
            for h in scales:
                weight = np.where(np.isnan(ages), 0.5, 0.5 ** (np.maximum(np.nan_to_num(ages), 0.0) / h))
                columns.append(np.bincount(member, weights=role * weight, minlength=n))
        columns.append(np.bincount(member, weights=role.astype(np.float64), minlength=n))
        return np.log1p(np.stack(columns, axis=1))

    # The hand-set formula's activity, on its own clock (services/topics.recency_weights).
    if settings.intro_activity_clock == "posts":
        ages, half_life = posts_age, settings.intro_activity_half_life_posts
    else:
        ages, half_life = days_age, settings.intro_activity_half_life_days
    recent = np.where(np.isnan(ages), 0.5, 0.5 ** (np.maximum(np.nan_to_num(ages), 0.0) / half_life))

    last = np.full(n, np.inf)
    np.minimum.at(last, member[dated], posts_age[dated])
    since_last = np.log1p(np.where(np.isfinite(last), last, len(clock)))
    threads = sparse.csr_matrix(
        (np.ones(len(member), dtype=np.float32), (member, history.thread[doc])), shape=(n, n_docs)
    )
    threads.data[:] = 1.0
    met = (threads @ threads.T).tocsr()
    degree = np.log1p(np.maximum(np.diff(met.indptr) - (met.diagonal() > 0), 0))
    return MemberState(
        active=np.bincount(member, minlength=n) > 0,
        interest=interest,
        expertise=expertise,
        topic=topic,
        asked_tags=asked_tags,
        offered_tags=offered_tags,
        asks=activity(asked),
        answers=activity(offered),
        since_last=since_last,
        degree=degree,
        met=met,
        recent_asking=np.bincount(member, weights=asked * recent, minlength=n),
        recent_offering=np.bincount(member, weights=offered * recent, minlength=n),
    )


def signals(state: MemberState, asker: np.ndarray, answerer: np.ndarray) -> np.ndarray:
    """(n, len(SIGNALS)) the signals of ordered pairs (asker, answerer), in SIGNALS order."""
    asker, answerer = np.asarray(asker, dtype=np.int64), np.asarray(answerer, dtype=np.int64)

    def rowwise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", x[asker], y[answerer])

    tags = np.asarray(state.asked_tags[asker].multiply(state.offered_tags[answerer]).sum(axis=1)).ravel()
    return np.column_stack(
        [
            rowwise(state.interest, state.expertise),
            rowwise(state.topic, state.topic),
            tags,
            state.asks[asker],
            state.answers[answerer],
            state.answers[asker, -1],
            state.asks[answerer, -1],
            state.since_last[asker],
            state.since_last[answerer],
            state.degree[asker],
            state.degree[answerer],
        ]
    ).astype(np.float64)


def answered_after(history: History, after: float, until: float = np.inf) -> sparse.csr_matrix:
    """(n_members, n_members) asker x answerer: answers dated in [``after``, ``until``) to
    a question of the asker."""
    corpus = history.corpus
    day = history.contrib_day
    n, n_docs = corpus.n_members, corpus.n_docs
    answering = (
        np.isin(corpus.contrib_class, OFFERING_CLASSES)
        & (day >= after)
        & (day < until)
        & (history.parent[corpus.contrib_doc] >= 0)
    )
    asking = corpus.contrib_class == ASKER

    # answerer x question (through their answers), and asker x question
    answers = sparse.csr_matrix(
        (np.ones(int(answering.sum()), dtype=np.float32),
         (corpus.contrib_member[answering], history.parent[corpus.contrib_doc[answering]])),
        shape=(n, n_docs),
    )  # fmt: skip
    asks = sparse.csr_matrix(
        (np.ones(int(asking.sum()), dtype=np.float32), (corpus.contrib_member[asking], corpus.contrib_doc[asking])),
        shape=(n, n_docs),
    )
    return (asks @ answers.T).tocsr()


@dataclass(frozen=True)
class LabelledPairs:
    """Ordered pairs (asker, answerer) of members active before a cutoff who had not met:
    every pair that met after it (1) and a seeded sample of those that did not (0)."""

    state: MemberState
    asker: np.ndarray
    answerer: np.ndarray
    y: np.ndarray


def _have_met(state: MemberState, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) bool: the two members of each pair had shared a thread (no pairs: empty)."""
    if len(a) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(state.met[a, b]).ravel() > 0


def labelled_pairs(
    history: History, cutoff: float, until: float, settings: Settings, rng: np.random.Generator
) -> LabelledPairs | None:
    """The pairs of one pseudo-cutoff, signals as of it; labels from [cutoff, until)."""
    n = history.corpus.n_members
    state = member_state(history, cutoff, settings)
    members = np.flatnonzero(state.active)
    if len(members) < 2:
        return None
    later = answered_after(history, cutoff, until)
    later = later.multiply(state.active[:, None]).multiply(state.active[None, :]).tocsr()
    pos_a, pos_b = later.nonzero()
    fresh = (pos_a != pos_b) & (~_have_met(state, pos_a, pos_b))
    pos_a, pos_b = pos_a[fresh], pos_b[fresh]
    # Negatives: random ordered pairs of active members that had not met and did not meet.
    draw = min(settings.intro_model_negatives, len(members) * (len(members) - 1))
    a = members[rng.integers(0, len(members), 2 * draw)]
    b = members[rng.integers(0, len(members), 2 * draw)]
    key = np.unique(a * n + b)
    a, b = key // n, key % n
    ok = (a != b) & (~_have_met(state, a, b)) & ~np.isin(key, pos_a * n + pos_b)
    a, b = a[ok][:draw], b[ok][:draw]
    y = np.concatenate([np.ones(len(pos_a)), np.zeros(len(a))])
    return LabelledPairs(state, np.concatenate([pos_a, a]), np.concatenate([pos_b, b]), y)


@dataclass(frozen=True)
class TrainingSet:
    x: np.ndarray
    y: np.ndarray
    positives: int  # distinct (asker, answerer) pairs learned from


def training_set(history: History, settings: Settings, cutoffs: list[float], until: float = np.inf) -> TrainingSet:
    """Signals and labels at every pseudo-cutoff (days): every positive ordered pair and a
    seeded sample of ``intro_model_negatives`` negatives per cutoff."""
    rng = np.random.default_rng(settings.intro_model_seed)
    xs, ys, learned = [], [], set()
    for cutoff in cutoffs:
        found = labelled_pairs(history, cutoff, until, settings, rng)
        if found is None:
            continue
        xs.append(signals(found.state, found.asker, found.answerer))
        ys.append(found.y)
        positive = found.y == 1
        learned.update(zip(found.asker[positive].tolist(), found.answerer[positive].tolist()))
    if not xs:
        return TrainingSet(np.zeros((0, len(SIGNALS))), np.zeros(0), 0)
    return TrainingSet(np.concatenate(xs), np.concatenate(ys), len(learned))


@dataclass(frozen=True)
class PairModel:
    """The fitted model: a pair's score from its two directions' signals."""

    pipeline: object  # StandardScaler + LogisticRegression
    positives: int

    @property
    def weights(self) -> np.ndarray:
        """(len(SIGNALS),) each standardised signal's weight in the log-odds."""
        return self.pipeline[-1].coef_[0]

    def log_odds(self, x: np.ndarray) -> np.ndarray:
        return self.pipeline.decision_function(x)

    def score(self, state: MemberState, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(score, signals a->b, signals b->a): the probability that either answers the
        other (each direction's predicted probability, combined as independent events)."""
        ab, ba = signals(state, a, b), signals(state, b, a)
        p_ab, p_ba = (1.0 / (1.0 + np.exp(-self.log_odds(x))) for x in (ab, ba))
        return p_ab + p_ba - p_ab * p_ba, ab, ba

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """(n, len(SIGNALS)) each signal's part of each row's log-odds, against the average
        pair learned from (standardised value times weight)."""
        scaler = self.pipeline[0]
        return (x - scaler.mean_) / scaler.scale_ * self.weights


def _fitted(data: TrainingSet, settings: Settings) -> PairModel | None:
    if data.positives < settings.intro_model_min_positives or data.y.min(initial=1) == data.y.max(initial=0):
        return None
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=settings.intro_model_c, max_iter=1000))
    pipeline.fit(data.x, data.y)
    return PairModel(pipeline, data.positives)


@dataclass(frozen=True)
class Validation:
    """The held-out check: a model fitted on the earlier pseudo-cutoffs (labels only before
    the last one) against the hand-set formula, both ranking the last one's pairs."""

    positives: int  # pairs that met after the last pseudo-cutoff
    model_ap: float  # average precision of the learned model's ranking
    formula_ap: float  # average precision of the hand-set formula's ranking

    @property
    def learned_wins(self) -> bool:
        return self.positives > 0 and self.model_ap > self.formula_ap


def validate(history: History, settings: Settings) -> Validation | None:
    """Does learning help in this community? None when there is no earlier history to fit."""
    cutoffs = history.cutoffs(settings.intro_model_cutoffs)
    if len(cutoffs) < 2:
        return None
    held_out = cutoffs[-1]
    model = _fitted(training_set(history, settings, cutoffs[:-1], until=held_out), settings)
    found = labelled_pairs(history, held_out, np.inf, settings, np.random.default_rng(settings.intro_model_seed + 1))
    if model is None or found is None:
        return None
    learned = model.log_odds(signals(found.state, found.asker, found.answerer))
    formula = score_pairs(
        found.state.topics(),
        found.asker,
        found.answerer,
        settings.intro_peer_weight,
        settings.intro_similarity_power,
    ).score
    positives = int(found.y.sum())
    if positives == 0:
        return Validation(0, 0.0, 0.0)
    return Validation(
        positives, float(average_precision_score(found.y, learned)), float(average_precision_score(found.y, formula))
    )


@dataclass(frozen=True)
class Fitted:
    """What ``fit`` decided: the model that serves (None: the hand-set formula) and why."""

    model: PairModel | None
    validation: Validation | None
    reason: str


def fit(history: History, settings: Settings) -> Fitted:
    """The model of this history, or the hand-set formula (model None) when the history
    holds fewer than ``intro_model_min_positives`` pairs that met after a pseudo-cutoff,
    or when a model fitted on the earlier pseudo-cutoffs ranks the last one's pairs no
    better than the formula does (``validate``)."""
    model = _fitted(training_set(history, settings, history.cutoffs(settings.intro_model_cutoffs)), settings)
    if model is None:
        return Fitted(None, None, f"fewer than {settings.intro_model_min_positives} pairs met after a pseudo-cutoff")
    if not settings.intro_model_validate:
        return Fitted(model, None, "learned (not validated)")
    check = validate(history, settings)
    if check is None or not check.learned_wins:
        return Fitted(None, check, "the learned model ranked the latest pseudo-cutoff no better than the formula")
    return Fitted(model, check, "learned: ranked the latest pseudo-cutoff better than the formula")


_CACHE: OrderedDict[tuple, Fitted] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def model_settings(settings: Settings) -> tuple:
    return tuple(getattr(settings, name) for name in sorted(vars(settings)) if name.startswith("intro_model_"))


def cached_fit(key: tuple, history: History, settings: Settings) -> Fitted:
    """``fit`` once per snapshot ``key`` and model settings, kept while the process runs."""
    key = (*key, model_settings(settings))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    model = fit(history, settings)
    with _CACHE_LOCK:
        _CACHE[key] = model
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return model
