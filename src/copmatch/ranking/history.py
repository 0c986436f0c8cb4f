"""The community's own past questions as training data: who answered what, and what they
knew before it was asked. Pure numpy, no I/O (the build service supplies the arrays).

For each past answered question, the candidates are the members with a post before it
(minus the asker), every feature is computed on the corpus as it stood before it
(ranking/asof.py), and the labels are who answered: the accepted answerer 2, others 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from copmatch.index.dense import DenseIndex, inner_products
from copmatch.index.sparse import SparseIndex
from copmatch.ranking.asof import corpus_as_of, passages_before
from copmatch.ranking.corpus import ACCEPTED, ANSWER, ASKER, Corpus
from copmatch.ranking.features import FEATURES, MemberFacts, QueryMatch, member_facts, member_features
from copmatch.settings import Settings

QUERY_COMBINATIONS = ("max", "mean", "centroid")


@dataclass(frozen=True)
class PastQuestion:
    doc: int  # document row of the question
    day: float
    asker: int  # member row, -1 when unknown
    answerers: tuple[int, ...]  # member rows of everyone who answered it
    accepted: int  # member row of the accepted answer's author, -1 when none


def past_questions(corpus: Corpus, doc_parent: np.ndarray) -> list[PastQuestion]:
    """Dated questions with at least one attributed answer, oldest first.

    ``doc_parent``: (n_docs,) row of each document's parent (an answer's question), -1 if none.
    """
    cls, member, doc = corpus.contrib_class, corpus.contrib_member, corpus.contrib_doc
    answering = (cls == ACCEPTED) | (cls == ANSWER)
    question_of = doc_parent[doc[answering]]
    answerers: dict[int, set[int]] = {}
    accepted: dict[int, int] = {}
    for q, m, c in zip(question_of.tolist(), member[answering].tolist(), cls[answering].tolist()):
        if q >= 0:
            answerers.setdefault(q, set()).add(m)
            if c == ACCEPTED:
                accepted[q] = m
    askers = {int(d): int(m) for d, m in zip(doc[cls == ASKER], member[cls == ASKER])}
    out = [
        PastQuestion(q, float(corpus.doc_days[q]), askers.get(q, -1), tuple(sorted(a)), accepted.get(q, -1))
        for q, a in answerers.items()
        if np.isfinite(corpus.doc_days[q])
    ]
    return sorted(out, key=lambda p: (p.day, p.doc))


def answered_questions(corpus: Corpus, doc_parent: np.ndarray) -> int:
    """How many questions ``past_questions`` would list (vectorised: a build counts them to
    decide whether its ranker still fits, services/ranker_cadence.py)."""
    answering = (corpus.contrib_class == ACCEPTED) | (corpus.contrib_class == ANSWER)
    question_of = doc_parent[corpus.contrib_doc[answering]]
    question_of = question_of[question_of >= 0]
    return int(np.unique(question_of[np.isfinite(corpus.doc_days[question_of])]).size)


def query_cosines(windows: np.ndarray, vectors: np.ndarray, how: str) -> np.ndarray:
    """(n_vectors,) cosine of each passage to a query given as (n_windows, dim) unit window vectors.

    A long query is split into windows the model can read, like a document; its match to a
    passage combines the windows' cosines: the best window (max), their mean, or the cosine
    to the windows' normalised mean vector (centroid).
    """
    if how == "centroid":
        centre = windows.mean(axis=0)
        return inner_products(vectors, centre / max(float(np.linalg.norm(centre)), 1e-12))
    if len(windows) == 1 and how in QUERY_COMBINATIONS:  # a short query: one pass over the vectors
        return inner_products(vectors, windows[0])
    cos = vectors @ windows.T  # (n_vectors, n_windows)
    if how == "max":
        return cos.max(axis=1)
    if how == "mean":
        return cos.mean(axis=1)
    raise ValueError(f"unknown query window combination {how!r}; expected one of {QUERY_COMBINATIONS}")


@dataclass(frozen=True)
class TrainingSet:
    """One row per (past question, candidate member)."""

    features: np.ndarray  # (n_rows, n_features) float32
    labels: np.ndarray  # (n_rows,) 2 accepted answerer, 1 other answerer, 0 otherwise
    group: np.ndarray  # (n_rows,) index of the row's question in ``questions``
    default: np.ndarray  # (n_rows,) the default formula's score
    members: np.ndarray  # (n_rows,) member row
    questions: list[PastQuestion]

    @property
    def n_questions(self) -> int:
        return len(self.questions)

    def subset(self, keep_questions: np.ndarray) -> TrainingSet:
        """The rows of the given question indices, renumbered 0.. in that order."""
        keep_questions = np.asarray(keep_questions, dtype=np.int64)
        new_index = np.full(len(self.questions), -1)
        new_index[keep_questions] = np.arange(len(keep_questions))
        rows = np.flatnonzero(new_index[self.group] >= 0)
        rows = rows[np.argsort(new_index[self.group[rows]], kind="stable")]
        return TrainingSet(
            self.features[rows],
            self.labels[rows],
            new_index[self.group[rows]],
            self.default[rows],
            self.members[rows],
            [self.questions[i] for i in keep_questions.tolist()],
        )


class NegativeSample:
    """Which rows of one question a fit keeps: every answerer and at most ``negatives``
    non-answerers, the hardest ``hard_share`` of them by the default formula's score, the rest
    a seeded random sample of the others (``negatives`` <= 0 keeps every row).

    One generator is drawn from question after question, so bounding the rows while the set
    is built (a million-passage build cannot hold every candidate of every question) keeps
    exactly the rows ``ranking.learned.bounded_rows`` keeps of the whole set."""

    def __init__(self, negatives: int, hard_share: float, seed: int) -> None:
        self.negatives = negatives
        self.n_hard = int(round(negatives * hard_share))
        self._rng = np.random.default_rng(seed)

    def keep(self, labels: np.ndarray, default: np.ndarray) -> np.ndarray:
        """Sorted positions to keep among one question's rows (``labels``, ``default`` scores)."""
        if self.negatives <= 0:
            return np.arange(len(labels))
        others = np.flatnonzero(labels == 0)
        if len(others) <= self.negatives:
            return np.arange(len(labels))
        by_default = others[np.argsort(-default[others], kind="stable")]
        hard, rest = by_default[: self.n_hard], by_default[self.n_hard :]
        drawn = self._rng.choice(rest, size=self.negatives - self.n_hard, replace=False)
        return np.sort(np.concatenate([np.flatnonzero(labels > 0), hard, drawn]))


def answerable(corpus: Corpus, questions: Sequence[PastQuestion], moments: Sequence[float]) -> list[int]:
    """Indices of the questions a ranker can learn from: someone who answered had posted
    before the question's moment (and is not its asker). The others are skipped by
    ``training_set`` anyway; knowing them first lets a build split and bound before it
    computes any feature."""
    poster_days = _first_post_day(corpus)
    return [i for i, (q, moment) in enumerate(zip(questions, moments)) if _learnable(q, moment, poster_days)]


def _learnable(question: PastQuestion, moment: float, poster_days: np.ndarray) -> bool:
    """Whether someone who answered ``question`` is among its candidates at ``moment``: members
    who had posted before it, the asker excepted (training_set's candidates)."""
    return any(poster_days[a] < moment and a != question.asker for a in question.answerers)


def closest_passages(before: np.ndarray, cos: np.ndarray, bm25: np.ndarray, limit: int) -> np.ndarray:
    """Sorted ids of the passages a training question is matched against: every passage that
    existed before it, or, past ``limit`` of them, its ``limit // 2`` closest by cosine and by
    BM25 each. Matching every passage costs (questions x corpus) at a build: hours at a million
    passages, where serving reads its few hundred retrieved ones anyway."""
    present = np.flatnonzero(before)
    if len(present) <= limit:
        return present
    half = max(limit // 2, 1)
    by_cos = present[np.argpartition(-cos[present], half - 1)[:half]]
    by_bm25 = present[np.argpartition(-bm25[present], half - 1)[:half]]
    return np.union1d(by_cos, by_bm25)


def training_set(
    corpus: Corpus,
    questions: Sequence[PastQuestion],
    texts: Sequence[str],
    windows: Sequence[np.ndarray],
    passage_vectors: np.ndarray,
    sparse: SparseIndex,
    profile_vectors: np.ndarray,
    profile_sparse: SparseIndex,
    settings: Settings,
    as_of: Sequence[float] | None = None,
    *,
    dense: DenseIndex | None = None,
    sample: NegativeSample | None = None,
    sampled_questions: int = 0,
) -> TrainingSet:
    """Features and labels of every candidate of every past question, each as of its question.

    ``as_of``: per question, the moment its features describe (default: the moment it was
    asked). An earlier moment trains for what serving sees: questions keep arriving for a
    while after the build that answers them.

    ``dense``: the snapshot's index; past ``learned_training_passages`` passages a question is
    matched as a served query is (its ``dense_top_k`` nearest per window, searched in the index
    for all questions at once, and its ``sparse_top_k`` best by BM25), not by a scan of every
    vector per question: training then sees what serving sees, at what serving costs.

    ``sample``: the rows of the first ``sampled_questions`` questions kept are bounded as they
    are made (``NegativeSample``); the later ones (a build's held-out slice, ranked in full)
    keep every candidate.
    """
    blocks: list[tuple[np.ndarray, ...]] = []
    kept: list[PastQuestion] = []
    vectors = np.asarray(passage_vectors)
    poster_days = _first_post_day(corpus)
    moments = [q.day for q in questions] if as_of is None else list(as_of)
    limit = settings.learned_training_passages
    searched = (
        _dense_hits(dense, corpus, windows, moments, limit) if dense is not None and corpus.n_passages > limit else None
    )
    as_of_views: dict[float, tuple[Corpus, np.ndarray, MemberFacts]] = {}  # the latest moment's only
    for number, (question, text, window, moment) in enumerate(zip(questions, texts, windows, moments)):
        # Candidates: members who had posted before the moment, except the asker.
        candidates = np.flatnonzero(poster_days < moment)
        candidates = candidates[candidates != question.asker]
        labels = np.zeros(corpus.n_members, dtype=np.int8)
        labels[list(question.answerers)] = 1
        if question.accepted >= 0:
            labels[question.accepted] = 2
        if not _learnable(question, moment, poster_days):
            continue  # nobody who answered had posted before: nothing to learn from it
        if moment not in as_of_views:
            # Questions of one serving block share their moment: the corpus as it stood then,
            # and its members' query-independent facts, are made once per block.
            view = corpus_as_of(corpus, moment)
            as_of_views = {moment: (view, passages_before(corpus, moment), member_facts(view, moment, settings))}
        view, before, facts = as_of_views[moment]
        bm25 = sparse.scores_among(text, before)
        if searched is not None:
            # Past the limit (a large community) the passages serving would retrieve.
            present = _searched_passages(searched[number], before, bm25, limit, settings.sparse_top_k)
            cos = query_cosines(window, np.asarray(vectors[present]), settings.query_window_combination)
        else:
            cos_all = query_cosines(window, vectors, settings.query_window_combination)
            present = closest_passages(before, cos_all, bm25, limit)
            cos = cos_all[present]
        match = QueryMatch(
            passages=present,
            cos=cos,
            bm25=bm25[present],
            profile_cos=query_cosines(window, profile_vectors, settings.query_window_combination),
            profile_bm25=profile_sparse.scores(text),
        )
        found = member_features(view, match, moment, settings, facts)
        if sample is not None and number < sampled_questions:
            candidates = candidates[sample.keep(labels[candidates], found.default_score[candidates])]
        group = np.full(len(candidates), len(kept))
        blocks.append(
            (found.values[candidates], labels[candidates], group, found.default_score[candidates], candidates)
        )
        kept.append(question)
    if not blocks:
        empty = np.zeros(0)
        return TrainingSet(np.zeros((0, len(FEATURES)), np.float32), empty, empty.astype(int), empty, empty, [])
    features, labels, group, default, members = (np.concatenate(parts) for parts in zip(*blocks))
    return TrainingSet(features, labels, group, default, members, kept)


def _dense_hits(
    dense: DenseIndex, corpus: Corpus, windows: Sequence[np.ndarray], moments: Sequence[float], top_k: int
) -> list[np.ndarray]:
    """Per question, (n_windows, top_k) ids of its windows' nearest passages among those that
    existed at its moment (-1 pads), as serving searches: one batched search per distinct
    moment (a serving block), restricted by an id selector (FAISS spreads it over the cores)."""
    out: list[np.ndarray] = [np.zeros((0, top_k), dtype=np.int64)] * len(windows)
    by_moment: dict[float, list[int]] = {}
    for i, moment in enumerate(moments):
        by_moment.setdefault(moment, []).append(i)
    for moment, members in by_moment.items():
        flat = np.concatenate([np.atleast_2d(windows[i]) for i in members]).astype(np.float32)
        ids = dense.search_among(flat, top_k, passages_before(corpus, moment))[1]
        bounds = np.cumsum([0, *(len(np.atleast_2d(windows[i])) for i in members)])
        for i, start, end in zip(members, bounds[:-1], bounds[1:]):
            out[i] = ids[start:end]
    return out


def _searched_passages(
    hits: np.ndarray, before: np.ndarray, bm25: np.ndarray, limit: int, sparse_top_k: int
) -> np.ndarray:
    """Sorted ids of a question's passages as a served query's: its windows' nearest ``hits``
    and its ``sparse_top_k`` best by BM25 (all that existed, up to ``limit`` of them)."""
    if before.sum() <= limit:
        return np.flatnonzero(before)
    scored = np.flatnonzero(bm25 > 0)  # scores_among gives the passages of another moment 0
    if len(scored) > sparse_top_k:
        scored = scored[np.argpartition(-bm25[scored], sparse_top_k - 1)[:sparse_top_k]]
    return np.union1d(hits[hits >= 0], scored)


def serving_moments(corpus: Corpus, questions: Sequence[PastQuestion], horizon_share: float) -> list[float]:
    """Per question, the start of its serving block: the history's dated questions are cut into
    blocks of ``horizon_share`` of them, and a question's features are computed as of the first
    question of its block (as if the index had been built then and served until the next block)."""
    asked = np.sort(corpus.doc_days[np.unique(corpus.contrib_doc[corpus.contrib_class == ASKER])])
    asked = asked[np.isfinite(asked)]
    if horizon_share <= 0 or not len(asked):
        return [q.day for q in questions]
    block = max(1, int(round(horizon_share * len(asked))))
    position = np.searchsorted(asked, [q.day for q in questions], side="left")
    starts = asked[np.minimum((position // block) * block, len(asked) - 1)]
    return [float(min(s, q.day)) for s, q in zip(starts, questions)]


def _first_post_day(corpus: Corpus) -> np.ndarray:
    """(n_members,) day of each member's first dated contribution (inf when none)."""
    days = corpus.doc_days[corpus.contrib_doc]
    first = np.full(corpus.n_members, np.inf)
    dated = np.isfinite(days)
    np.minimum.at(first, corpus.contrib_member[dated].astype(np.int64), days[dated])
    return first


def ndcg_at(scores: np.ndarray, labels: np.ndarray, group: np.ndarray, k: int = 10) -> np.ndarray:
    """(n_groups,) nDCG@k of each group's ranking by ``scores`` (gains = labels). Ties break by row order."""
    n_groups = int(group.max()) + 1 if len(group) else 0
    out = np.zeros(n_groups)
    discount = 1.0 / np.log2(np.arange(k) + 2.0)
    order = np.lexsort((-scores, group))
    g, lab = group[order], labels[order].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], len(g)]
    for start, end in zip(starts.tolist(), ends.tolist()):
        gains = lab[start:end]
        top = gains[:k]
        ideal = np.sort(gains)[::-1][:k]
        idcg = float(ideal @ discount[: len(ideal)])
        out[g[start]] = float(top @ discount[: len(top)]) / idcg if idcg else 0.0
    return out
