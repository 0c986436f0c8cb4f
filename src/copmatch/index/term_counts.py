"""BM25 from term counts kept in the snapshot, so an incremental build re-tokenises only new text.

bm25s saves only each (term, passage) pair's final score, which depends on the whole
collection (document frequencies, average length): one added passage changes every score,
and the counts it was computed from are gone, so bm25s can only rebuild from the raw text
(tokenising a million passages takes minutes). Here the counts are kept next to the scores,
term-major like bm25s's CSC matrix: ``indptr`` per term, then the passage row and term
frequency of each entry. Scores are recomputed from them with numpy in seconds, by the
formula bm25s uses (method "lucene": Lucene's idf, k1 = 1.5, b = 0.75; computed in float64
and stored as float32 as bm25s does). A full build and an incremental one go through
``score`` alike, so they give the same scores; ``tests/index/test_fast_path.py`` checks them
against bm25s itself.

Tokenisation is the query side's (index/sparse.py): lowercase, ``\\b\\w\\w+\\b``, bm25s's
English stopwords, the Snowball stemmer; a text with no term gets ``EMPTY_TOKEN``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import Stemmer

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenize's default
EMPTY_TOKEN = "\u2400empty"  # tokenize() splits on word characters, so never yields this
K1, B = 1.5, 0.75
METHOD = "lucene"
TF_FILE = "tf.npy"  # (nnz,) uint16 term frequency of each entry
LENGTHS_FILE = "lengths.npy"  # (n_rows,) int32 terms per row (after stopwords)
ROWS_PER_CHUNK = 20_000
_STEMMER = Stemmer.Stemmer("english")


def stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


#: Bytes that are word characters (``\\w``) in ASCII text; every other byte becomes a space.
_ASCII_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_ASCII_SPLIT = bytes(b if b in _ASCII_WORD else 0x20 for b in range(256))
SPACE = 0x20
#: Non-ASCII characters common in English text that are not word characters (tests check it).
_PUNCTUATION = "\u2019\u2018\u201c\u201d\u2013\u2014\u2026\u2022\u00b0\u00a3\u20ac\u00b7\u00ab\u00bb\u00d7\u00a0"
#: Two odd 64-bit multipliers: each word is keyed by two polynomial hashes and its length.
_HASH_BASES = (0x100000001B3, 0x9E3779B97F4A7C15)


def _word_bytes(text: str) -> bytes:
    """``text`` lowercased as UTF-8 in which the runs of non-space bytes are its runs of word
    characters (runs of one character included: the caller drops them). ASCII text (most of
    it) is split by a byte table, 3x faster than the regex, which the rest goes through."""
    text = text.lower()
    if not text.isascii():
        # Most non-ASCII text holds only typographic punctuation (none of it a word character):
        # spaced out, the text takes the fast path too.
        for mark in _PUNCTUATION:
            if mark in text:
                text = text.replace(mark, " ")
        if not text.isascii():
            return " ".join(TOKEN_PATTERN.findall(text)).encode()
    return text.encode().translate(_ASCII_SPLIT)


@dataclass(frozen=True)
class _Words:
    """Every word of a chunk of texts: its row, and its code among the chunk's distinct words
    (codes numbered in order of first occurrence), and those distinct words."""

    rows: np.ndarray  # (n_words,) int64
    codes: np.ndarray  # (n_words,) int64
    distinct: list[str]


def _split_words(texts: Sequence[str]) -> _Words:
    """The words of ``texts`` without a Python object per occurrence: the texts' word bytes are
    joined into one buffer, each word keyed by numpy (two 64-bit polynomial hashes summed with
    ``reduceat``), keys factorised by pandas; only distinct words are decoded. A key shared by
    two different words is detected (second hash or length differs) and the chunk is then
    factorised from the words themselves, so the result is always exact."""
    import pandas as pd  # the build side only: queries never tokenise a corpus

    parts = [_word_bytes(text) for text in texts]
    buffer = b" ".join(parts)
    data = np.frombuffer(buffer, dtype=np.uint8)
    word = data != SPACE
    edge = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
    text_starts = np.cumsum([0] + [len(part) + 1 for part in parts[:-1]], dtype=np.int64)
    rows = np.searchsorted(text_starts, starts, side="right") - 1
    lengths = ends - starts
    # Keys over the word bytes alone: each word is then one run starting at a known offset.
    packed = data[word].astype(np.uint64)
    offsets = np.cumsum(lengths) - lengths
    position = np.arange(len(packed)) - np.repeat(offsets, lengths)
    keys = []
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64, on purpose
        for base in _HASH_BASES:
            powers = np.cumprod(np.full(int(lengths.max(initial=1)), base, dtype=np.uint64), dtype=np.uint64)
            powers = np.concatenate(([np.uint64(1)], powers[:-1]))
            keys.append(np.add.reduceat(packed * powers[position], offsets) if len(offsets) else packed)
    long = lengths >= 2  # \w\w+: a single character is no word
    rows, starts, ends, lengths = rows[long], starts[long], ends[long], lengths[long]
    first_key, second_key = keys[0][long], keys[1][long]
    codes, _ = pd.factorize(first_key)
    first = np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)  # first occurrences
    if not (np.array_equal(second_key[first][codes], second_key) and np.array_equal(lengths[first][codes], lengths)):
        words = np.array([buffer[a:b] for a, b in zip(starts.tolist(), ends.tolist())], dtype=object)
        codes, _ = pd.factorize(words)
        first = np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)
    distinct = [buffer[a:b].decode() for a, b in zip(starts[first].tolist(), ends[first].tolist())]
    return _Words(rows.astype(np.int64), codes.astype(np.int64), distinct)


class Tokeniser:
    """Texts -> term ids, growing a vocabulary; stems each distinct word once.

    Vectorised (``_split_words``): only the distinct words of a chunk are looked up in Python
    (stopwords, stems, term ids). Term ids are given in order of first occurrence, as a
    token-by-token loop would, so the vocabulary is the same."""

    def __init__(self, vocab: dict[str, int] | None = None) -> None:
        self.vocab: dict[str, int] = dict(vocab or {})
        self._stop = stopwords()
        self._stems: dict[str, str] = {}

    def term_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(row, term) of every token occurrence, rows 0..len(texts)-1 in order."""
        words = _split_words(texts)
        terms = self._terms(words.distinct)[words.codes]
        kept = terms >= 0
        rows, terms = words.rows[kept], terms[kept]
        empty_rows = np.flatnonzero(np.bincount(rows, minlength=len(texts)) == 0)
        if len(empty_rows):  # a text with no term gets EMPTY_TOKEN (after the chunk's words)
            empty = self.vocab.setdefault(EMPTY_TOKEN, len(self.vocab))
            at = np.searchsorted(rows, empty_rows)
            rows, terms = np.insert(rows, at, empty_rows), np.insert(terms, at, empty)
        return rows, terms

    def _terms(self, distinct: list[str]) -> np.ndarray:
        """(n_distinct,) term id of each distinct word (first occurrences in order), -1 for a stopword."""
        unseen = [w for w in distinct if w not in self._stems]
        self._stems.update(zip(unseen, _STEMMER.stemWords(unseen)))
        stems, vocab, stop = self._stems, self.vocab, self._stop
        ids = [-1 if w in stop else vocab.setdefault(stems[w], len(vocab)) for w in distinct]
        return np.array(ids, dtype=np.int64)


@dataclass
class TermCounts:
    """Term-major counts: entries of term t are [indptr[t], indptr[t+1]), rows ascending."""

    vocab: dict[str, int]  # term -> id
    indptr: np.ndarray  # (n_terms + 1,) int64
    rows: np.ndarray  # (nnz,) int32
    tf: np.ndarray  # (nnz,) uint16
    lengths: np.ndarray  # (n_rows,) int32

    @property
    def n_rows(self) -> int:
        return len(self.lengths)

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> TermCounts:
        tokeniser = Tokeniser()
        keys, lengths = _count(tokeniser, texts, len(texts))
        return cls._from_keys(tokeniser.vocab, keys, len(texts), lengths)

    @classmethod
    def _from_keys(cls, vocab: dict[str, int], keys: tuple, n_rows: int, lengths: np.ndarray) -> TermCounts:
        terms, rows, tf = keys
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(np.bincount(terms, minlength=len(vocab)))
        return cls(vocab, indptr, rows.astype(np.int32), tf, lengths.astype(np.int32))

    def terms(self) -> np.ndarray:
        """(nnz,) the term of each entry."""
        return np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int64), np.diff(self.indptr))

    def derive(self, row_map: np.ndarray, n_rows: int, new_rows: np.ndarray, new_texts: Sequence[str]) -> TermCounts:
        """Counts for a changed collection: old row r becomes ``row_map[r]`` (-1: removed; the
        map must keep the order of the rows it keeps), and ``new_texts`` fill ``new_rows``.

        A few thousand entries change among tens of millions, so no pass builds a key or a
        term per entry: the removed entries are found by one gather, each term's kept run
        stays sorted by row (the map keeps order), and each new entry's place in its term's
        run is a binary search there; one pass then writes the merged arrays (at a million
        passages, 9.4 s before, with a (term, row) key per entry and three ``np.insert``)."""
        row_map = np.asarray(row_map, dtype=np.int64)
        # Rows are int32 (``rows``): an int32 map makes the (nnz,) gather's output half the size,
        # and at 61.5M entries allocating the int64 one took longer than the gather (2.0 s, 0.25).
        mapped_rows = row_map.astype(np.int32)[self.rows]  # (nnz,) new row of each entry, -1 if removed
        removed = np.flatnonzero(mapped_rows < 0)
        old_indptr = self.indptr
        n_old_terms = len(old_indptr) - 1
        # Each term's run shrinks by its removed entries.
        removed_terms = np.searchsorted(old_indptr, removed, side="right") - 1
        kept_counts = np.diff(old_indptr) - np.bincount(removed_terms, minlength=n_old_terms)
        kept_rows = np.delete(mapped_rows, removed)
        del mapped_rows
        kept_tf = np.delete(self.tf, removed)
        kept_indptr = np.concatenate(([0], np.cumsum(kept_counts)))

        tokeniser = Tokeniser(self.vocab)
        (new_terms, local_rows, new_tf), new_lengths = _count(tokeniser, new_texts, len(new_texts))
        new_rows = np.asarray(new_rows, dtype=np.int64)
        mapped = new_rows[local_rows]
        order = np.lexsort((mapped, new_terms))  # by (term, row), as the kept entries are
        new_terms, mapped, new_tf = new_terms[order], mapped[order], new_tf[order]
        # Where each new entry goes among the kept ones: its term's run start (terms new to the
        # vocabulary have empty runs at the end), plus the kept rows of that run below its row.
        n_terms = len(tokeniser.vocab)
        run_start = np.concatenate((kept_indptr, np.full(n_terms - n_old_terms, kept_indptr[-1])))
        at = run_start[new_terms].copy()
        bounds = np.flatnonzero(np.diff(new_terms, prepend=-1, append=n_terms + 1))
        for first, last in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            term = int(new_terms[first])
            if term < n_old_terms:
                run = kept_rows[kept_indptr[term] : kept_indptr[term + 1]]
                at[first:last] += np.searchsorted(run, mapped[first:last])
        # Merged: the new entries land at their place shifted by the new entries before them.
        total = len(kept_rows) + len(new_terms)
        landing = at + np.arange(len(new_terms))
        is_new = np.zeros(total, dtype=bool)
        is_new[landing] = True
        rows = np.empty(total, dtype=np.int32)
        tf = np.empty(total, dtype=kept_tf.dtype)
        rows[landing], tf[landing] = mapped, new_tf
        rows[~is_new], tf[~is_new] = kept_rows, kept_tf
        counts = np.concatenate((kept_counts, np.zeros(n_terms - n_old_terms, dtype=kept_counts.dtype)))
        counts += np.bincount(new_terms, minlength=n_terms)
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(counts)
        lengths = np.zeros(n_rows, dtype=np.int64)
        kept_old = np.flatnonzero(row_map >= 0)
        lengths[row_map[kept_old]] = self.lengths[kept_old]
        lengths[new_rows] = new_lengths
        return TermCounts(tokeniser.vocab, indptr, rows, tf, lengths.astype(np.int32))

    def scores(self) -> np.ndarray:
        """(nnz,) float32 BM25 score of each entry, as bm25s computes it (computed once)."""
        if getattr(self, "_scores", None) is None:
            self._scores = self._compute_scores()
        return self._scores

    def _compute_scores(self) -> np.ndarray:
        n = self.n_rows
        counts = np.diff(self.indptr)
        df = counts.astype(np.float64)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        mean_length = self.lengths.mean() if n else 1.0
        # bm25s: tf / (k1 * ((1 - b) + b * l_d / l_avg) + tf), in float64, times the float32 idf.
        norm = K1 * ((1 - B) + B * self.lengths.astype(np.float64) / mean_length)  # (n_rows,)
        # In place, the same operations in the same order: each (nnz,) float64 temporary is half a
        # gigabyte at a million passages, and allocating one costs more than its arithmetic
        # (3.8 s with a temporary per operation, 0.9 s so, for the same bits).
        tf = self.tf.astype(np.float64)
        denominator = norm[self.rows]
        denominator += tf
        np.divide(tf, denominator, out=tf)
        del denominator
        scores = np.repeat(idf.astype(np.float64), counts)
        scores *= tf
        return scores.astype(np.float32)

    def save(self, path: Path) -> None:
        """bm25s's file layout (read by index/sparse.py) plus the counts."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "data.csc.index.npy", self.scores())
        np.save(path / "indices.csc.index.npy", self.rows)
        np.save(path / "indptr.csc.index.npy", self.indptr)
        np.save(path / TF_FILE, self.tf)
        np.save(path / LENGTHS_FILE, self.lengths)
        (path / "vocab.index.json").write_text(json.dumps(self.vocab, ensure_ascii=False))
        params = {"k1": K1, "b": B, "method": METHOD, "idf_method": METHOD, "dtype": "float32", "num_docs": self.n_rows}
        (path / "params.index.json").write_text(json.dumps(params))
        (path / "stopwords.json").write_text(json.dumps(sorted(stopwords())))

    @classmethod
    def load(cls, path: Path) -> TermCounts:
        """The saved counts; the (nnz,) columns are mapped, not read: ``derive`` reads each once,
        in order, and at a million passages mapping the saved files beat allocating and reading
        them (derive + scores 3.2 s against 5.0-6.6 s). Snapshots are never written in place."""
        path = Path(path)
        return cls(
            json.loads((path / "vocab.index.json").read_text()),
            np.load(path / "indptr.csc.index.npy"),
            np.load(path / "indices.csc.index.npy", mmap_mode="r"),
            np.load(path / TF_FILE, mmap_mode="r"),
            np.load(path / LENGTHS_FILE),
        )


def _count(
    tokeniser: Tokeniser, texts: Sequence[str], n_rows: int
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """((term, row, tf) sorted by term then row, lengths) for texts, tokenised in chunks."""
    keys, lengths = [], np.zeros(len(texts), dtype=np.int64)
    for start in range(0, len(texts), ROWS_PER_CHUNK):
        rows, terms = tokeniser.term_ids(texts[start : start + ROWS_PER_CHUNK])
        lengths[start : start + ROWS_PER_CHUNK] = np.bincount(rows, minlength=min(ROWS_PER_CHUNK, len(texts) - start))
        keys.append(terms * max(n_rows, 1) + rows + start)
    # One (term, row) key per occurrence; unique gives the pairs sorted and their counts.
    pairs, tf = np.unique(np.concatenate(keys) if keys else np.zeros(0, np.int64), return_counts=True)
    width = max(n_rows, 1)
    return (pairs // width, pairs % width, np.minimum(tf, 65535).astype(np.uint16)), lengths
