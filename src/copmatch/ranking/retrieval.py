"""A loaded snapshot: dense and sparse passage search plus the corpus arrays.

Immutable once opened, so many threads may query it while a rebuild prepares the next.
"""

from __future__ import annotations

import threading
import zipfile
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from copmatch.embedding.encoder import EncoderIdentity
from copmatch.errors import IndexCorruptError, IndexMismatchError
from copmatch.index.dense import DenseIndex, DenseIndexSpec
from copmatch.index.integrity import problems
from copmatch.index.snapshot import (
    BM25_DIR,
    CORPUS,
    LEARNED_RANKER,
    PASSAGE_TEXT_OFFSETS,
    PASSAGE_TEXTS,
    PASSAGE_VECTORS,
    PASSAGES_FAISS,
    PROFILE_VECTORS,
    PROFILES_BM25_DIR,
    SNAPSHOT_FORMAT,
    read_manifest,
)
from copmatch.index.sparse import SparseIndex, SparseMatch
from copmatch.index.texts import TextReader
from copmatch.index.vectors import open_vectors
from copmatch.ranking.asof import newest_day
from copmatch.ranking.content import ContentBackground, content_background, is_content_only, sample_documents
from copmatch.ranking.corpus import EVIDENCE_CLASS_NAMES, Corpus, concat_ranges
from copmatch.ranking.features import MemberFacts, member_facts
from copmatch.ranking.history import query_cosines
from copmatch.ranking.learned import LearnedRanker
from copmatch.ranking.overlap import in_background, right_away
from copmatch.settings import Settings

#: Snapshots from this many passages search BM25, and match the profiles, in the background.
#: BM25 costs about 3-5 ms per million passages at p50 (benchmarks/scale_e2e.py), so from here
#: it outlasts the handoff and the GIL contention of a second thread; below, the sample
#: community's search step took 1.0 ms overlapped against 0.6 ms inline
#: (benchmarks/query_latency.py). At 1M passages, matching the 27,595 profiles beside the
#: dense search cut a warm query's p95 from 19.6 to 17.4 ms (same process, interleaved).
LEXICAL_OVERLAP_MIN_PASSAGES = 200_000


@dataclass(frozen=True)
class PassageCandidates:
    ids: np.ndarray  # (n,) passage ids, unique
    cos: np.ndarray  # (n,) exact cosine to the query
    bm25: np.ndarray  # (n,) BM25 score (0 when no query term occurs)


class Searcher:
    def __init__(
        self,
        path: Path,
        manifest: dict,
        sparse: SparseIndex,
        passage_vectors: np.ndarray,
        profile_vectors: np.ndarray,
        profile_sparse: SparseIndex,
        corpus: Corpus,
        ranker: LearnedRanker | None = None,
    ) -> None:
        self.path = path
        self.ranker = ranker  # the community's learned ranker; None: the default formula ranks
        self.manifest = manifest
        self.version: str = manifest["version"]
        self.dense_spec = DenseIndexSpec(**manifest["dense"]["passages"])
        # Small snapshots are scanned with numpy and never need FAISS's copy of the vectors
        # (up to ~150 MB at exact_index_max), so it is read on first use only (``dense``).
        self._dense: DenseIndex | None = None
        self._dense_lock = threading.Lock()
        self.sparse = sparse
        self.passage_vectors = passage_vectors
        self.profile_vectors = profile_vectors
        # A member without a bio or skills has a zero vector (cosine 0 to every query): a
        # query multiplies only the others (a third of a large community has none).
        self._profiled = np.flatnonzero(np.any(profile_vectors != 0, axis=1))
        self._profiled_vectors = np.ascontiguousarray(profile_vectors[self._profiled])
        self.profile_sparse = profile_sparse
        self.corpus = corpus
        self.member_rows = corpus.member_rows()
        # Small snapshots (exact index, vectors in memory) are searched by a numpy scan.
        self._exact_scan = self.dense_spec.kind == "flat" and isinstance(passage_vectors, np.ndarray)
        # Passages are written in document order, so each document's passages are one run.
        self.doc_passage_ptr = np.searchsorted(corpus.passage_doc, np.arange(corpus.n_docs + 1))
        self._member_order = np.argsort(corpus.contrib_member, kind="stable")
        self._member_ptr = np.searchsorted(corpus.contrib_member[self._member_order], np.arange(corpus.n_members + 1))
        self._texts = TextReader(path / PASSAGE_TEXTS, path / PASSAGE_TEXT_OFFSETS)
        # No Q&A history: members are ranked by ranking/content.py, whose background is computed on first use.
        self.content_only = is_content_only(corpus)
        self._content_backgrounds: dict[tuple[int, int], ContentBackground] = {}
        self._member_facts: dict[Settings, MemberFacts] = {}

    @classmethod
    def open(
        cls, path: Path, model_id: str, dimension: int | None = None, encoder: EncoderIdentity | None = None
    ) -> Searcher:
        manifest = read_manifest(path)
        check_format(path, manifest)
        if manifest.get("model_id") != model_id or (dimension and manifest.get("dimension") != dimension):
            raise IndexMismatchError(
                f"The index at {path} was built with {manifest.get('model_id')} "
                f"({manifest.get('dimension')}-d vectors), but the query encoder is {model_id}"
                + (f" ({dimension}-d)." if dimension else "."),
                hint="Rebuild with: copmatch index build",
            )
        if encoder is not None:
            _check_encoder(path, manifest, encoder)
        damage = problems(path, manifest)
        if damage:
            raise IndexCorruptError(
                f"The index at {path} is damaged: {'; '.join(damage[:5])}.",
                hint="Rebuild with: copmatch index build",
                details={"path": str(path), "problems": damage},
            )
        try:
            return cls(
                path,
                manifest,
                sparse=SparseIndex.load(path / BM25_DIR, manifest["counts"]["passages"]),
                # Loaded when small; else read row by row, so RSS stays the index's (index/vectors.py).
                passage_vectors=open_vectors(path / PASSAGE_VECTORS),
                profile_vectors=np.load(path / PROFILE_VECTORS),
                profile_sparse=SparseIndex.load(path / PROFILES_BM25_DIR, manifest["counts"]["members"]),
                corpus=Corpus.load(path / CORPUS),
                ranker=LearnedRanker.load(path / LEARNED_RANKER) if (path / LEARNED_RANKER).is_file() else None,
            )
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            # Damage the cheap checks cannot see (a file rewritten with its old size, past the
            # hashed size): still an error that says what to do, never a traceback.
            raise IndexCorruptError(
                f"The index at {path} cannot be read: {type(exc).__name__}: {exc}.",
                hint="Rebuild with: copmatch index build",
                details={"path": str(path)},
            ) from None

    def close(self) -> None:
        self._texts.close()

    @property
    def dense(self) -> DenseIndex:
        """The FAISS index of passage vectors, read from disk the first time it is asked for."""
        if self._dense is None:
            with self._dense_lock:
                if self._dense is None:
                    self._dense = DenseIndex.load(self.path / PASSAGES_FAISS, self.dense_spec)
        return self._dense

    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])

    def retrieve(
        self,
        query_vector: np.ndarray,
        query_text: str,
        dense_top_k: int,
        sparse_top_k: int,
        extra: np.ndarray | None = None,
        combination: str = "max",
        lexical: Future[SparseMatch] | None = None,
    ) -> PassageCandidates:
        """Union of dense hits, BM25 hits and ``extra`` passages, each scored exactly both ways.

        ``query_vector`` is (dim,), or (n_windows, dim) for a query split into windows; each
        window's dense hits are searched, and a passage's cosine combines the windows'
        (``combination``, see ranking/history.query_cosines). In a large snapshot the BM25
        search runs in the background while the dense one does (``start_lexical``);
        ``lexical`` is one a caller already started, to overlap other work with it too.
        """
        windows = np.atleast_2d(query_vector)  # (n_windows, dim)
        if lexical is None:
            lexical = self.start_lexical(query_text, sparse_top_k)
        if self.corpus.n_passages == 0:
            empty = np.zeros(0)
            return PassageCandidates(empty.astype(np.int64), empty, empty)
        extra_parts = [extra] if extra is not None else []
        if self._exact_scan:
            # Exact search reads every vector anyway; reading them here keeps every cosine, so
            # the candidates need no second pass (and numpy's scan beats FAISS's single-query
            # heap for a few hundred neighbours).
            cos_all = query_cosines(windows, self.passage_vectors, combination)  # (n_passages,)
            bm25 = lexical.result()
            flags = np.zeros(len(cos_all), dtype=bool)  # cheaper than sorting ids at this size
            for part in (_top_k(cos_all, dense_top_k), bm25.best, *extra_parts):
                flags[part] = True
            ids = np.flatnonzero(flags)
            cos = cos_all[ids]
        else:
            found = self.dense.search(windows.astype(np.float32), dense_top_k)[1].ravel()
            bm25 = lexical.result()
            ids = np.unique(np.concatenate([found[found >= 0], bm25.best, *extra_parts]).astype(np.int64))
            # approximate hits re-scored exactly
            cos = query_cosines(windows, np.asarray(self.passage_vectors[ids]), combination)
        return PassageCandidates(ids, cos, bm25.scores_of(ids))

    @property
    def _overlaps(self) -> bool:
        """Whether a query's independent searches run side by side (ranking/overlap.py)."""
        return self.corpus.n_passages >= LEXICAL_OVERLAP_MIN_PASSAGES

    def start_lexical(self, query_text: str, sparse_top_k: int) -> Future[SparseMatch]:
        """The query's BM25 search, started in the background (ranking/overlap.py) in a large
        snapshot; in a small one it is done at once, being shorter than a thread handoff."""
        return (in_background if self._overlaps else right_away)(self.sparse.search, query_text, sparse_top_k)

    def start_profile_match(self, query_vector: np.ndarray, combination: str = "max") -> Future[np.ndarray]:
        """``profile_cosines``, in the background in a large snapshot: it reads every profile
        (3 ms for 27,595 of them at 1M passages) while the caller runs the dense search."""
        return (in_background if self._overlaps else right_away)(self.profile_cosines, query_vector, combination)

    @cached_property
    def newest_day(self) -> float:
        """The snapshot's "now" (ranking/asof.newest_day), computed once: a pass over every document."""
        return newest_day(self.corpus)

    def member_facts(self, settings: Settings) -> MemberFacts:
        """The members' query-independent features as of this snapshot (computed once per
        settings, then kept: per query they would cost a pass over every contribution)."""
        if settings not in self._member_facts:
            self._member_facts[settings] = member_facts(self.corpus, self.newest_day, settings)
        return self._member_facts[settings]

    def content_background(self, settings: Settings) -> ContentBackground:
        """The content ranker's corpus background for this snapshot (computed once, then kept)."""
        key = (settings.content_top_documents, settings.content_background_documents)
        if key not in self._content_backgrounds:
            docs = sample_documents(self.corpus, self.doc_passage_ptr, settings.content_background_documents)
            self._content_backgrounds[key] = content_background(
                self.corpus, self.passage_vectors, self.doc_passage_ptr, self.document_vectors(docs), docs, settings
            )
        return self._content_backgrounds[key]

    def bm25_scores(self, query_text: str) -> np.ndarray:
        return self.sparse.scores(query_text)  # (n_passages,)

    def profile_bm25_scores(self, query_text: str) -> np.ndarray:
        return self.profile_sparse.scores(query_text)  # (n_members,)

    # --- what the snapshot knows, by row: services ask these instead of slicing its arrays ---
    def document_row(self, document_id: str) -> int | None:
        """The document's row, or None for a document imported after this snapshot was built.
        Documents are stored sorted by id, so this is a binary search (no dict of every id)."""
        ids = self.corpus.doc_ids
        row = int(np.searchsorted(ids, document_id))
        return row if row < len(ids) and ids[row] == document_id else None

    @cached_property
    def document_rows(self) -> dict[str, int]:
        """Every document's row by id, built on first use (~100 B per document)."""
        return {doc_id: row for row, doc_id in enumerate(self.corpus.doc_ids.tolist())}

    def document_passages(self, doc_row: int) -> np.ndarray:
        """The ids of one document's passages (a run: passages are written in document order)."""
        return np.arange(self.doc_passage_ptr[doc_row], self.doc_passage_ptr[doc_row + 1], dtype=np.int64)

    def passages_of_documents(self, doc_rows: np.ndarray) -> np.ndarray:
        """Every passage id of the given documents, document by document."""
        return concat_ranges(self.doc_passage_ptr, np.asarray(doc_rows, dtype=np.int64))

    def member_contributions(self, member_row: int) -> np.ndarray:
        """Indices into ``corpus.contrib_*`` of one member's contributions, in document order."""
        return self._member_order[self._member_ptr[member_row] : self._member_ptr[member_row + 1]]

    def role_of(self, member_row: int, doc_row: int) -> str:
        """The member's strongest role on the document ("accepted answer", "answer", ...), "" if none."""
        corpus = self.corpus
        start, end = corpus.doc_ptr[doc_row], corpus.doc_ptr[doc_row + 1]
        match = np.flatnonzero(corpus.contrib_member[start:end] == member_row)
        return EVIDENCE_CLASS_NAMES[int(corpus.contrib_class[start + match[0]])] if len(match) else ""

    def passages_of_members(self, member_rows: np.ndarray) -> np.ndarray:
        """Every passage of every document the given members contributed to."""
        contrib = concat_ranges(self._member_ptr, member_rows)
        docs = np.unique(self.corpus.contrib_doc[self._member_order[contrib]]).astype(np.int64)
        return self.passages_of_documents(docs)

    def document_vectors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """(n, dim) unit mean of each document's passage vectors, for every document or just
        ``rows`` (then only their passages are read); zero for a document without text."""
        corpus = self.corpus
        dim = self.passage_vectors.shape[1] if corpus.n_passages else self.dimension
        ptr = self.doc_passage_ptr
        every = rows is None
        rows = np.arange(corpus.n_docs) if every else np.asarray(rows, dtype=np.int64)
        counts = ptr[rows + 1] - ptr[rows]
        out = np.zeros((len(rows), dim), dtype=np.float32)
        has_text = np.flatnonzero(counts > 0)
        if len(has_text):
            if every:  # every document: its passages are the whole matrix, in order
                vectors, starts = np.asarray(self.passage_vectors, dtype=np.float32), ptr[rows[has_text]]
            else:  # a few documents: read only their passages (a large snapshot reads row by row)
                vectors = np.asarray(self.passage_vectors[self.passages_of_documents(rows[has_text])], np.float32)
                starts = np.concatenate(([0], np.cumsum(counts[has_text])[:-1]))
            # Each document's passages are one run, so one reduceat sums them all.
            out[has_text] = normalise_rows(np.add.reduceat(vectors, starts, axis=0))
        return out

    def profile_cosines(self, query_vector: np.ndarray, combination: str = "max") -> np.ndarray:
        cos = query_cosines(np.atleast_2d(query_vector), self._profiled_vectors, combination)
        out = np.zeros(len(self.profile_vectors), dtype=cos.dtype)  # (n_members,)
        out[self._profiled] = cos
        return out

    def passage_texts(self, ids: list[int]) -> dict[int, str]:
        return self._texts.texts(ids)


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def check_format(path: Path, manifest: dict) -> None:
    """Refuse a snapshot written in another format (older snapshots must be rebuilt)."""
    if manifest.get("format") != SNAPSHOT_FORMAT:
        raise IndexMismatchError(
            f"The index at {path} has format {manifest.get('format')}; this copmatch reads format {SNAPSHOT_FORMAT}.",
            hint="Rebuild with: copmatch index build",
        )


def snapshot_encoder(path: Path, manifest: dict) -> EncoderIdentity:
    """The encoder a snapshot was built with (every snapshot of this format records it)."""
    check_format(path, manifest)
    return EncoderIdentity.from_dict(manifest["encoder"])


def _check_encoder(path: Path, manifest: dict, encoder: EncoderIdentity) -> None:
    built = snapshot_encoder(path, manifest)
    if built != encoder:
        raise IndexMismatchError(
            f"The index at {path} was built with {built.describe()}, "
            f"but queries would be encoded with {encoder.describe()}.",
            hint="Rebuild with: copmatch index build (or export the encoder it was built with: copmatch models export)",
        )


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    if len(scores) <= k:
        return np.arange(len(scores))
    return np.argpartition(-scores, k - 1)[:k]
