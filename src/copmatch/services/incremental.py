"""Incremental index builds: a new snapshot derived from the previous one and the store's changes.

Every import and deletion takes the next store revision (store/schema.py, migration 7); a
snapshot records the revision it was built from. A derived build re-reads, re-chunks and
encodes only the documents written or deleted since then (and the answers of changed
questions, which are indexed under their question's title), and carries everything else
over from the previous snapshot with array operations: the rows of unchanged documents keep
their order, so the new snapshot holds exactly what a full build of the same store would
write (documents by id, passages in document order), and queries answer the same.

- passage vectors and texts: copied in runs of unchanged rows, new rows in between;
- dense index: flat indexes are rebuilt (a copy at that size); an IVF index keeps its trained
  lists, drops removed ids, renumbers the rest in place, adds the new vectors and sorts each
  list by id (retrained only when the collection outgrew it by ``ivf_retrain_ratio``; a full
  build keeps the current lists by the same rule, so both lay out the same index);
- BM25: term counts carried over, new text tokenised, every score recomputed (index/term_counts.py);
- corpus arrays and contributions: merged; members and profiles: re-read (they are few),
  encoding only profiles whose text changed.

The result is complete, checked for consistency and committed atomically like a full build.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import faiss
import numpy as np

from copmatch.embedding.cache import EmbeddingCache, encode_cached, text_hash
from copmatch.embedding.chunking import Passage
from copmatch.embedding.encoder import Encoder
from copmatch.errors import CopmatchError, IndexCorruptError
from copmatch.index.dense import DenseIndex, DenseIndexSpec, reuses_lists, sort_lists_by_id
from copmatch.index.integrity import problems
from copmatch.index.snapshot import (
    BM25_DIR,
    CORPUS,
    PASSAGE_TEXT_OFFSETS,
    PASSAGE_TEXTS,
    PASSAGE_VECTORS,
    PASSAGES_FAISS,
    PROFILE_HASHES,
    PROFILE_VECTORS,
    PROFILES_BM25_DIR,
    SNAPSHOT_FORMAT,
    SnapshotDir,
    read_manifest,
)
from copmatch.index.term_counts import TermCounts
from copmatch.index.texts import TextReader, derive_texts, runs
from copmatch.progress import Progress
from copmatch.ranking.corpus import Corpus, concat_ranges, contribution_arrays, day_number, document_pointers
from copmatch.services.build import (
    FEEDBACK_PREFIX,
    BuildReport,
    ChunkDocuments,
    _dense_spec,
    chunking_settings,
    feedback_evidence,
    learn_snapshot_ranker,
    profile_text,
    snapshot_in_progress,
    snapshot_manifest,
)
from copmatch.services.training import History
from copmatch.settings import Settings
from copmatch.store.store import Store

COPY_ROWS = 65_536  # vector rows copied per slice (a 100 MB slice at 384-d)


@dataclass(frozen=True)
class Previous:
    """The snapshot a derived build starts from."""

    path: Path
    manifest: dict


def previous_for(snapshots: SnapshotDir, embedder: Encoder, settings: Settings, store_revision: int) -> Previous | None:
    """The current snapshot if a build with these settings may derive from it, else None
    (no snapshot, a damaged one, another format, encoder or chunking, or a store older than
    the snapshot, e.g. restored from a backup: then the build is a full one)."""
    version = snapshots.current_version()
    if version is None:
        return None
    path = snapshots.snapshots / version
    try:
        manifest = read_manifest(path)
    except IndexCorruptError:
        return None
    if problems(path, manifest):  # a damaged snapshot is no base: rebuild from the store
        return None
    compatible = (
        manifest.get("format") == SNAPSHOT_FORMAT
        and isinstance(manifest.get("store_revision"), int)
        and manifest["store_revision"] <= store_revision
        and manifest.get("model_id") == settings.model_id
        and manifest.get("encoder") == embedder.identity.to_dict()
        and manifest.get("chunking") == chunking_settings(settings)
    )
    return Previous(path, manifest) if compatible else None


@dataclass(frozen=True)
class RowPlan:
    """Where each row of the new collection comes from, and where each old row went."""

    old_to_new: np.ndarray  # (n_old,) new row of each old row, -1 when dropped; increasing where >= 0
    kept_new: np.ndarray  # (n_kept,) new rows of the kept old rows, in old order
    added_new: np.ndarray  # (n_added,) new rows of the added items, in the order given
    size: int

    @classmethod
    def merge(cls, keep: np.ndarray, kept_keys: np.ndarray, added_keys: np.ndarray) -> RowPlan:
        """Rows of a sorted collection: the old rows where ``keep`` (whose keys, ``kept_keys``,
        are sorted) merged with added items (sorted keys none of which is kept)."""
        at = np.searchsorted(kept_keys, added_keys)  # (n_added,) insertion points
        added_new = at + np.arange(len(added_keys))
        kept_new = np.arange(len(kept_keys)) + np.searchsorted(at, np.arange(len(kept_keys)), side="right")
        old_to_new = np.full(len(keep), -1, dtype=np.int64)
        old_to_new[np.flatnonzero(keep)] = kept_new
        return cls(old_to_new, kept_new, added_new, len(kept_keys) + len(added_keys))


def derive_build(
    store: Store,
    snapshots: SnapshotDir,
    previous: Previous,
    cache_path: Path,
    embedder: Encoder,
    settings: Settings,
    progress: Progress,
    chunk: ChunkDocuments,
) -> BuildReport:
    timings: dict[str, float] = {}
    started = tick = time.perf_counter()
    old_path = previous.path
    with snapshot_in_progress(store, snapshots, settings) as (version, building):
        store_revision = store.revision()
        old = Corpus.load(old_path / CORPUS)
        changed = store.changed_document_ids(int(previous.manifest["store_revision"]))
        # Helpful feedback is evidence too (build.feedback_evidence): new ones are added, gone ones dropped.
        helped, helped_contributions = feedback_evidence(store.feedback())
        old_feedback = old.doc_ids[np.char.startswith(old.doc_ids, FEEDBACK_PREFIX)].tolist()
        changed |= {d["id"] for d in helped} ^ set(old_feedback)
        present = sorted(
            [*store.documents_by_id(sorted(changed)), *(d for d in helped if d["id"] in changed)],
            key=lambda d: d["id"],
        )
        members = store.members()
        timings["read_s"] = time.perf_counter() - tick

        tick = time.perf_counter()
        docs = _document_plan(old, changed, present)
        titles = _display_titles(store, present)
        passages = chunk(titles, [d["body"] for d in present], embedder, settings)
        timings["chunk_s"] = time.perf_counter() - tick

        tick = time.perf_counter()
        rows = _passage_plan(old, docs, passages)
        cache = EmbeddingCache(cache_path, embedder.cache_key)
        try:
            new_texts = [p.text for p in passages]
            new_vectors, encoded = encode_cached(
                embedder,
                cache,
                new_texts,
                progress.task("Encoding passages", len(new_texts)),
                commit_every=settings.cache_commit_texts,
            )
            profiles, profile_vectors, profile_plan, profile_encoded = _profiles(
                old_path, old, members, embedder, cache, progress
            )
        finally:
            cache.close()
        timings["encode_s"] = time.perf_counter() - tick

        tick = time.perf_counter()
        dim = int(previous.manifest["dimension"])
        _write_vectors(old_path / PASSAGE_VECTORS, building / PASSAGE_VECTORS, rows.source, new_vectors, dim)
        dense_spec = _write_dense(old_path, building, previous, rows, new_vectors, settings)
        np.save(building / PROFILE_VECTORS, profile_vectors)
        np.save(building / PROFILE_HASHES, np.array([text_hash(t) for t in profiles], dtype="S64"))
        timings["dense_s"] = time.perf_counter() - tick

        tick = time.perf_counter()
        passage_counts = TermCounts.load(old_path / BM25_DIR).derive(
            rows.old_to_new, len(rows.source), rows.added_new, new_texts
        )
        passage_counts.save(building / BM25_DIR)
        changed_profiles = profile_plan.added_new
        TermCounts.load(old_path / PROFILES_BM25_DIR).derive(
            profile_plan.old_to_new, len(members), changed_profiles, [profiles[i] for i in changed_profiles]
        ).save(building / PROFILES_BM25_DIR)
        timings["sparse_s"] = time.perf_counter() - tick

        tick = time.perf_counter()
        corpus = _corpus(store, old, docs, present, titles, rows, members, helped_contributions)
        corpus.save(building / CORPUS)
        reader = TextReader(old_path / PASSAGE_TEXTS, old_path / PASSAGE_TEXT_OFFSETS)
        try:
            bodies = [present[p.document_row]["body"][p.start : p.end] for p in passages]
            derive_texts(reader, rows.source, bodies, building / PASSAGE_TEXTS, building / PASSAGE_TEXT_OFFSETS)
        finally:
            reader.close()
        timings["corpus_s"] = time.perf_counter() - tick
        timings["index_s"] = timings["dense_s"] + timings["sparse_s"] + timings["corpus_s"]
        _check_consistent(building, corpus, passage_counts, len(members))

        # Kept or refitted as a full build would (same function, same arrays, same cadence).
        tick = time.perf_counter()
        ranker_report = learn_snapshot_ranker(
            building,
            corpus,
            np.load(building / PASSAGE_VECTORS, mmap_mode="r"),
            dense_spec,
            profile_vectors,
            _history(store, corpus),
            cache_path,
            embedder,
            settings,
            progress,
            old_path,
        )
        timings["learn_s"] = time.perf_counter() - tick

        looked_up = len(passages) + sum(1 for i in profile_plan.added_new if profiles[i])
        counts = {
            "documents": corpus.n_docs,
            "passages": corpus.n_passages,
            "members": corpus.n_members,
            "contributions": len(corpus.contrib_doc),
            "encoded": encoded + profile_encoded,
            "cached": looked_up - encoded - profile_encoded,
            # passages and profiles taken over from the previous snapshot as they were
            "carried": corpus.n_passages - len(passages) + len(profile_plan.kept_new),
            "changed_documents": len(changed),
        }
        shape = (corpus.n_passages, dim)
        manifest = snapshot_manifest(embedder, settings, shape, counts, timings, dense_spec)
        manifest |= {
            "store_revision": store_revision,
            "derived_from": previous.manifest["version"],
            "ranker": ranker_report,
        }
        tick = time.perf_counter()
        path = snapshots.commit(building, version, manifest, keep=settings.snapshots_kept)
        timings["commit_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    store.update_passages(
        sorted(changed), ((present[p.document_row]["id"], p.seq, p.text, text_hash(p.text)) for p in passages)
    )
    timings["store_passages_s"] = time.perf_counter() - tick
    timings["total_s"] = time.perf_counter() - started
    store.finish_build(version, "ready", counts=counts, timings=timings)
    return BuildReport(
        version,
        path,
        corpus.n_docs,
        corpus.n_passages,
        corpus.n_members,
        counts["encoded"],
        counts["cached"],
        timings,
        mode="incremental",
        changed_documents=len(changed),
    )


def _history(store: Store, corpus: Corpus) -> History:
    """What training reads of the documents, from the store: every document's parent row (one
    narrow query) and the texts of the few questions it trains on."""
    doc_ids = corpus.doc_ids
    ids, parents = store.document_parents()
    doc_parent = np.full(len(doc_ids), -1, dtype=np.int64)
    if len(doc_ids) and ids:
        rows = np.searchsorted(doc_ids, np.array(ids, dtype=str))
        probe = np.array(parents, dtype=str)
        at = np.minimum(np.searchsorted(doc_ids, probe), len(doc_ids) - 1)
        doc_parent[rows] = np.where(doc_ids[at] == probe, at, -1)

    def question_texts(question_rows: list[int]) -> list[str]:
        wanted = doc_ids[np.asarray(question_rows, dtype=np.int64)].tolist() if question_rows else []
        by_id = {d["id"]: f"{d['title']}\n{d['body']}".strip() for d in store.documents_by_id(wanted)}
        return [by_id[i] for i in wanted]

    return History(doc_parent, question_texts)


# --- documents and passages ----------------------------------------------------------------
def _document_plan(old: Corpus, changed: set[str], present: list[dict]) -> RowPlan:
    """Old documents stay unless changed; the present (new or rewritten) ones are merged in by id."""
    old_ids = old.doc_ids
    keep = np.ones(len(old_ids), dtype=bool)
    if changed and len(old_ids):
        probe = np.array(sorted(changed), dtype=str)
        at = np.minimum(np.searchsorted(old_ids, probe), len(old_ids) - 1)
        keep[at[old_ids[at] == probe]] = False
    return RowPlan.merge(keep, old_ids[keep], np.array([d["id"] for d in present], dtype=str))


def _display_titles(store: Store, present: list[dict]) -> list[str]:
    """Each present document's title, or its parent question's (as ``display_titles``)."""
    own = {d["id"]: d["title"] for d in present}
    parents = {d["parent_id"] for d in present if not d["title"] and d.get("parent_id")} - own.keys()
    titles = own | store.titles_by_id(sorted(parents))
    return [d["title"] or titles.get(d.get("parent_id") or "", "") for d in present]


@dataclass(frozen=True)
class PassagePlan(RowPlan):
    """A RowPlan for passages, with where each new row comes from and its document."""

    #: (n_new,) old passage id of each new row, or -(k + 1) for the k-th newly chunked passage
    source: np.ndarray = None  # type: ignore[assignment]
    passage_doc: np.ndarray = None  # type: ignore[assignment]  # (n_new,) new document row


def _passage_plan(old: Corpus, docs: RowPlan, passages: list[Passage]) -> PassagePlan:
    old_ptr = np.searchsorted(old.passage_doc, np.arange(old.n_docs + 1))
    kept_docs = np.flatnonzero(docs.old_to_new >= 0)
    counts = np.zeros(docs.size, dtype=np.int64)
    counts[docs.old_to_new[kept_docs]] = np.diff(old_ptr)[kept_docs]
    new_doc_rows = docs.added_new[np.array([p.document_row for p in passages], dtype=np.int64)]
    counts += np.bincount(new_doc_rows, minlength=docs.size)
    ptr = np.zeros(docs.size + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(counts)

    source = np.empty(int(ptr[-1]), dtype=np.int64)
    old_ids = concat_ranges(old_ptr, kept_docs)
    kept_rows = concat_ranges(ptr, docs.old_to_new[kept_docs])
    source[kept_rows] = old_ids
    added_rows = ptr[new_doc_rows] + np.array([p.seq for p in passages], dtype=np.int64)
    source[added_rows] = -(np.arange(len(passages)) + 1)
    old_to_new = np.full(old.n_passages, -1, dtype=np.int64)
    old_to_new[old_ids] = kept_rows
    passage_doc = np.repeat(np.arange(docs.size, dtype=np.int32), counts)
    return PassagePlan(old_to_new, kept_rows, added_rows, len(source), source, passage_doc)


# --- vectors and the dense index --------------------------------------------------------------
def _write_vectors(old_file: Path, new_file: Path, source: np.ndarray, new_vectors: np.ndarray, dim: int) -> None:
    old = np.load(old_file, mmap_mode="r")
    out = np.lib.format.open_memmap(new_file, mode="w+", dtype=np.float32, shape=(len(source), dim))
    for first, last in runs(source):
        if source[first] >= 0:
            start = int(source[first])
            for offset in range(0, last - first, COPY_ROWS):
                size = min(COPY_ROWS, last - first - offset)
                out[first + offset : first + offset + size] = old[start + offset : start + offset + size]
        else:
            out[first:last] = new_vectors[-source[first:last] - 1]
    out.flush()
    del out, old


def _write_dense(
    old_path: Path, building: Path, previous: Previous, rows: PassagePlan, new_vectors: np.ndarray, settings: Settings
) -> DenseIndexSpec:
    old_spec = DenseIndexSpec(**previous.manifest["dense"]["passages"])
    wanted = _dense_spec(rows.size, settings)
    if not reuses_lists(old_spec, wanted, settings.ivf_retrain_ratio):
        # Flat: adding every vector again is a copy. A collection that outgrew its IVF lists
        # (or crossed exact_index_max) is trained afresh.
        vectors = np.load(building / PASSAGE_VECTORS, mmap_mode="r")
        dense = DenseIndex.build(np.asarray(vectors), wanted)
        dense.save(building / PASSAGES_FAISS)
        return dense.spec
    index = faiss.read_index(str(old_path / PASSAGES_FAISS))
    update_ivf(index, rows.old_to_new, rows.added_new, new_vectors)
    faiss.write_index(index, str(building / PASSAGES_FAISS))
    return replace(old_spec, ivf_nprobe=min(wanted.ivf_nprobe, old_spec.ivf_nlist))


def trained_lists(snapshots: SnapshotDir, embedder: Encoder, settings: Settings, n_vectors: int) -> faiss.Index | None:
    """The current snapshot's IVF index, for a full build of ``n_vectors`` to reuse its trained
    lists (``reuses_lists``): a full rebuild then searches exactly as a derived build of the
    same store. None when there is no such snapshot, it was encoded otherwise, or it is unreadable."""
    version = snapshots.current_version()
    wanted = _dense_spec(n_vectors, settings)
    if version is None or wanted.kind != "ivf_sq8":
        return None
    path = snapshots.snapshots / version
    try:
        manifest = read_manifest(path)
        old_spec = DenseIndexSpec(**manifest["dense"]["passages"])
        if manifest.get("encoder") != embedder.identity.to_dict() or manifest.get("model_id") != settings.model_id:
            return None
        if not reuses_lists(old_spec, wanted, settings.ivf_retrain_ratio):
            return None
        return faiss.read_index(str(path / PASSAGES_FAISS))
    except (CopmatchError, OSError, KeyError, TypeError, RuntimeError):
        return None  # a damaged snapshot is no base: train afresh


def update_ivf(index: faiss.Index, old_to_new: np.ndarray, added_ids: np.ndarray, added: np.ndarray) -> None:
    """Remove dropped ids, renumber the kept ones in place (the map keeps their order), add the
    new vectors under their ids, and sort each list by id."""
    removed = np.flatnonzero(old_to_new < 0).astype(np.int64)
    if len(removed):
        index.remove_ids(faiss.IDSelectorBatch(len(removed), faiss.swig_ptr(removed)))
    invlists = faiss.extract_index_ivf(index).invlists
    for list_no in range(invlists.nlist):
        size = invlists.list_size(list_no)
        if size:
            ids = faiss.rev_swig_ptr(invlists.get_ids(list_no), size)  # a view of the list's ids
            ids[:] = old_to_new[ids]
    if len(added_ids):
        index.add_with_ids(np.ascontiguousarray(added, dtype=np.float32), added_ids.astype(np.int64))
    # New ids fall between kept ones: each list in id order again, as a full build lays it out.
    sort_lists_by_id(index)


# --- members and profiles ---------------------------------------------------------------------
def _profiles(
    old_path: Path, old: Corpus, members: list[dict], embedder: Encoder, cache: EmbeddingCache, progress: Progress
) -> tuple[list[str], np.ndarray, RowPlan, int]:
    """Every member's profile text and vector; only changed profiles are looked up or encoded.
    The plan maps old member rows with an unchanged profile to their new rows."""
    profiles = [profile_text(m) for m in members]
    hashes = np.array([text_hash(t) for t in profiles], dtype="S64")
    old_hashes = np.load(old_path / PROFILE_HASHES)
    new_ids = np.array([m["id"] for m in members], dtype=str)
    if len(old.member_ids):
        at = np.minimum(np.searchsorted(new_ids, old.member_ids), max(len(new_ids) - 1, 0))
        same = (new_ids[at] == old.member_ids) & (hashes[at] == old_hashes) if len(new_ids) else at < 0
    else:
        at = same = np.zeros(0, dtype=np.int64)
    old_to_new = np.where(same, at, -1).astype(np.int64)
    reused = np.zeros(len(members), dtype=bool)
    reused[old_to_new[old_to_new >= 0]] = True
    changed = np.flatnonzero(~reused)

    old_vectors = np.load(old_path / PROFILE_VECTORS)
    vectors = np.zeros((len(members), old_vectors.shape[1]), dtype=np.float32)
    vectors[old_to_new[old_to_new >= 0]] = old_vectors[old_to_new >= 0]
    with_text = [int(i) for i in changed if profiles[i]]
    fresh, encoded = encode_cached(
        embedder, cache, [profiles[i] for i in with_text], progress.task("Encoding member profiles", len(with_text))
    )
    vectors[with_text] = fresh
    plan = RowPlan(old_to_new, old_to_new[old_to_new >= 0], changed, len(members))
    return profiles, vectors, plan, encoded


# --- the corpus arrays -----------------------------------------------------------------------
def _corpus(
    store: Store,
    old: Corpus,
    docs: RowPlan,
    present: list[dict],
    titles: list[str],
    rows: PassagePlan,
    members: list[dict],
    helped_contributions: list[tuple[str, str, str]],
) -> Corpus:
    kept = docs.old_to_new >= 0

    def merged(old_values: np.ndarray, new_values: list) -> np.ndarray:
        fresh = np.array(new_values) if new_values else np.zeros(0, dtype=old_values.dtype)
        out = np.empty(docs.size, dtype=np.result_type(old_values.dtype, fresh.dtype))
        out[docs.kept_new] = old_values[kept]
        out[docs.added_new] = fresh
        return out

    member_ids = np.array([m["id"] for m in members], dtype=str)
    member_map = _member_map(old.member_ids, member_ids)
    contrib_doc, contrib_member, contrib_class = _contributions(
        store, old, docs, present, member_map, member_ids, helped_contributions
    )
    return Corpus(
        doc_ids=merged(old.doc_ids, [d["id"] for d in present]),
        doc_titles=old.doc_titles.compose(_document_source(docs), titles),
        doc_kinds=merged(old.doc_kinds, [d["kind"] for d in present]),
        doc_days=merged(old.doc_days, [day_number(d.get("created_at")) for d in present]),
        passage_doc=rows.passage_doc,
        member_ids=member_ids,
        member_names=np.array([m["name"] for m in members], dtype=str),
        member_silos=np.array([m.get("silo") or "" for m in members], dtype=str),
        contrib_member=contrib_member,
        contrib_doc=contrib_doc,
        contrib_class=contrib_class,
        doc_ptr=document_pointers(contrib_doc, docs.size),
    )


def _document_source(docs: RowPlan) -> np.ndarray:
    """(n_new_docs,) old row of each new document row, or -(k + 1) for the k-th present one."""
    source = np.empty(docs.size, dtype=np.int64)
    source[docs.kept_new] = np.flatnonzero(docs.old_to_new >= 0)
    source[docs.added_new] = -(np.arange(len(docs.added_new)) + 1)
    return source


def _member_map(old_ids: np.ndarray, new_ids: np.ndarray) -> np.ndarray:
    """(n_old_members,) new row of each old member (members are never deleted)."""
    if len(old_ids) == 0:
        return np.zeros(0, dtype=np.int64)
    at = np.minimum(np.searchsorted(new_ids, old_ids), len(new_ids) - 1)
    if not np.array_equal(new_ids[at], old_ids):
        raise CopmatchError(
            "Members of the previous index are missing from the store.",
            hint="Rebuild from scratch with: copmatch index build --full",
        )
    return at.astype(np.int64)


def _contributions(
    store: Store,
    old: Corpus,
    docs: RowPlan,
    present: list[dict],
    member_map: np.ndarray,
    member_ids: np.ndarray,
    helped_contributions: list[tuple[str, str, str]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep = docs.old_to_new[old.contrib_doc] >= 0
    old_doc = docs.old_to_new[old.contrib_doc[keep]]
    old_member = member_map[old.contrib_member[keep]]
    old_class = old.contrib_class[keep]
    doc_row = {d["id"]: int(r) for d, r in zip(present, docs.added_new)}
    member_row = {m: i for i, m in enumerate(member_ids.tolist())}
    accepted = {d["id"]: bool(d["accepted"]) for d in present}
    present_helped = [c for c in helped_contributions if c[1] in doc_row]
    new_doc, new_member, new_class = contribution_arrays(
        store.contributions_of([d["id"] for d in present]) + present_helped, doc_row, member_row, accepted
    )
    # Both sides are sorted by (document, member); merge the new ones into place.
    width = max(len(member_ids), 1)
    at = np.searchsorted(old_doc * width + old_member, new_doc.astype(np.int64) * width + new_member)
    return (
        np.insert(old_doc, at, new_doc).astype(np.int32),
        np.insert(old_member, at, new_member).astype(np.int32),
        np.insert(old_class, at, new_class).astype(np.int8),
    )


def _check_consistent(building: Path, corpus: Corpus, counts: TermCounts, n_members: int) -> None:
    """Every part of the new snapshot describes the same passages, documents in id order."""
    vectors = np.load(building / PASSAGE_VECTORS, mmap_mode="r")
    dense = faiss.read_index(str(building / PASSAGES_FAISS), faiss.IO_FLAG_MMAP)
    offsets = np.load(building / PASSAGE_TEXT_OFFSETS, mmap_mode="r")
    sizes = {
        "vectors": len(vectors),
        "dense": int(dense.ntotal),
        "bm25": counts.n_rows,
        "texts": len(offsets) - 1,
        "corpus": corpus.n_passages,
    }
    ordered = bool(np.all(corpus.doc_ids[1:] > corpus.doc_ids[:-1])) if corpus.n_docs > 1 else True
    in_order = bool(np.all(np.diff(corpus.passage_doc) >= 0))
    if len(set(sizes.values())) != 1 or not ordered or not in_order or corpus.n_members != n_members:
        raise IndexCorruptError(
            f"A derived snapshot came out inconsistent (passages {sizes}, documents ordered {ordered}, "
            f"passages in document order {in_order}); the previous snapshot keeps serving.",
            hint="Rebuild from scratch with: copmatch index build --full",
        )
