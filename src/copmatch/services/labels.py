"""Naming topics: the tags, else the multi-word key phrases, that distinguish some documents.

A label is a *tag* where the documents have tags, else a *key phrase* of two or three
words that occur together in the text (never a stopword, a number or a lone common
word). Both are weighted like class-based TF-IDF: how many of the topic's documents
carry the term, times how rare the term is in the whole community, so a term every
document has ("water" in a water utility) names nothing, times how *coherent* it is: how
much the documents carrying it are about one thing (the mean resultant length of their
vectors less the community's mean document, above what as many random documents reach).
A process tag that goes with every topic ("support", "feature-request" on a meta site)
or a stock phrase ("stack exchange", "i've heard") is incoherent and never a label.

One labeller names the pairs of an introduction (a term both members' documents carry,
``common``) and the topics of the health report (``describe``). The document-term
matrices are scikit-learn's ``CountVectorizer`` with our own phrase analyser, built once
per snapshot and kept while the snapshot is served.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from copmatch.ranking.retrieval import Searcher
from copmatch.services.topics import document_tags
from copmatch.settings import Settings
from copmatch.store.store import Store

TAG, PHRASE = "tag", "key phrase"

# Words that never name a topic in any community, on top of scikit-learn's English
# stopwords: conversational verbs and fillers of Q&A posts, vague nouns and adjectives.
# A phrase containing one of them is not a key phrase ("make sure", "good idea").
_GENERIC_TEXT = """
able actually add added advance agree ago ahead allow allowed already answer answered answers anybody anyway
appreciate appreciated approach around ask asked asking aware bad best better big bit came case cases cause
certain certainly change changed check checked clear come comes coming common completely consider could day
days did different difficult does doing don done easy edit edited else end etc even exactly example fact fair
far feel felt fine find finding first following found free get gets getting give given gives giving going good
got great guess happen happened happens hard help helpful hey hi high hope hours idea ideas important instance
interested issue issues just kind know knowing known large last later least left let like likely little long
look looked looking lot lots low made main make makes making matter maybe mean means mention mentioned might
mind minutes months much need needed needs new nice normal note number obviously often okay old one ones open
opinion option options order others part particular people perhaps place please point possible post posted
posts pretty probably problem problems put question questions quite rather read really reason recently regards
related right said saw say saying says see seem seems seen set similar simple simply since small someone
something sometimes soon sort sound sounds specific start started stuff suggest suggestion sure take taken
takes taking tell thank thanks thing things think thought time times tried try trying turn two type types use
used useful uses using usually various want wanted wants way ways week weeks well went whether work worked
working works would wrong year years yes yet
"""
# Tags a Q&A site files posts under by what kind of post they are, not what they are about
# (StackExchange meta sites: "support", "bug", "status-completed"): never a topic's name.
_PROCESS_TEXT = """
bug bugs discussion feature-request meta support tags tag status-bydesign status-completed status-declined
status-deferred status-norepro status-planned status-review
"""
GENERIC_WORDS = frozenset(_GENERIC_TEXT.split()) | frozenset(_PROCESS_TEXT.split()) | ENGLISH_STOP_WORDS

_SEGMENT = re.compile(r"[.,;:!?()\[\]{}\"“”/\\|<>*=+#\n\r\t]+")
_TOKEN = re.compile(r"[a-z][a-z'’-]*[a-z]")
_CONTRACTION = re.compile(r"['’]")


def phrase_tokens(text: str) -> list[list[str]]:
    """The text as lists of lowercase word tokens, one list per clause (split at
    punctuation), so a phrase never spans two sentences. Numbers are not words."""
    return [_TOKEN.findall(segment) for segment in _SEGMENT.split(text.lower())]


def key_phrases(text: str, max_words: int = 3) -> list[str]:
    """Every run of 2..max_words consecutive content words in the text (no stopword,
    number or generic word inside): the candidate key phrases of a document."""
    found: list[str] = []
    for tokens in phrase_tokens(text):
        # A contraction ("i've", "don't") is conversation, never part of a topic's name.
        content = [len(t) > 2 and t not in GENERIC_WORDS and not _CONTRACTION.search(t) for t in tokens]
        for n in range(2, max_words + 1):
            found += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1) if all(content[i : i + n])]
    return found


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs as consecutive words of one clause of ``text``."""
    target = phrase.split()
    n = len(target)
    return any(tokens[i : i + n] == target for tokens in phrase_tokens(text) for i in range(len(tokens) - n + 1))


@dataclass(frozen=True)
class Label:
    text: str
    source: str  # TAG or PHRASE
    score: float
    term: int  # column in its source's matrix


@dataclass(frozen=True)
class TermMatrix:
    """(n_docs, n_terms) binary: which document carries which term, with the terms' idf."""

    matrix: sparse.csr_matrix
    csc: sparse.csc_matrix
    names: np.ndarray  # (n_terms,) str
    idf: np.ndarray  # (n_terms,) float
    coherence: np.ndarray  # (n_terms,) 0..1: how much the term's documents are about one thing

    @classmethod
    def build(cls, vectorizer: CountVectorizer, inputs: list, centred: np.ndarray, settings: Settings) -> TermMatrix:
        n_docs = len(inputs)
        try:
            matrix = vectorizer.fit_transform(inputs).tocsr().astype(np.float32)
        except ValueError:  # no term in any document
            return cls.empty(n_docs)
        matrix.data[:] = 1.0
        df = np.asarray(matrix.sum(axis=0)).ravel()
        # A term on a large share of documents distinguishes nothing; a min_df cut keeps
        # terms two documents share (a single document's wording is not a topic).
        keep = np.flatnonzero((df >= 2) & (df <= max(2, settings.label_max_document_share * n_docs)))
        coherence = term_coherence(matrix[:, keep], centred)
        keep = keep[coherence >= settings.label_min_coherence]
        matrix = matrix[:, keep]
        idf = np.log((1 + n_docs) / (1 + df[keep])) + 1.0
        names = np.asarray(vectorizer.get_feature_names_out())[keep]
        coherence = coherence[coherence >= settings.label_min_coherence]
        return cls(matrix, matrix.tocsc(), names, idf.astype(np.float64), coherence.astype(np.float64))

    @classmethod
    def empty(cls, n_docs: int) -> TermMatrix:
        matrix = sparse.csr_matrix((n_docs, 0), dtype=np.float32)
        return cls(matrix, matrix.tocsc(), np.array([], dtype=str), np.zeros(0), np.zeros(0))

    def terms_of(self, doc: int) -> np.ndarray:
        return self.matrix.indices[self.matrix.indptr[doc] : self.matrix.indptr[doc + 1]]

    def docs_of(self, term: int) -> np.ndarray:
        return self.csc.indices[self.csc.indptr[term] : self.csc.indptr[term + 1]]


class Labeller:
    """Tags and key phrases of every document of one snapshot, and the labels they give."""

    def __init__(self, tags: TermMatrix, phrases: TermMatrix) -> None:
        self.tags, self.phrases = tags, phrases

    @classmethod
    def build(
        cls, searcher: Searcher, documents: Iterable[dict], doc_vectors: np.ndarray, settings: Settings
    ) -> Labeller:
        """From the store's documents (id, kind, title, body, tags, parent_id) as the snapshot
        lists them: each document's text is the title a broker sees (an answer shows its
        question's) and its body, whole (passages are cut mid-word)."""
        corpus = searcher.corpus
        documents = list(documents)
        bodies = {d["id"]: d.get("body") or "" for d in documents}
        doc_ids = corpus.doc_ids.tolist()
        texts = [shown_text(str(title), bodies.get(d, "")) for d, title in zip(doc_ids, corpus.doc_titles.tolist())]
        tags_of = document_tags(documents)
        # A tag that is a generic or process word ("support", "bug") names no topic either.
        doc_tags = [[t for t in tags_of.get(d, []) if t.lower() not in GENERIC_WORDS] for d in doc_ids]
        has_text = np.linalg.norm(doc_vectors, axis=1) > 0
        centre = doc_vectors[has_text].mean(axis=0) if has_text.any() else 0.0
        centred = np.where(has_text[:, None], doc_vectors - centre, 0.0).astype(np.float32)
        tags = TermMatrix.build(CountVectorizer(analyzer=lambda t: t, binary=True), doc_tags, centred, settings)
        phrases = TermMatrix.build(
            CountVectorizer(analyzer=lambda t: key_phrases(t, settings.label_max_words), binary=True),
            texts,
            centred,
            settings,
        )
        return cls(tags, phrases)

    def _matrices(self) -> tuple[tuple[str, TermMatrix], ...]:
        # Tags first: people chose them. Key phrases only where no tag serves.
        return ((TAG, self.tags), (PHRASE, self.phrases))

    def common(
        self, docs_a: np.ndarray, near_a: np.ndarray, docs_b: np.ndarray, near_b: np.ndarray, limit: int
    ) -> list[Label]:
        """Terms carried by some document of each side, best first: rarer terms, carried by
        more of each side's documents and by those nearer the pair's topic (``near_*``: each
        document's closeness, >= 0). Score ``idf * sqrt(weight_a * weight_b)``, a side's
        weight being the summed closeness of its documents carrying the term (class-based
        TF-IDF with the pair's two sides as the classes). Tags when any tag is common, else
        key phrases."""
        for source, terms in self._matrices():
            if terms.idf.size == 0 or len(docs_a) == 0 or len(docs_b) == 0:
                continue
            # (n_terms,) the summed closeness of each side's documents carrying the term.
            best_a = _weight_per_term(terms.matrix[docs_a], near_a)
            best_b = _weight_per_term(terms.matrix[docs_b], near_b)
            shared = np.flatnonzero((best_a > 0) & (best_b > 0))
            if len(shared) == 0:
                continue
            scores = terms.idf[shared] * terms.coherence[shared] * np.sqrt(best_a[shared] * best_b[shared])
            top = shared[np.lexsort((terms.names[shared], -scores))][:limit]
            top_scores = scores[np.searchsorted(shared, top)]
            return [Label(str(terms.names[t]), source, float(s), int(t)) for t, s in zip(top, top_scores)]
        return []

    def describe(self, docs: np.ndarray, limit: int, min_documents: int = 2) -> list[Label]:
        """The terms that distinguish a group of documents (class-based TF-IDF: share of
        the group carrying the term times its idf), carried by at least ``min_documents``."""
        docs = np.asarray(docs, dtype=np.int64)
        for source, terms in self._matrices():
            if terms.idf.size == 0 or len(docs) == 0:
                continue
            counts = np.asarray(terms.matrix[docs].sum(axis=0)).ravel()
            found = np.flatnonzero(counts >= min(min_documents, len(docs)))
            if len(found) == 0:
                continue
            scores = counts[found] / len(docs) * terms.idf[found] * terms.coherence[found]
            order = np.lexsort((terms.names[found], -scores))[:limit]
            return [Label(str(terms.names[found[i]]), source, float(scores[i]), int(found[i])) for i in order]
        return []

    def carries(self, doc: int, label: Label) -> bool:
        """Whether document row ``doc`` carries the label (has the tag, or the phrase)."""
        terms = self.tags if label.source == TAG else self.phrases
        return bool(np.isin(label.term, terms.terms_of(doc)))


def term_coherence(matrix: sparse.csr_matrix, centred: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """(n_terms,) for each term (a column of the binary doc-term ``matrix``): the mean
    resultant length of its documents' ``centred`` vectors (1: all about the same thing),
    less the 1/sqrt(df) that as many unrelated documents reach, rescaled to 0..1."""
    csc = matrix.tocsc()
    df = np.asarray(csc.sum(axis=0)).ravel()
    lengths = np.linalg.norm(centred, axis=1)
    out = np.zeros(csc.shape[1])
    for start in range(0, csc.shape[1], chunk):  # (chunk, dim) at a time, not (n_terms, dim)
        block = csc[:, start : start + chunk]
        resultant = np.linalg.norm(np.asarray(block.T @ centred), axis=1)
        total = np.asarray(block.T @ lengths).ravel()
        out[start : start + block.shape[1]] = resultant / np.maximum(total, 1e-12)
    chance = 1.0 / np.sqrt(np.maximum(df, 1.0))
    return np.clip((out - chance) / np.maximum(1.0 - chance, 1e-12), 0.0, 1.0)


def _weight_per_term(rows: sparse.csr_matrix, closeness: np.ndarray) -> np.ndarray:
    """(n_terms,) sum over the rows carrying each term of that row's closeness."""
    return np.asarray(rows.T @ np.asarray(closeness, dtype=np.float32)).ravel()


def shown_text(title: str, body: str) -> str:
    """The text a label must occur in: the title shown for a document, then its body."""
    return f"{title}\n{body}"


_CACHE: weakref.WeakKeyDictionary[Searcher, dict[tuple, Labeller]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def labeller_for(
    searcher: Searcher, store: Store, settings: Settings, doc_vectors: np.ndarray | None = None
) -> Labeller:
    """The labeller of a served snapshot, built on first use (reading the documents' text
    from the store once) and kept while the snapshot is served."""
    key = (settings.label_max_document_share, settings.label_max_words, settings.label_min_coherence)
    with _CACHE_LOCK:
        built = _CACHE.setdefault(searcher, {})
        if key not in built:
            vectors = searcher.document_vectors() if doc_vectors is None else doc_vectors
            built[key] = Labeller.build(searcher, store.documents(), vectors, settings)
        return built[key]
