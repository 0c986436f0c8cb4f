"""What documents and members are about: topic vectors from a snapshot, and tags.

Topic labels (tags, key phrases) are named by ``labels.py``.

Vectors are computed on demand from the snapshot's passage vectors (one sparse matrix
product each), so they always match the index being served and need no extra files.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from copmatch.ranking.corpus import ASKER, OFFERING_CLASSES, Corpus
from copmatch.ranking.recency import calendar_recency
from copmatch.ranking.retrieval import Searcher, normalise_rows
from copmatch.ranking.scores import role_weights
from copmatch.settings import Settings


def topic_role_weights(settings: Settings) -> np.ndarray:
    """How much each kind of contribution says about what a member works on.

    Unlike expert finding, asking counts for a lot: two people asking about the same
    problem are exactly who should meet.
    """
    weights = role_weights(settings).astype(np.float32)
    weights[ASKER] = settings.intro_interest_weight
    return weights


def membership_matrix(corpus: Corpus, settings: Settings) -> sparse.csr_matrix:
    """(n_members, n_docs) topic weight of each member's contribution to each document."""
    weights = topic_role_weights(settings)[corpus.contrib_class]
    return sparse.csr_matrix(
        (weights, (corpus.contrib_member, corpus.contrib_doc)), shape=(corpus.n_members, corpus.n_docs)
    )


def member_vectors(searcher: Searcher, doc_vectors: np.ndarray, settings: Settings) -> np.ndarray:
    """(n_members, dim) unit topic vector per member: their contributions, blended with
    their profile (bio, skills). Zero for a member with neither."""
    content = normalise_rows(np.asarray(membership_matrix(searcher.corpus, settings) @ doc_vectors))
    profile = np.asarray(searcher.profile_vectors, dtype=np.float32)
    has_content = np.linalg.norm(content, axis=1) > 0
    has_profile = np.linalg.norm(profile, axis=1) > 0
    profile_weight = np.where(has_content, settings.intro_profile_weight, 1.0) * has_profile
    blended = (1.0 - profile_weight)[:, None] * content + profile_weight[:, None] * profile
    return normalise_rows(blended)


@dataclass(frozen=True)
class MemberTopics:
    """What each member works on, asks about and knows, and how active they are lately."""

    topic: np.ndarray  # (n_members, dim) unit: all contributions blended with the profile
    interest: np.ndarray  # (n_members, dim) unit: the questions they asked; zero if none
    expertise: np.ndarray  # (n_members, dim) unit: what they answered or wrote; zero if none
    asking: np.ndarray  # (n_members,) recency-weighted questions asked, over the busiest member's total
    offering: np.ndarray  # (n_members,) recency-weighted answers and documents, same scale


def recency_weights(corpus: Corpus, settings: Settings) -> np.ndarray:
    """(n_contrib,) how much each contribution says a member is active now, on the
    introductions' clock: calendar days by default (``ranking/recency.py`` says why), or
    ``intro_activity_half_life_posts`` documents posted since (measured no better; kept so
    the choice can be re-measured). An undated one counts as one half-life old."""
    if settings.intro_activity_clock == "days":
        return calendar_recency(corpus, settings.intro_activity_half_life_days)
    if settings.intro_activity_clock != "posts":
        raise ValueError(f"intro_activity_clock must be 'days' or 'posts', not {settings.intro_activity_clock!r}")
    half_life = settings.intro_activity_half_life_posts
    days = corpus.doc_days[corpus.contrib_doc]
    dated = np.isfinite(days)
    known = np.sort(corpus.doc_days[np.isfinite(corpus.doc_days)])
    # Documents posted after each contribution's document: its age on the community's clock.
    age = np.where(dated, len(known) - np.searchsorted(known, np.where(dated, days, 0.0), side="right"), half_life)
    return 0.5 ** (np.maximum(age, 0.0) / half_life)


def member_topics(searcher: Searcher, doc_vectors: np.ndarray, settings: Settings) -> MemberTopics:
    corpus = searcher.corpus
    asked = corpus.contrib_class == ASKER
    offered = np.isin(corpus.contrib_class, OFFERING_CLASSES)

    def sums(weights: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix(
            (weights, (corpus.contrib_member, corpus.contrib_doc)), shape=(corpus.n_members, corpus.n_docs)
        )

    recent = recency_weights(corpus, settings)
    asking = np.asarray(sums(asked * recent).sum(axis=1)).ravel()
    offering = np.asarray(sums(offered * recent).sum(axis=1)).ravel()
    scale = max(float((asking + offering).max(initial=0.0)), 1e-12)
    return MemberTopics(
        topic=member_vectors(searcher, doc_vectors, settings),
        interest=normalise_rows(np.asarray(sums(asked.astype(np.float32)) @ doc_vectors)),
        expertise=normalise_rows(np.asarray(sums(offered.astype(np.float32)) @ doc_vectors)),
        asking=asking / scale,
        offering=offering / scale,
    )


def document_tags(documents: Iterable[dict]) -> dict[str, list[str]]:
    """Each document's tags; an answer without its own tags takes its question's."""
    documents = list(documents)
    own = {d["id"]: list(d.get("tags") or []) for d in documents}
    return {d["id"]: own[d["id"]] or own.get(d.get("parent_id") or "", []) for d in documents}


def member_tag_counts(documents: Iterable[dict], contributions: Iterable[tuple[str, str, str]]) -> dict[str, Counter]:
    """How often each tag occurs on the documents a member contributed to."""
    tags = document_tags(documents)
    counts: dict[str, Counter] = defaultdict(Counter)
    for member_id, document_id, _role in contributions:
        counts[member_id].update(tags.get(document_id, ()))
    return dict(counts)
