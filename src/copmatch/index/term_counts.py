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
from itertools import chain
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


class Tokeniser:
    """Texts -> term ids, growing a vocabulary; stems each distinct word once."""

    def __init__(self, vocab: dict[str, int] | None = None) -> None:
        self.vocab: dict[str, int] = dict(vocab or {})
        self._stop = stopwords()
        self._split = TOKEN_PATTERN.findall
        self._stems: dict[str, str] = {}

    def term_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(row, term) of every token occurrence, rows 0..len(texts)-1 in order."""
        words = [[w for w in self._split(text.lower()) if w not in self._stop] for text in texts]
        unseen = list({w for row in words for w in row if w not in self._stems})
        self._stems.update(zip(unseen, _STEMMER.stemWords(unseen)))
        stems, vocab = self._stems, self.vocab
        ids = [[vocab.setdefault(stems[w], len(vocab)) for w in row] for row in words]
        empty = vocab.setdefault(EMPTY_TOKEN, len(vocab)) if any(not row for row in ids) else -1
        ids = [row or [empty] for row in ids]
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
        terms = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
        return np.repeat(np.arange(len(ids), dtype=np.int64), lengths), terms


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
        map must keep the order of the rows it keeps), and ``new_texts`` fill ``new_rows``."""
        keep = row_map[self.rows] >= 0
        old_terms = self.terms()[keep]
        old_rows = row_map[self.rows[keep]].astype(np.int64)
        old_tf = self.tf[keep]
        tokeniser = Tokeniser(self.vocab)
        (new_terms, local_rows, new_tf), new_lengths = _count(tokeniser, new_texts, len(new_texts))
        new_rows = np.asarray(new_rows, dtype=np.int64)
        mapped = new_rows[local_rows]
        # Both sides are sorted by (term, row); merge the new entries into place.
        old_keys = old_terms * n_rows + old_rows
        new_keys = new_terms * n_rows + mapped
        order = np.argsort(new_keys, kind="stable")
        new_terms, mapped, new_tf, new_keys = new_terms[order], mapped[order], new_tf[order], new_keys[order]
        at = np.searchsorted(old_keys, new_keys)
        terms = np.insert(old_terms, at, new_terms)
        rows = np.insert(old_rows, at, mapped)
        tf = np.insert(old_tf, at, new_tf)
        lengths = np.zeros(n_rows, dtype=np.int64)
        kept_rows = np.flatnonzero(row_map >= 0)
        lengths[row_map[kept_rows]] = self.lengths[kept_rows]
        lengths[new_rows] = new_lengths
        return TermCounts._from_keys(tokeniser.vocab, (terms, rows, tf), n_rows, lengths)

    def scores(self) -> np.ndarray:
        """(nnz,) float32 BM25 score of each entry, as bm25s computes it (computed once)."""
        if getattr(self, "_scores", None) is None:
            self._scores = self._compute_scores()
        return self._scores

    def _compute_scores(self) -> np.ndarray:
        n = self.n_rows
        df = np.diff(self.indptr).astype(np.float64)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        mean_length = self.lengths.mean() if n else 1.0
        # bm25s: tf / (k1 * ((1 - b) + b * l_d / l_avg) + tf), in float64, times the float32 idf.
        norm = K1 * ((1 - B) + B * self.lengths.astype(np.float64) / mean_length)  # (n_rows,)
        tf = self.tf.astype(np.float64)
        return (idf[self.terms()].astype(np.float64) * (tf / (norm[self.rows] + tf))).astype(np.float32)

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
        path = Path(path)
        return cls(
            json.loads((path / "vocab.index.json").read_text()),
            np.load(path / "indptr.csc.index.npy"),
            np.load(path / "indices.csc.index.npy"),
            np.load(path / TF_FILE),
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
