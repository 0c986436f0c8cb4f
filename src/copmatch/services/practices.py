"""What practice already exists on this? Related documents, one per document, diverse.

Passages are retrieved like for expert finding (dense + BM25, absolute relevance), a
document is as relevant as its best passage, and an answer counts for its question (an
answered question is one result, whichever of its answers matched). Maximal marginal
relevance then keeps near-duplicates of a result already chosen from crowding the list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field

import numpy as np

from copmatch.errors import IndexMissingError, InvalidQueryError
from copmatch.ranking.retrieval import Searcher
from copmatch.ranking.scores import document_relevance, passage_relevance
from copmatch.ranking.snippets import focused_snippet
from copmatch.settings import Settings
from copmatch.store.store import Store

DEFAULT_KINDS = ("practice", "publication", "question")
KNOWN_KINDS = (*DEFAULT_KINDS, "answer", "comment")


@dataclass(frozen=True)
class Practice:
    document_id: str
    kind: str
    title: str
    score: float  # relevance in [0, 1] of the best matching passage
    snippet: str
    matched_document_id: str  # the document the snippet is from: itself or one of its answers
    answers: int = 0
    tags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def thread_rows(searcher: Searcher, facts: list[dict]) -> np.ndarray:
    """(n_docs,) the row a document counts for: an answer's question, else itself."""
    corpus, row_of = searcher.corpus, searcher.document_rows
    rows = np.arange(corpus.n_docs)
    for fact in facts:
        if fact["kind"] == "answer" and fact.get("parent_id") in row_of and fact["id"] in row_of:
            rows[row_of[fact["id"]]] = row_of[fact["parent_id"]]
    return rows


def mmr(relevance: np.ndarray, vectors: np.ndarray, limit: int, trade_off: float) -> list[int]:
    """Maximal marginal relevance: indices, each maximising relevance minus similarity to
    those already picked. (n,) relevance and (n, dim) unit vectors."""
    chosen: list[int] = []
    max_similarity = np.full(len(relevance), -np.inf)
    available = np.ones(len(relevance), dtype=bool)
    for _ in range(min(limit, len(relevance))):
        redundancy = np.where(np.isfinite(max_similarity), max_similarity, 0.0)
        gain = np.where(available, trade_off * relevance - (1.0 - trade_off) * redundancy, -np.inf)
        best = int(np.argmax(gain))
        chosen.append(best)
        available[best] = False
        max_similarity = np.maximum(max_similarity, vectors @ vectors[best])
    return chosen


def related_practices(
    searcher: Searcher,
    facts: list[dict],
    query_vector: np.ndarray,
    query_text: str,
    settings: Settings,
    kinds: Collection[str] | None = None,
    limit: int = 10,
    exclude_rows: Collection[int] = (),
) -> list[Practice]:
    """Documents addressing the query, one per thread, diversified. ``facts`` are the
    store's ``document_facts()``; ``exclude_rows`` are document rows never to return."""
    kinds = tuple(kinds or DEFAULT_KINDS)
    corpus = searcher.corpus
    candidates = searcher.retrieve(query_vector, query_text, settings.dense_top_k, settings.sparse_top_k)
    hits = document_relevance(
        candidates.ids, passage_relevance(candidates.cos, candidates.bm25, settings), corpus.passage_doc
    )
    thread = thread_rows(searcher, facts)
    answers = np.bincount(thread[corpus.doc_kinds == "answer"], minlength=corpus.n_docs)
    target = thread[hits.docs]
    # Best hit per target document: sort by (target, -relevance) and keep each run's first.
    order = np.lexsort((-hits.relevance, target))
    first = order[np.r_[True, target[order][1:] != target[order][:-1]]] if len(order) else order
    target, relevance, passage, source = (
        target[first],
        hits.relevance[first],
        hits.best_passage[first],
        hits.docs[first],
    )
    keep = np.isin(corpus.doc_kinds[target], kinds) & ~np.isin(target, list(exclude_rows))
    # A question nobody answered is not existing practice; it is an open need.
    keep &= (corpus.doc_kinds[target] != "question") | (answers[target] > 0)
    target, relevance, passage, source = target[keep], relevance[keep], passage[keep], source[keep]
    top = np.argsort(-relevance, kind="stable")[: settings.practices_candidates]
    vectors = searcher.document_vectors(target[top])
    picked = top[mmr(relevance[top], vectors, limit, settings.practices_mmr_lambda)]
    texts = searcher.passage_texts([int(p) for p in passage[picked]])
    tags = {f["id"]: list(f.get("tags") or []) for f in facts}
    return [
        Practice(
            document_id=str(corpus.doc_ids[target[i]]),
            kind=str(corpus.doc_kinds[target[i]]),
            title=str(corpus.doc_titles[target[i]]),
            score=round(float(relevance[i]), 4),
            snippet=focused_snippet(texts.get(int(passage[i]), ""), query_text, settings.snippet_chars),
            matched_document_id=str(corpus.doc_ids[source[i]]),
            answers=int(answers[target[i]]),
            tags=tags.get(str(corpus.doc_ids[target[i]]), []),
        )
        for i in picked.tolist()
    ]


def find_practices(
    searcher: Searcher,
    store: Store,
    encode: Callable[[list[str]], np.ndarray],
    settings: Settings,
    text: str | None = None,
    like: str | None = None,
    kinds: Collection[str] | None = None,
    limit: int = 10,
) -> list[Practice]:
    """Related practice for a text, or for "like this document" (its own thread excluded).
    Checks the arguments first: exactly one of ``text`` and ``like``, known kinds, a limit in range."""
    validate_kinds(kinds, KNOWN_KINDS)
    if (text is None) == (like is None):
        given = "both" if text is not None else "neither"
        raise InvalidQueryError(
            f"Give a text or a document to match (got {given}).",
            hint='e.g. copmatch practices "chlorine decay", or copmatch practices --like DOC_ID',
        )
    if text is not None and not text.strip():
        raise InvalidQueryError("The text is empty.", hint="Describe the practice you are looking for.")
    if not 1 <= limit <= settings.max_limit:
        raise InvalidQueryError(
            f"limit must be between 1 and {settings.max_limit}, got {limit}.",
            hint=f"Pass --limit with a value from 1 to {settings.max_limit}.",
        )
    facts = store.document_facts()
    exclude: set[int] = set()
    if like is not None:
        vector, text, exclude = like_document(searcher, facts, store.get_document(like), settings)
    else:
        vector = encode([text])[0]
    return related_practices(searcher, facts, vector, text, settings, kinds, limit, exclude)


def validate_kinds(kinds: Collection[str] | None, known: Collection[str]) -> None:
    unknown = sorted(set(kinds or ()) - set(known))
    if unknown:
        raise InvalidQueryError(
            f"Unknown document kind(s): {', '.join(unknown)}.", hint=f"Use one of: {', '.join(sorted(known))}."
        )


def like_document(
    searcher: Searcher, facts: list[dict], document: dict, settings: Settings
) -> tuple[np.ndarray, str, set[int]]:
    """Query vector, query text and excluded rows for "practice like this document":
    the document's own passages, and its whole thread kept out of the results."""
    row = searcher.document_row(document["id"])
    if row is None:
        raise IndexMissingError(
            f"Document {document['id']} was imported after the last index build.",
            hint="Rebuild with: copmatch index build",
        )
    vector = searcher.document_vectors(np.array([row]))[0]
    text = f"{document.get('title') or ''}\n{document.get('body') or ''}"  # BM25 reads the whole text
    thread = thread_rows(searcher, facts)
    return vector, text, set(np.flatnonzero(thread == thread[row]).tolist())
