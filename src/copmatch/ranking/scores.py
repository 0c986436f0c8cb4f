"""Ranking math: passage hits -> document relevance -> member scores. Pure numpy, no I/O.

Scores are absolute (functions of cosine and BM25 values and of query-independent member
facts, never of a query's own score distribution), so one member's scores can be compared
across queries. The shape and every default are measured in benchmarks/expert_finding.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from copmatch.ranking.corpus import ACCEPTED, ANSWER, ASKER, AUTHOR, OFFERING_CLASSES, OTHER, Corpus
from copmatch.ranking.prior import activity_prior, share_clock_factor
from copmatch.ranking.recency import community_clock_recency
from copmatch.settings import Settings


def passage_relevance(cos: np.ndarray, bm25: np.ndarray, settings: Settings) -> np.ndarray:
    """Relevance in [0, 1] of each candidate passage from its cosine and BM25 score."""
    # Saturation keeps a long query's large BM25 sums from dwarfing the dense term.
    return _relevance(cos, _saturated(bm25, settings), settings.dense_floor, settings.lexical_weight)


def profile_relevance(cos: np.ndarray, bm25: np.ndarray, settings: Settings) -> np.ndarray:
    """Relevance in [0, 1] of each member's profile (bio, skills) to the query.

    A bio is one short text about a whole person, so it sits closer to most queries than a
    passage does: it gets a stricter floor, and its BM25 weight is separate because long
    questions share common words with many bios.
    """
    return _relevance(cos, _saturated(bm25, settings), settings.profile_floor, settings.profile_lexical_weight)


def profile_relevances(cos: np.ndarray, bm25: np.ndarray, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """``profile_relevance`` and ``passage_relevance`` of the same profiles (the second is a
    profile's part of knows), their lexical term computed once."""
    lexical = _saturated(bm25, settings)
    return (
        _relevance(cos, lexical, settings.profile_floor, settings.profile_lexical_weight),
        _relevance(cos, lexical, settings.dense_floor, settings.lexical_weight),
    )


def _saturated(bm25: np.ndarray, settings: Settings) -> np.ndarray:
    return bm25 / (bm25 + settings.lexical_saturation)


def _relevance(cos: np.ndarray, lexical: np.ndarray, floor: float, lexical_weight: float) -> np.ndarray:
    dense = np.clip((cos - floor) / (1.0 - floor), 0.0, 1.0)
    return (1.0 - lexical_weight) * dense + lexical_weight * lexical


@dataclass(frozen=True)
class DocumentHits:
    docs: np.ndarray  # (n_hit_docs,) int row of each document with a relevant passage
    relevance: np.ndarray  # (n_hit_docs,) its best passage's relevance
    best_passage: np.ndarray  # (n_hit_docs,) that passage's id


def document_relevance(
    passages: np.ndarray, relevance: np.ndarray, passage_doc: np.ndarray, docs: np.ndarray | None = None
) -> DocumentHits:
    """A document is as relevant as its best passage. ``docs``: ``passage_doc[passages]``, when
    the caller has it (a million passages' array is read at random: each read is a cache miss)."""
    keep = relevance > 0
    docs = passage_doc[passages[keep]] if docs is None else docs[keep]
    passages, relevance, docs = passages[keep], relevance[keep], docs.astype(np.int64)
    order = np.lexsort((-relevance, docs))
    docs, passages, relevance = docs[order], passages[order], relevance[order]
    first = run_starts(docs)
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
class MemberPriors:
    """Query-independent facts about members, computed once per snapshot."""

    prior: np.ndarray  # (n_members,) in (0, 1): how likely the member is to answer at all now
    profile_weight: np.ndarray  # (n_members,) weight of the profile match, higher for thin content
    recency: np.ndarray  # (n_contrib,) in (0, 1]: how much each contribution still counts


def member_priors(corpus: Corpus, settings: Settings) -> MemberPriors:
    """Activity prior and profile weights of every member.

    The prior is recency-weighted answering activity, saturating:
    ``((a + a0) / (a + a0 + k)) ** prior_weight`` where ``a0`` is the activity every member
    starts with (a newcomer is not "inactive"), times the same on the share clock when
    ``prior_share_weight`` > 0 (ranking/prior.py), optionally scaled towards the member's
    smoothed acceptance rate.
    """
    n = corpus.n_members
    cls, member = corpus.contrib_class, corpus.contrib_member
    answering = np.isin(cls, OFFERING_CLASSES)
    documents = np.bincount(member, weights=answering, minlength=n)
    # Members with little content of their own lean on what they say about themselves.
    thin = 1.0 - np.minimum(documents / max(settings.cold_start_documents, 1), 1.0)
    profile_weight = settings.profile_weight + settings.cold_start_profile_weight * thin
    recency = community_clock_recency(corpus, settings.recency_half_life_answers)
    # Asking can show a member is around; off by default (it did not help on the dev dumps).
    kind = answering + settings.activity_question_weight * (cls == ASKER)
    activity = np.bincount(member, weights=recency * kind, minlength=n)
    share_weight, share = share_clock_factor(corpus, settings)
    prior = activity_prior(activity, share, settings, share_weight)
    if settings.prior_acceptance_share > 0:
        prior = prior * (1.0 - settings.prior_acceptance_share + settings.prior_acceptance_share * _acceptance(corpus))
    return MemberPriors(prior, profile_weight, recency)


def _acceptance(corpus: Corpus) -> np.ndarray:
    """Acceptance rate, smoothed towards the community's so one lucky answer is not 100%."""
    cls, member, n = corpus.contrib_class, corpus.contrib_member, corpus.n_members
    answers = np.bincount(member, weights=(cls == ACCEPTED) | (cls == ANSWER), minlength=n)
    accepted = np.bincount(member, weights=cls == ACCEPTED, minlength=n)
    base_rate = accepted.sum() / max(answers.sum(), 1.0)
    return (accepted + 2.0 * base_rate) / (answers + 2.0)


@dataclass(frozen=True)
class MemberEvidence:
    """The contributions that made the members' content scores, and those scores."""

    member: np.ndarray  # (n_counted,) member row of each counted contribution, sorted
    doc_hit: np.ndarray  # (n_counted,) index into DocumentHits arrays
    weight: np.ndarray  # (n_counted,) what the contribution added, best first per member
    scored: np.ndarray  # (n_scored,) int64 rows of the members with a counted contribution, sorted
    content: np.ndarray  # (n_scored,) their content score > 0 (every other member's is 0)
    n_members: int

    @cached_property
    def scores(self) -> np.ndarray:
        """(n_members,) content score >= 0 of every member, built on first read."""
        out = np.zeros(self.n_members)
        out[self.scored] = self.content
        return out


def aggregate_members(
    hits: DocumentHits, corpus: Corpus, settings: Settings, recency: np.ndarray | None = None
) -> MemberEvidence:
    """Document-centric aggregation: each contribution adds role x recency x relevance ** power.

    The power makes a few strong matches outweigh many weak ones (a focused expert beats
    a generalist); only a member's ``top_documents`` best contributions count, each worth
    ``rank_decay`` times the previous. Costs what the hits touched: only the members with a
    counted contribution get a score (``MemberEvidence.scores`` spreads them on demand).
    """
    contrib = corpus.contributions_of_docs(hits.docs)
    return aggregate_contributions(
        hits,
        corpus.contrib_member[contrib],
        corpus.contrib_doc[contrib],
        corpus.contrib_class[contrib],
        None if recency is None else recency[contrib],
        settings,
        corpus.n_members,
    )


def aggregate_contributions(
    hits: DocumentHits,
    member: np.ndarray,
    doc: np.ndarray,
    kind: np.ndarray,
    recency: np.ndarray | None,
    settings: Settings,
    n_members: int,
) -> MemberEvidence:
    """``aggregate_members`` from the contributions to the hit documents, in document order:
    each one's member, document, evidence class and recency (a caller that read them passes them)."""
    # Position of each contribution's document within hits (docs are sorted, unique).
    doc_hit = np.searchsorted(hits.docs, doc)
    member = member.astype(np.int64)
    weight = role_weights(settings)[kind] * hits.relevance[doc_hit] ** settings.relevance_power
    if recency is not None:
        weight = weight * recency
    order = np.lexsort((-weight, member))
    member, doc_hit, weight = member[order], doc_hit[order], weight[order]
    rank = rank_within_runs(member)
    counted = (rank < settings.top_documents) & (weight > 0)
    member, doc_hit, weight = member[counted], doc_hit[counted], weight[counted] * settings.rank_decay ** rank[counted]
    # Each member's terms summed in the order they come, as a bincount over every member would.
    first = run_starts(member)
    content = np.bincount(np.cumsum(first) - 1, weights=weight, minlength=int(first.sum()))
    return MemberEvidence(member, doc_hit, weight, member[first], content, n_members)


def rank_within_runs(sorted_keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal keys (a sorted array, or any with equal keys together)."""
    position = np.arange(len(sorted_keys))
    return position - np.maximum.accumulate(np.where(run_starts(sorted_keys), position, 0))


def run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """(n,) bool: where each run of equal keys of a sorted array starts."""
    first = np.empty(len(sorted_keys), dtype=bool)
    first[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first[1:])
    return first


def topical_match(content: np.ndarray, profile: np.ndarray, priors: MemberPriors, settings: Settings) -> np.ndarray:
    """Content evidence plus the (cold-start weighted) profile match, saturated into (0, 1).

    ``match_floor`` keeps a member with no matching document above zero, so between two
    such members the prior still decides, and the saturation keeps volume from growing
    the score without bound.
    """
    match = content + priors.profile_weight * profile + settings.match_floor
    return match / (match + settings.match_saturation)


def blend(content: np.ndarray, profile: np.ndarray, priors: MemberPriors, settings: Settings) -> np.ndarray:
    """Final member score in (0, 1): topical match times the activity prior.

    The match is built from absolute cosine and BM25 values and the prior does not depend on
    the query, so a member's scores for two queries differ only through the match: they are
    comparable across queries.
    """
    return topical_match(content, profile, priors, settings) * priors.prior
