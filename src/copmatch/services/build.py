"""Index builds: store -> passages -> vectors (cached) -> FAISS + BM25 -> a new snapshot."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from copmatch.embedding.cache import EmbeddingCache, encode_cached, text_hash
from copmatch.embedding.chunk_cache import ChunkCache, chunker_key
from copmatch.embedding.chunking import Chunker, Passage, load_tokenizer
from copmatch.embedding.encoder import Encoder
from copmatch.errors import ConflictError
from copmatch.index.dense import DenseIndex, DenseIndexSpec, choose_spec
from copmatch.index.snapshot import (
    BM25_DIR,
    CORPUS,
    LEARNED_RANKER,
    PASSAGE_TEXT_OFFSETS,
    PASSAGE_TEXTS,
    PASSAGE_VECTORS,
    PASSAGES_FAISS,
    PROFILE_HASHES,
    PROFILE_VECTORS,
    PROFILES_BM25_DIR,
    SnapshotDir,
    new_version,
)
from copmatch.index.sparse import SparseIndex
from copmatch.index.texts import write_texts
from copmatch.progress import NullProgress, Progress
from copmatch.ranking.corpus import build_corpus, display_titles
from copmatch.ranking.history import answered_questions
from copmatch.services.ranker_cadence import kept_ranker, settings_fingerprint
from copmatch.services.training import History, SnapshotArrays, build_training_set, learn_ranker
from copmatch.settings import Settings
from copmatch.store.store import Store


@dataclass(frozen=True)
class BuildReport:
    version: str
    path: Path
    documents: int
    passages: int
    members: int
    encoded: int
    cached: int
    timings: dict[str, float]
    #: "full", or "incremental" when derived from the previous snapshot (services/incremental.py)
    mode: str = "full"
    #: documents re-chunked (every one in a full build; the new, changed and deleted in an incremental one)
    changed_documents: int = 0

    @property
    def passages_per_s(self) -> float:
        return self.passages / max(self.timings["total_s"], 1e-9)


def profile_text(member: dict) -> str:
    """What a member says about themselves: skills and bio (empty when both are)."""
    skills = ", ".join(member.get("skills") or [])
    parts = [f"Skills: {skills}." if skills else "", (member.get("bio") or "").strip()]
    return " ".join(p for p in parts if p)


#: (display titles, bodies, encoder, settings) -> passages in document order: the local
#: Chunker, or a Ray Data pipeline (embedding/ray_pipeline.py).
ChunkDocuments = Callable[[list[str], list[str], Encoder, Settings], list[Passage]]


def build_index(
    store: Store,
    index_dir: Path,
    cache_path: Path,
    embedder: Encoder,
    settings: Settings,
    progress: Progress | None = None,
    full: bool = False,
    chunk: ChunkDocuments | None = None,
    retrain: bool = False,
) -> BuildReport:
    """Build a complete snapshot from the store and switch to it atomically.

    Derived from the previous snapshot when one compatible with these settings exists (only
    new, changed and deleted documents are re-chunked and encoded; services/incremental.py),
    unless ``full``. ``chunk`` replaces the local chunker (the Ray pipeline passes its own).
    Trained models (the IVF lists, the ranker: services/ranker_cadence.py) are kept while they
    fit the data; ``retrain`` trains both afresh in a full build.
    Raises ConflictError while another process builds on the same data dir.
    """
    from copmatch.services.incremental import derive_build, previous_for

    snapshots = SnapshotDir(index_dir)
    chunk = chunk or partial(chunk_documents, cache_path=cache_path)
    progress = progress or NullProgress()
    with snapshots.build_lock():
        # Holding the lock, any build still listed as running died without saying so.
        store.fail_running_builds(DIED)
        previous = None if full or retrain else previous_for(snapshots, embedder, settings, store.revision())
        if previous is not None:
            return derive_build(store, snapshots, previous, cache_path, embedder, settings, progress, chunk)
        return _build(store, snapshots, cache_path, embedder, settings, progress, chunk, retrain)


#: The error recorded for a build whose process died (kill -9, power loss) mid-build.
DIED = "the build's process died before it finished (its build lock was free)"


def fail_dead_builds(store: Store, index_dir: Path) -> list[str]:
    """Builds listed as running while no process holds the build lock are marked failed
    (whoever looks next: index status, the API's admin index); their versions."""
    # Taking the lock (not just testing it) keeps a build that starts meanwhile from being marked.
    try:
        with SnapshotDir(index_dir).build_lock():
            return store.fail_running_builds(DIED)
    except ConflictError:  # a build is running now
        return []


@contextmanager
def snapshot_in_progress(store: Store, snapshots: SnapshotDir, settings: Settings) -> Iterator[tuple[str, Path]]:
    """(version, folder) of a snapshot being built, recorded as a running build; whatever
    stops the build before its commit (an error, Ctrl-C) removes the folder and records the
    build as failed, so no half-written snapshot is ever left or served."""
    version = new_version()
    store.start_build(version, settings.model_id)
    building = snapshots.begin(version)
    try:
        yield version, building
    except BaseException as exc:
        snapshots.abort(building)
        store.finish_build(version, "failed", error=f"{type(exc).__name__}: {exc}")
        raise


def _build(
    store: Store,
    snapshots: SnapshotDir,
    cache_path: Path,
    embedder: Encoder,
    settings: Settings,
    progress: Progress,
    chunk: ChunkDocuments,
    retrain: bool = False,
) -> BuildReport:
    from copmatch.services.incremental import trained_lists

    current_version = None if retrain else snapshots.current_version()
    current = snapshots.snapshots / current_version if current_version else None

    timings: dict[str, float] = {}
    started = time.perf_counter()
    with snapshot_in_progress(store, snapshots, settings) as (version, building):
        # Read before the data: whatever is written meanwhile is picked up by the next build.
        store_revision = store.revision()
        tick = time.perf_counter()
        helped, helped_contributions = feedback_evidence(store.feedback())
        # Documents in id order, feedback's among the rest: the order an incremental build keeps.
        documents = sorted([*store.documents(), *helped], key=lambda d: d["id"])
        members = store.members()
        contributions = store.contributions() + helped_contributions
        timings["read_s"] = time.perf_counter() - tick
        tick = time.perf_counter()
        passages = chunk(display_titles(documents), [d["body"] for d in documents], embedder, settings)
        timings["chunk_s"] = time.perf_counter() - tick

        cache = EmbeddingCache(cache_path, embedder.cache_key)
        try:
            tick = time.perf_counter()
            texts = [p.text for p in passages]
            passage_vectors, encoded = encode_cached(
                embedder,
                cache,
                texts,
                progress.task("Encoding passages", len(texts)),
                commit_every=settings.cache_commit_texts,
            )
            profiles = [profile_text(m) for m in members]
            with_profile = [i for i, text in enumerate(profiles) if text]
            vectors, profile_encoded = encode_cached(
                embedder,
                cache,
                [profiles[i] for i in with_profile],
                progress.task("Encoding member profiles", len(with_profile)),
            )
            # A member with no bio or skills has no profile: a zero vector scores 0 everywhere.
            profile_vectors = np.zeros((len(members), passage_vectors.shape[1]), dtype=np.float32)
            profile_vectors[with_profile] = vectors
            timings["encode_s"] = time.perf_counter() - tick
        finally:
            cache.close()

        tick = time.perf_counter()
        dense_spec = _dense_spec(len(passages), settings)
        # The current snapshot's IVF lists, while they fit (a derived build keeps them too).
        trained = None if retrain else trained_lists(snapshots, embedder, settings, len(passages))
        dense = DenseIndex.build(passage_vectors, dense_spec, trained)
        dense_spec = dense.spec
        dense.save(building / PASSAGES_FAISS)
        del dense
        np.save(building / PASSAGE_VECTORS, passage_vectors)
        # Profiles are few (one per member) and always scanned exactly: a vector file, no FAISS index.
        np.save(building / PROFILE_VECTORS, profile_vectors)
        np.save(building / PROFILE_HASHES, np.array([text_hash(t) for t in profiles], dtype="S64"))
        timings["dense_s"] = time.perf_counter() - tick
        tick = time.perf_counter()
        SparseIndex.build(texts).save(building / BM25_DIR)
        # Bios name rare specialities ("surge vessels") that a dense vector of a long bio blurs.
        SparseIndex.build(profiles).save(building / PROFILES_BM25_DIR)
        timings["sparse_s"] = time.perf_counter() - tick
        tick = time.perf_counter()
        corpus = build_corpus(
            documents, np.array([p.document_row for p in passages], dtype=np.int32), members, contributions
        )
        corpus.save(building / CORPUS)
        write_texts(
            building / PASSAGE_TEXTS,
            building / PASSAGE_TEXT_OFFSETS,
            [documents[p.document_row]["body"][p.start : p.end] for p in passages],
        )
        timings["corpus_s"] = time.perf_counter() - tick
        timings["index_s"] = timings["dense_s"] + timings["sparse_s"] + timings["corpus_s"]

        tick = time.perf_counter()
        ranker_report = learn_snapshot_ranker(
            building,
            corpus,
            passage_vectors,
            dense_spec,
            profile_vectors,
            History.of(documents),
            cache_path,
            embedder,
            settings,
            progress,
            current,
        )
        timings["learn_s"] = time.perf_counter() - tick

        counts = {
            "documents": len(documents),
            "passages": len(passages),
            "members": len(members),
            "contributions": len(corpus.contrib_doc),
            "encoded": encoded + profile_encoded,
            "cached": len(passages) + len(with_profile) - encoded - profile_encoded,
        }
        manifest = snapshot_manifest(embedder, settings, passage_vectors.shape, counts, timings, dense_spec)
        manifest["store_revision"] = store_revision
        # What ranks this community's experts, and why (services/training.py).
        manifest["ranker"] = ranker_report
        tick = time.perf_counter()
        path = snapshots.commit(building, version, manifest, keep=settings.snapshots_kept)
        timings["commit_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    store.replace_passages((documents[p.document_row]["id"], p.seq, p.text, text_hash(p.text)) for p in passages)
    timings["store_passages_s"] = time.perf_counter() - tick
    timings["total_s"] = time.perf_counter() - started
    store.finish_build(version, "ready", counts=counts, timings=timings)
    return BuildReport(
        version,
        path,
        len(documents),
        len(passages),
        len(members),
        encoded + profile_encoded,
        counts["cached"],
        timings,
        changed_documents=len(documents),
    )


def snapshot_manifest(
    embedder: Encoder,
    settings: Settings,
    vectors_shape: tuple[int, ...],
    counts: dict,
    timings: dict,
    dense_spec: DenseIndexSpec,
) -> dict:
    return {
        "model_id": settings.model_id,
        # Queries must be encoded by this very encoder (Searcher.open checks it).
        "encoder": embedder.identity.to_dict(),
        "dimension": int(vectors_shape[1]) if vectors_shape[0] else embedder.dimension,
        "counts": counts,
        "timings": timings,
        "dense": {"passages": dense_spec.to_dict()},
        "chunking": chunking_settings(settings),
    }


def chunking_settings(settings: Settings) -> dict[str, int]:
    """What shapes passages: a snapshot chunked otherwise cannot be derived from."""
    return {
        "passage_tokens": settings.passage_tokens,
        "overlap_tokens": settings.passage_overlap_tokens,
        "title_tokens": settings.title_tokens,
    }


FEEDBACK_PREFIX = "feedback:"  # the ids of documents made of helpful feedback


def feedback_evidence(records: list[dict]) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """Each "helpful" feedback as evidence: the question the member helped with becomes a document
    they offered knowledge on, so a close question finds them after the next build.

    Undated on purpose: a feedback's timestamp is the wall clock, while imported histories carry
    their own dates; dating it would move the community's "now" (activity features) to today.
    "Not helpful" records are kept in the store but add nothing (a missed match is not anti-evidence).
    """
    documents, contributions = [], []
    for record in records:
        if record["helpful"]:
            doc_id = f"{FEEDBACK_PREFIX}{record['id']}"
            documents.append(
                {
                    "id": doc_id,
                    "kind": "feedback",
                    "title": "",  # the question alone is embedded, like a query
                    "body": record["query"],
                    "tags": [],
                    "parent_id": None,
                    "accepted": False,
                    "created_at": None,
                }
            )
            contributions.append((record["member_id"], doc_id, "author"))
    return documents, contributions


def learn_snapshot_ranker(
    building: Path,
    corpus,
    passage_vectors: np.ndarray,
    dense_spec: DenseIndexSpec,
    profile_vectors: np.ndarray,
    history: History,
    cache_path: Path,
    embedder: Encoder,
    settings: Settings,
    progress: Progress,
    current: Path | None,
) -> dict:
    """The community's ranker for the snapshot being built (its model file there, if one) and
    its report: the ``current`` snapshot's while the cadence keeps it (services/ranker_cadence.py),
    else fitted on the community's own history.

    Full and incremental builds both call this on the finished arrays, so both serve the
    ranker a full build of the same store would (training is deterministic)."""
    history_questions = answered_questions(corpus, history.doc_parent)
    kept = kept_ranker(current, building, embedder, settings, history_questions)
    if kept is not None:
        return kept
    arrays = SnapshotArrays(
        corpus,
        passage_vectors,
        SparseIndex.load(building / BM25_DIR, len(passage_vectors)),
        profile_vectors,
        SparseIndex.load(building / PROFILES_BM25_DIR, len(profile_vectors)),
        DenseIndex.load(building / PASSAGES_FAISS, dense_spec),
    )
    cache = EmbeddingCache(cache_path, embedder.cache_key)
    try:
        train = build_training_set(arrays, history, embedder, cache, settings, progress)
    finally:
        cache.close()
    ranker, report = learn_ranker(train, settings)
    # What the cadence compares with at the next build (a learned ranker's file holds the same report).
    report["history_questions"] = history_questions
    report["settings"] = settings_fingerprint(settings)
    if ranker is not None:
        ranker.save(building / LEARNED_RANKER)
    return report


def _dense_spec(n_vectors: int, settings: Settings) -> DenseIndexSpec:
    return choose_spec(n_vectors, settings.exact_index_max, settings.ivf_lists_per_sqrt, settings.ivf_nprobe)


def chunk_documents(
    titles: list[str], bodies: list[str], embedder: Encoder, settings: Settings, cache_path: Path | None = None
) -> list[Passage]:
    """Passages of the documents, in document order; with ``cache_path``, bodies cut before
    are not tokenised again (embedding/chunk_cache.py)."""
    cache = None
    if cache_path is not None:
        shape = (embedder.max_tokens, settings.passage_tokens, settings.passage_overlap_tokens, settings.title_tokens)
        cache = ChunkCache(cache_path, chunker_key(embedder.model_path / "tokenizer.json", *shape))
    try:
        return make_chunker(embedder, settings, cache).split(titles, bodies)
    finally:
        if cache is not None:
            cache.close()


def make_chunker(embedder: Encoder, settings: Settings, cache: ChunkCache | None = None) -> Chunker:
    return Chunker(
        load_tokenizer(embedder.model_path),
        max_tokens=embedder.max_tokens,
        passage_tokens=settings.passage_tokens,
        overlap_tokens=settings.passage_overlap_tokens,
        title_tokens=settings.title_tokens,
        cache=cache,
    )
