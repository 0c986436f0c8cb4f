"""What practice already exists on this? Related documents, one per document, diverse.

Passages are retrieved like for expert finding (dense + BM25, absolute relevance), a
document is as relevant as its best passage, and an answer counts for its question (an
answered question is one result, whichever of its answers matched). Maximal marginal
relevance then keeps near-duplicates of a result already chosen from crowding the list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field

import numpy as np

from copmatch.errors import IndexMissingError, InvalidQueryError
from copmatch.index.sparse import SparseMatch
from copmatch.ranking.retrieval import Searcher
from copmatch.ranking.scores import document_relevance, passage_relevance
from copmatch.ranking.snippets import FocusedSnippets
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


class Threads:
    """Which thread a document belongs to (an answer counts for its question) and how many
    answers a question has, read from the store for the documents a query matched only: at a
    million documents, reading every document's facts cost seconds per query. Only documents
    in the snapshot count, as the rest of the answer does."""

    def __init__(self, searcher: Searcher, store: Store) -> None:
        self.searcher, self.store = searcher, store

    def rows(self, docs: np.ndarray) -> np.ndarray:
        """(len(docs),) the row each document row counts for: an answer's question, else itself."""
        corpus, row_of = self.searcher.corpus, self.searcher.document_rows
        out = np.asarray(docs, dtype=np.int64).copy()
        answers = np.flatnonzero(corpus.doc_kinds[out] == "answer")
        facts = self.store.documents_facts([str(corpus.doc_ids[out[i]]) for i in answers.tolist()])
        for i in answers.tolist():
            parent = (facts.get(str(corpus.doc_ids[out[i]])) or {}).get("parent_id")
            if parent in row_of:
                out[i] = row_of[parent]
        return out

    def answer_rows(self, questions: np.ndarray) -> list[tuple[int, int]]:
        """(answer row, question row) of every answer in the snapshot to the given question rows."""
        ids, row_of = self.searcher.corpus.doc_ids, self.searcher.document_rows
        pairs = self.store.answers_of([str(ids[q]) for q in np.unique(questions).tolist()])
        return [(row_of[a], row_of[q]) for a, q in pairs if a in row_of and q in row_of]

    def answer_counts(self, questions: np.ndarray) -> np.ndarray:
        """(len(questions),) answers in the snapshot to each question row."""
        counts: dict[int, int] = {}
        for _, question in self.answer_rows(questions):
            counts[question] = counts.get(question, 0) + 1
        return np.array([counts.get(int(q), 0) for q in np.asarray(questions).tolist()], dtype=np.int64)

    def thread(self, row: int) -> set[int]:
        """Every row of the document's thread: its question and all the question's answers."""
        question = int(self.rows(np.array([row]))[0])
        return {question, row, *(a for a, _ in self.answer_rows(np.array([question])))}


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
    store: Store,
    query_vector: np.ndarray,
    query_text: str,
    settings: Settings,
    kinds: Collection[str] | None = None,
    limit: int = 10,
    exclude_rows: Collection[int] = (),
    lexical: Future[SparseMatch] | None = None,
) -> list[Practice]:
    """Documents addressing the query, one per thread, diversified (the store gives the
    matched documents' threads and tags); ``exclude_rows`` are document rows never to return;
    ``lexical``: the query's BM25 search if already started (``Searcher.start_lexical``)."""
    kinds = tuple(kinds or DEFAULT_KINDS)
    corpus = searcher.corpus
    candidates = searcher.retrieve(
        query_vector, query_text, settings.dense_top_k, settings.sparse_top_k, lexical=lexical
    )
    hits = document_relevance(
        candidates.ids, passage_relevance(candidates.cos, candidates.bm25, settings), corpus.passage_doc
    )
    threads = Threads(searcher, store)
    target = threads.rows(hits.docs)
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
    target, relevance, passage, source = target[keep], relevance[keep], passage[keep], source[keep]
    answers = threads.answer_counts(target)
    # A question nobody answered is not existing practice; it is an open need.
    answered = (corpus.doc_kinds[target] != "question") | (answers > 0)
    target, relevance, passage, source, answers = (
        target[answered],
        relevance[answered],
        passage[answered],
        source[answered],
        answers[answered],
    )
    top = np.argsort(-relevance, kind="stable")[: settings.practices_candidates]
    vectors = searcher.document_vectors(target[top])
    picked = top[mmr(relevance[top], vectors, limit, settings.practices_mmr_lambda)]
    texts = searcher.passage_texts([int(p) for p in passage[picked]])
    shown = store.documents_facts([str(corpus.doc_ids[target[i]]) for i in picked.tolist()])
    tags = {doc_id: list(fact.get("tags") or []) for doc_id, fact in shown.items()}
    snippet_of = FocusedSnippets(query_text, settings.snippet_chars)
    return [
        Practice(
            document_id=str(corpus.doc_ids[target[i]]),
            kind=str(corpus.doc_kinds[target[i]]),
            title=str(corpus.doc_titles[target[i]]),
            score=round(float(relevance[i]), 4),
            snippet=snippet_of(texts.get(int(passage[i]), "")),
            matched_document_id=str(corpus.doc_ids[source[i]]),
            answers=int(answers[i]),
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
    exclude: set[int] = set()
    lexical = None
    if like is not None:
        vector, text, exclude = like_document(searcher, store, store.get_document(like), settings)
    else:
        lexical = searcher.start_lexical(text, settings.sparse_top_k)  # BM25 runs while the text is encoded
        vector = encode([text])[0]
    return related_practices(searcher, store, vector, text, settings, kinds, limit, exclude, lexical)


def validate_kinds(kinds: Collection[str] | None, known: Collection[str]) -> None:
    unknown = sorted(set(kinds or ()) - set(known))
    if unknown:
        raise InvalidQueryError(
            f"Unknown document kind(s): {', '.join(unknown)}.", hint=f"Use one of: {', '.join(sorted(known))}."
        )


def like_document(
    searcher: Searcher, store: Store, document: dict, settings: Settings
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
    return vector, text, Threads(searcher, store).thread(row)
