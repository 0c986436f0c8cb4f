"""The content ranker: members known only by their documents (publications, practice documents).

A community with no question/answer history (reviewer matching: members and their papers)
has nothing to learn a ranker from, so members are scored by what they wrote. The core is the
plain, strong signal: the mean relevance of a member's ``content_top_documents`` most relevant
documents, where a document's relevance is its best passage's cosine plus a saturated BM25 term
on the whole query text. Two backgrounds, both computed from the corpus, make one member's
scores comparable across queries and members comparable within one query:

- **the member's background**: their mean score for "any query of this community" (pseudo
  queries: a fixed sample of the community's own documents, not the member's). A member with
  many documents, or with generic ones, reaches a high top-k cosine for everything; only the
  excess over what they reach anyway says they fit *this* query.
- **the query's background**: its mean relevance to the sampled documents. A generic query
  ("how do I start?") is close to everything, so every member's raw match to it is high; only
  the excess over that says a member fits it better than another query.

The excess ``top-k mean - member background - query background`` is mapped to (0, 1) by a
fixed logistic fitted on development data (Platt), so scores stay absolute: an off-topic query
is far from every member's documents and gives everyone a low score. Nothing is normalised
per query's own ranking. Shape and defaults: benchmarks/content_matching.py (dev split).
Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from copmatch.ranking.corpus import ACCEPTED, ANSWER, ASKER, OFFERING_CLASSES, Corpus, concat_ranges
from copmatch.settings import Settings

# Pseudo queries are scored this many at a time: bounds the (block, n_passages) matrix.
_BLOCK = 64


def is_content_only(corpus: Corpus) -> bool:
    """True when the community has no question/answer history: members are known by documents alone."""
    return corpus.n_docs > 0 and not np.isin(corpus.contrib_class, (ACCEPTED, ANSWER, ASKER)).any()


@dataclass(frozen=True)
class ContentBackground:
    """What the content ranker precomputes once per snapshot."""

    docs: np.ndarray  # (n_sample,) document rows sampled as the background
    passages: np.ndarray  # passage ids of those documents (retrieved with every query)
    member: np.ndarray  # (n_members,) each member's mean top-k score over the sample's pseudo queries


def sample_documents(corpus: Corpus, doc_passage_ptr: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` document rows with text, evenly spread over the corpus (deterministic)."""
    with_text = np.flatnonzero(np.diff(doc_passage_ptr) > 0)
    if len(with_text) <= n:
        return with_text
    return with_text[np.linspace(0, len(with_text) - 1, n).round().astype(np.int64)]


def _text_document_maxima(values: np.ndarray, doc_passage_ptr: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """(..., len(docs)) best passage value of each of ``docs`` (every document with text, in order),
    from (..., n_passages) values.

    Passages are stored in document order, so each document is one run and one reduceat does it."""
    return np.maximum.reduceat(values, doc_passage_ptr[docs], axis=-1) if len(docs) else values[..., :0]


def member_top_mean(corpus: Corpus, doc_values: np.ndarray, k: int) -> np.ndarray:
    """(n_queries, n_members) mean of each member's k best offered documents' values (missing ones
    and negative values count 0), for (n_queries, n_docs) values: one sort for all queries."""
    offering = np.isin(corpus.contrib_class, OFFERING_CLASSES)
    member = corpus.contrib_member[offering].astype(np.int64)
    by_member = np.argsort(member, kind="stable")
    member = member[by_member]
    values = np.maximum(doc_values[:, corpus.contrib_doc[offering][by_member]], 0.0)  # (n_q, n_contrib)
    if not len(member):
        return np.zeros((len(doc_values), corpus.n_members))
    # Best first within each member's run: members stay in place, values sort descending.
    span = float(values.max()) + 1.0
    order = np.argsort(member * span - values, axis=1, kind="stable")
    values = np.take_along_axis(values, order, axis=1)
    starts = np.flatnonzero(np.r_[True, member[1:] != member[:-1]])
    rank = np.arange(len(member)) - np.repeat(starts, np.diff(np.r_[starts, len(member)]))
    sums = np.add.reduceat(values * (rank < k), starts, axis=1)  # (n_q, n_members with documents)
    out = np.zeros((len(doc_values), corpus.n_members))
    out[:, member[starts]] = sums / k
    return out


def content_background(
    corpus: Corpus,
    passage_vectors: np.ndarray,
    doc_passage_ptr: np.ndarray,
    document_vectors: np.ndarray,
    docs: np.ndarray,
    settings: Settings,
) -> ContentBackground:
    """Each member's mean top-k score over pseudo queries: the sampled documents (their mean
    passage vector), each scored against every passage, the member's own documents left out.

    Dense only: a document's text as a BM25 query is not what members ask."""
    n, k = corpus.n_members, settings.content_top_documents
    every_doc = np.arange(corpus.n_docs)
    has_text = np.diff(doc_passage_ptr) > 0
    vectors = np.asarray(passage_vectors, dtype=np.float32).T  # read once (a large snapshot is memory-mapped)
    total, counted = np.zeros(n), np.zeros(n)
    for start in range(0, len(docs), _BLOCK):
        block = docs[start : start + _BLOCK]
        cos = document_vectors[start : start + _BLOCK] @ vectors  # (b, n_passages)
        doc_cos = np.full((len(block), corpus.n_docs), -1.0)
        doc_cos[:, has_text] = _text_document_maxima(cos, doc_passage_ptr, every_doc[has_text])
        scores = member_top_mean(corpus, doc_cos, k)  # (b, n_members)
        own = np.zeros((len(block), n), dtype=bool)  # a member's own document is no background for them
        contrib = corpus.contributions_of_docs(block)
        own[np.searchsorted(block, corpus.contrib_doc[contrib]), corpus.contrib_member[contrib]] = True
        total += np.where(own, 0.0, scores).sum(axis=0)
        counted += (~own).sum(axis=0)
    member = np.where(counted > 0, total / np.maximum(counted, 1), 0.0)
    return ContentBackground(docs, concat_ranges(doc_passage_ptr, docs), member)


def document_relevance(doc_cos: np.ndarray, doc_bm25: np.ndarray, settings: Settings) -> np.ndarray:
    """Relevance of documents: best passage cosine plus the saturated BM25 of the whole query."""
    lexical = doc_bm25 / (doc_bm25 + settings.content_lexical_saturation)
    return doc_cos + settings.content_lexical_weight * lexical


def content_scores(
    corpus: Corpus,
    doc_cos: np.ndarray,
    doc_bm25: np.ndarray,
    background: ContentBackground,
    settings: Settings,
) -> np.ndarray:
    """(n_members,) score in (0, 1) of every member for one query.

    ``doc_cos`` (n_docs,): best passage cosine of each document (-1 where not retrieved; the
    background documents always are), ``doc_bm25`` (n_docs,) its best passage BM25."""
    relevance = document_relevance(doc_cos, doc_bm25, settings)
    raw = member_top_mean(corpus, relevance[None, :], settings.content_top_documents)[0]
    query_background = float(relevance[background.docs].mean()) if len(background.docs) else 0.0
    excess = raw - background.member - query_background
    return 1.0 / (1.0 + np.exp(-(settings.content_score_slope * excess + settings.content_score_intercept)))
