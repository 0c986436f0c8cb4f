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

from copmatch.ranking.corpus import ASKER, OFFERING_CLASSES, Corpus, concat_ranges
from copmatch.ranking.retrieval import Searcher
from copmatch.ranking.scores import role_weights
from copmatch.settings import Settings


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def document_vectors(searcher: Searcher, rows: np.ndarray | None = None) -> np.ndarray:
    """(n, dim) unit mean of each document's passage vectors, for every document or just
    ``rows`` (then only their passages are read); zero for a document without text."""
    corpus = searcher.corpus
    dim = searcher.passage_vectors.shape[1] if corpus.n_passages else searcher.dimension
    ptr = searcher.doc_passage_ptr
    every = rows is None
    rows = np.arange(corpus.n_docs) if every else np.asarray(rows, dtype=np.int64)
    counts = ptr[rows + 1] - ptr[rows]
    out = np.zeros((len(rows), dim), dtype=np.float32)
    has_text = np.flatnonzero(counts > 0)
    if len(has_text):
        if every:  # every document: its passages are the whole matrix, in order
            vectors, starts = np.asarray(searcher.passage_vectors, dtype=np.float32), ptr[rows[has_text]]
        else:  # a few documents: read only their passages (a large snapshot reads row by row)
            passages = concat_ranges(ptr, rows[has_text])
            vectors = np.asarray(searcher.passage_vectors[passages], dtype=np.float32)
            starts = np.concatenate(([0], np.cumsum(counts[has_text])[:-1]))
        # Each document's passages are one run, so one reduceat sums them all.
        out[has_text] = normalise_rows(np.add.reduceat(vectors, starts, axis=0))
    return out


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
    """(n_contrib,) 1 for a contribution made "now" (the corpus's newest document), halving
    every half-life of the activity clock: ``intro_activity_half_life_days`` of the calendar,
    or ``intro_activity_half_life_posts`` documents posted since (the community's own clock,
    which does not count a quiet year as ageing). An undated one counts as one half-life old."""
    days = corpus.doc_days[corpus.contrib_doc]
    dated = np.isfinite(days)
    if settings.intro_activity_clock == "posts":
        half_life = settings.intro_activity_half_life_posts
        known = np.sort(corpus.doc_days[np.isfinite(corpus.doc_days)])
        # Documents posted after each contribution's document: its age on the community's clock.
        age = np.where(dated, len(known) - np.searchsorted(known, np.where(dated, days, 0.0), side="right"), half_life)
    elif settings.intro_activity_clock == "days":
        half_life = settings.intro_activity_half_life_days
        now = np.nanmax(corpus.doc_days) if dated.any() else 0.0
        age = np.where(dated, now - days, half_life)
    else:
        raise ValueError(f"intro_activity_clock must be 'days' or 'posts', not {settings.intro_activity_clock!r}")
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
