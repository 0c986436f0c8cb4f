"""Ranking math: passage hits -> document relevance -> member scores. Pure numpy, no I/O.

Scores are absolute (functions of cosine and BM25 values, never of a query's own
score distribution), so one member's scores can be compared across queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .corpus import ACCEPTED, ANSWER, ASKER, AUTHOR, OTHER, Corpus
from .settings import Settings


def passage_relevance(cos: np.ndarray, bm25: np.ndarray, settings: Settings) -> np.ndarray:
    """Relevance in [0, 1] of each candidate passage from its cosine and BM25 score."""
    dense = np.clip((cos - settings.dense_floor) / (1.0 - settings.dense_floor), 0.0, 1.0)
    # Saturation keeps a long query's large BM25 sums from dwarfing the dense term.
    lexical = bm25 / (bm25 + settings.lexical_saturation)
    return (1.0 - settings.lexical_weight) * dense + settings.lexical_weight * lexical


@dataclass(frozen=True)
class DocumentHits:
    docs: np.ndarray  # (n_hit_docs,) int row of each document with a relevant passage
    relevance: np.ndarray  # (n_hit_docs,) its best passage's relevance
    best_passage: np.ndarray  # (n_hit_docs,) that passage's id


def document_relevance(passages: np.ndarray, relevance: np.ndarray, passage_doc: np.ndarray) -> DocumentHits:
    """A document is as relevant as its best passage."""
    keep = relevance > 0
    passages, relevance = passages[keep], relevance[keep]
    docs = passage_doc[passages].astype(np.int64)
    order = np.lexsort((-relevance, docs))
    docs, passages, relevance = docs[order], passages[order], relevance[order]
    first = np.r_[True, docs[1:] != docs[:-1]] if len(docs) else np.zeros(0, dtype=bool)
    return DocumentHits(docs[first], relevance[first], passages[first])


def role_weights(settings: Settings) -> np.ndarray:
    weights = np.zeros(OTHER + 1, dtype=np.float64)
    weights[ACCEPTED] = settings.role_weight_accepted
    weights[ANSWER] = settings.role_weight_answer
    weights[AUTHOR] = settings.role_weight_author
    weights[ASKER] = settings.role_weight_asker
    weights[OTHER] = settings.role_weight_other
    return weights


@dataclass(frozen=True)
class MemberEvidence:
    scores: np.ndarray  # (n_members,) content score in [0, 1]
    member: np.ndarray  # (n_counted,) member row of each counted contribution
    doc_hit: np.ndarray  # (n_counted,) index into DocumentHits arrays
    weight: np.ndarray  # (n_counted,) role-weighted relevance, best first per member


def aggregate_members(hits: DocumentHits, corpus: Corpus, settings: Settings) -> MemberEvidence:
    """Document-centric aggregation over each member's best few documents.

    Only a member's ``top_documents`` best contributions count, each worth
    ``rank_decay`` times the previous: a focused expert with three strong answers beats
    a generalist with thirty weak ones.
    """
    contrib = corpus.contributions_of_docs(hits.docs)
    # Position of each contribution's document within hits (docs are sorted, unique).
    doc_hit = np.searchsorted(hits.docs, corpus.contrib_doc[contrib])
    member = corpus.contrib_member[contrib].astype(np.int64)
    weight = role_weights(settings)[corpus.contrib_class[contrib]] * hits.relevance[doc_hit]
    order = np.lexsort((-weight, member))
    member, doc_hit, weight = member[order], doc_hit[order], weight[order]
    rank = _rank_within_groups(member)
    counted = (rank < settings.top_documents) & (weight > 0)
    decay = settings.rank_decay ** rank[counted]
    scores = np.bincount(member[counted], weights=weight[counted] * decay, minlength=corpus.n_members)
    max_score = sum(settings.rank_decay**i for i in range(settings.top_documents))
    return MemberEvidence(scores / max_score, member[counted], doc_hit[counted], weight[counted])


def _rank_within_groups(sorted_keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal keys of a sorted array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    run_lengths = np.diff(np.r_[starts, len(sorted_keys)])
    return np.arange(len(sorted_keys)) - np.repeat(starts, run_lengths)


@dataclass(frozen=True)
class MemberPriors:
    """Query-independent facts about members, computed once per snapshot."""

    prior: np.ndarray  # (n_members,) in [0, 1]: recent answering activity and acceptance rate
    profile_weight: np.ndarray  # (n_members,) weight of the profile match, higher for thin content


def member_priors(corpus: Corpus, settings: Settings) -> MemberPriors:
    """Prior in [0, 1] from recent answering activity and acceptance rate, and per-member
    profile weights.

    "Now" is the corpus's newest document, not the wall clock, so an old dump is
    judged by its own timeline.
    """
    n = corpus.n_members
    cls, member = corpus.contrib_class, corpus.contrib_member
    answering = (cls == ACCEPTED) | (cls == ANSWER) | (cls == AUTHOR)
    documents = np.bincount(member, weights=answering, minlength=n)
    # Members with little content of their own lean on what they say about themselves.
    thin = 1.0 - np.minimum(documents / max(settings.cold_start_documents, 1), 1.0)
    profile_weight = settings.profile_weight + settings.cold_start_profile_weight * thin
    if n == 0 or len(corpus.contrib_doc) == 0:
        return MemberPriors(np.zeros(n), profile_weight)
    days = corpus.doc_days[corpus.contrib_doc]
    now = np.nanmax(corpus.doc_days) if np.isfinite(corpus.doc_days).any() else 0.0
    age = np.where(np.isfinite(days), now - days, settings.recency_half_life_days)
    recency = 0.5 ** (np.maximum(age, 0.0) / settings.recency_half_life_days)
    activity = np.bincount(member, weights=recency * answering, minlength=n)
    activity = np.log1p(activity) / max(np.log1p(activity.max()), 1e-9)
    answers = np.bincount(member, weights=(cls == ACCEPTED) | (cls == ANSWER), minlength=n)
    accepted = np.bincount(member, weights=cls == ACCEPTED, minlength=n)
    # Smoothed towards the community's rate so one lucky answer is not a 100% record.
    base_rate = accepted.sum() / max(answers.sum(), 1.0)
    acceptance = (accepted + 2.0 * base_rate) / (answers + 2.0)
    share = settings.prior_acceptance_share
    return MemberPriors((1.0 - share) * activity + share * acceptance, profile_weight)


def blend(content: np.ndarray, profile: np.ndarray, priors: MemberPriors, settings: Settings) -> np.ndarray:
    """Final member score: topical match (content evidence plus profile), scaled by the prior.

    The prior scales the match instead of adding to it, so a member unrelated to the
    query scores near zero however active they are, and scores stay comparable across
    queries. ``prior_weight`` is how far a member with no prior falls below one with
    the best prior.
    """
    match = content + priors.profile_weight * profile
    return match * (1.0 - settings.prior_weight + settings.prior_weight * priors.prior)
