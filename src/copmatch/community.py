"""Community: the public facade. Opens a data dir and offers every verb copmatch has.

The interfaces (cli/, api/) call only this object. Which snapshot and query encoder answer
queries is the serving session's business (serving.py); what each verb does is a service's.

community = Community.open("copmatch-data")
community.import_jsonl(members=Path("members.jsonl"), documents=Path("documents.jsonl"))
community.build_index()
for expert in community.find_experts("descaling an espresso machine"):
    print(expert.score, expert.name)
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from copmatch.embedding.choice import build_encoder
from copmatch.embedding.chunking import Chunker, load_tokenizer
from copmatch.embedding.encoder import Encoder
from copmatch.embedding.exports import MODELS_DIR, ExportedModel, installed_export
from copmatch.errors import (
    CopmatchError,
    DataDirError,
    IndexCorruptError,
    IndexMissingError,
    NotFoundError,
    PermissionDeniedError,
)
from copmatch.index.integrity import damage_names, problems
from copmatch.index.snapshot import SnapshotDir, read_manifest, verify
from copmatch.ingest.jsonl import read_import_objects, read_jsonl_import, read_jsonl_uploads
from copmatch.progress import Progress, from_cumulative
from copmatch.ranking.overlap import AHEAD as LEXICAL_AHEAD
from copmatch.ranking.retrieval import Searcher
from copmatch.ranking.scores import MemberPriors
from copmatch.services.build import BuildReport, build_index, fail_dead_builds
from copmatch.services.experts import Expert, ExpertAnswers, ExpertQuery, rank_experts, validate_query
from copmatch.services.feedback import Feedback, list_feedback, record_feedback
from copmatch.services.keys import ApiKey, authenticate, create_key, revoke_key
from copmatch.services.profiles import DocumentView, MemberProfile, document_view, member_profile
from copmatch.services.web_sessions import WebSession, close_session, open_session, session_for
from copmatch.serving import ServingSession
from copmatch.settings import Settings
from copmatch.store.sources import NATIVE_SOURCE
from copmatch.store.store import ImportSummary, Store

if TYPE_CHECKING:
    from copmatch.services.brokering.review import Introduction
    from copmatch.services.health import HealthReport
    from copmatch.services.practices import Practice
    from copmatch.services.silos import SiloSummary

DB_FILE = "copmatch.sqlite"


class Community:
    def __init__(self, data_dir: Path, settings: Settings | None = None, embedder: Encoder | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.settings = settings or Settings()
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise DataDirError(
                f"The data dir {self.data_dir} is a file, not a folder.",
                hint="Point --data-dir (or $COPMATCH_DATA_DIR) at a folder; copmatch creates it if missing.",
            )
        self.store = Store(self.data_dir / DB_FILE)
        self.snapshots = SnapshotDir(self.data_dir / "index")
        self.cache_path = self.data_dir / "cache" / "embeddings.sqlite"
        # A given encoder is used for builds and queries alike (tests, benchmarks); otherwise
        # builds and queries each pick theirs (embedding/choice.py).
        self._embedder = embedder
        self.serving = ServingSession(self.data_dir, self.snapshots, self.settings, given_encoder=embedder)
        self._suggest_lock = threading.Lock()
        self._embedder_given = embedder is not None
        self._chunker: Chunker | None = None

    @classmethod
    def open(cls, data_dir: Path | str, settings: Settings | None = None) -> Community:
        return cls(Path(data_dir), settings)

    def close(self) -> None:
        self.serving.close()
        self.store.close()

    @property
    def embedder(self) -> Encoder:
        """The encoder of index builds: an ONNX export of the installed model, else sentence-transformers."""
        if self._embedder is None:
            self._embedder = build_encoder(
                self.data_dir, self.settings.model_id, self.settings.encoder_variant, self.settings.encode_batch_size
            )
        return self._embedder

    # --- encoders: ONNX exports for torch-free queries -----------------------------------
    def export_encoder(self, int8: bool = False, out_dir: Path | None = None) -> ExportedModel:
        """Export the bundled model as ONNX (fp32, and int8 if asked) into the data dir's models/."""
        from copmatch.embedding.export import export_model

        return export_model(out_dir or self.data_dir / MODELS_DIR, int8=int8, model_id=self.settings.model_id)

    def ensure_encoder_exported(self) -> ExportedModel | None:
        """Export the encoder of ``settings.encoder_variant`` unless one for the installed model exists."""
        if installed_export(self.data_dir, self.settings.model_id, self.settings.encoder_variant) is not None:
            return None
        return self.export_encoder(int8=self.settings.encoder_variant == "int8")

    def encoder_status(self, check: bool = False) -> dict[str, Any]:
        from copmatch.embedding.exports import status

        return status(self.data_dir, self.settings.model_id, check)

    # --- admin: import and index ----------------------------------------------------
    def import_jsonl(
        self,
        members: Path | None = None,
        documents: Path | None = None,
        progress: Progress | None = None,
        source: str = NATIVE_SOURCE,
    ) -> ImportSummary:
        total = sum(p.stat().st_size for p in (members, documents) if p is not None and p.is_file())
        advance = progress.task("Reading JSONL", total) if progress else None
        batch = read_jsonl_import(members, documents, self.store.member_ids(), advance)
        batch.source_name = source
        return self._imported(self.store.import_batch(batch))

    def import_records(
        self, members: list | None = None, documents: list | None = None, source: str = NATIVE_SOURCE
    ) -> ImportSummary:
        """Import decoded JSONL records (e.g. from an API request), validated like files."""
        batch = read_import_objects(members, documents, self.store.member_ids())
        batch.source_name = source
        return self._imported(self.store.import_batch(batch))

    def import_uploads(
        self,
        members: tuple[str, bytes] | None = None,
        documents: tuple[str, bytes] | None = None,
        source: str = NATIVE_SOURCE,
    ) -> ImportSummary:
        """Import uploaded JSONL files, each (file name, content): all or nothing, errors name file:line."""
        batch = read_jsonl_uploads(members, documents, self.store.member_ids())
        batch.source_name = source
        return self._imported(self.store.import_batch(batch))

    def import_stackexchange(
        self, dump_dir: Path, progress: Progress | None = None, source: str | None = None
    ) -> ImportSummary:
        """Import a dump as source ``source`` (default: its folder's name); ids colliding with
        another source's are stored under the prefix ``source:`` (store/sources.py)."""
        from copmatch.ingest.stackexchange import dump_size, read_dump

        advance = None
        if progress and Path(dump_dir).is_dir():
            advance = from_cumulative(progress.task("Reading dump", dump_size(Path(dump_dir))))
        return self._imported(self.store.import_batch(read_dump(Path(dump_dir), advance, source=source)))

    def _imported(self, summary: ImportSummary) -> ImportSummary:
        if summary.members:  # an import may opt members out
            self._withdraw_opted_out()
        return summary

    def sources(self) -> list[dict[str, Any]]:
        """Every import source: its kind, the prefix of its ids, its record counts."""
        return self.store.sources()

    def build_index(
        self,
        progress: Progress | None = None,
        export_encoder: bool | None = None,
        full: bool = False,
        ray_address: str | None = None,
        retrain: bool = False,
    ) -> BuildReport:
        """Build a snapshot (and learn the community's ranker) from the store and switch to it.

        Derived from the previous snapshot unless ``full`` (only new, changed and deleted
        documents are re-chunked and encoded). Trained models (IVF lists, the learned ranker) are
        kept while they fit the data; ``retrain`` trains them afresh in a full build.
        ``export_encoder``: first export the fp32 ONNX encoder when the data dir has none, so
        every query after the build runs without torch (default: yes, unless an encoder was
        given). ``ray_address``: chunk and encode on a Ray cluster ("auto": the cluster this
        machine belongs to, or a local one; needs copmatch[ray])."""
        if export_encoder is None:
            export_encoder = not self._embedder_given and self.settings.encoder_variant == "fp32"
        if export_encoder and self.ensure_encoder_exported() is not None:
            self._embedder = None  # builds too use the fresh export, not torch
        embedder, chunk, pipeline = self.embedder, None, None
        if ray_address is not None:
            from copmatch.embedding.ray_pipeline import RayPipeline

            pipeline = RayPipeline(ray_address, self.embedder, self.settings)
            embedder, chunk = pipeline.encoder, pipeline.chunk
        try:
            report = build_index(
                self.store,
                self.snapshots.root,
                self.cache_path,
                embedder,
                self.settings,
                progress,
                full=full,
                chunk=chunk,
                retrain=retrain,
            )
        finally:
            if pipeline is not None:
                pipeline.close()  # the encoder actors' CPUs go back to the cluster
        self.serving.adopt_build_encoder(self.embedder)
        self.serving.current()  # switch this process to the new snapshot now
        return report

    def delete_documents(self, document_ids: Sequence[str]) -> int:
        """Delete documents (with their contributions) from the store; the next index build
        drops them from every result. Unknown ids: NotFoundError, and nothing is deleted."""
        return self.store.delete_documents(document_ids)

    def index_version(self) -> str | None:
        """The snapshot version queries are answered from now (None before the first build)."""
        return self.snapshots.current_version()

    def index_status(self, check: bool = False) -> dict[str, Any]:
        """The current snapshot, what serves queries, recent builds, store counts.

        ``damage`` lists what is wrong with the current snapshot (cheap checks; with ``check``,
        every file's checksum too); ``serving`` is what would answer a query now: the
        current snapshot, an older intact one with a warning, or an error. A build whose
        process died is marked failed here."""
        fail_dead_builds(self.store, self.snapshots.root)
        status: dict[str, Any] = {
            "current": self.snapshots.current_version(),
            "builds": self.store.builds(limit=5),
            "store": self.store.counts(),
            "damage": [],
        }
        try:
            path = self.snapshots.current_path()
        except IndexMissingError:
            return status  # nothing built yet: nothing damaged
        except IndexCorruptError as exc:
            status["damage"] = [exc.message]
            path = None
        if path is not None:
            status["path"] = str(path)
            try:
                manifest = read_manifest(path)
                status["manifest"] = {k: v for k, v in manifest.items() if k not in ("checksums", "sizes")}
                damage = problems(path, manifest)
                if check:
                    damage += [f"{name}: checksum differs" for name in verify(path) if not damage_names(damage, name)]
                status["damage"] = damage
            except IndexCorruptError as exc:
                status["damage"] = [exc.message]
        try:
            served = self.serving.current()
            status["serving"] = {"version": served.version, "warning": served.warning}
        except CopmatchError as exc:
            status["serving"] = {"version": None, "error": exc.message, "hint": exc.hint}
        if check:
            status["damaged_files"] = status["damage"]  # the name older scripts read
        return status

    # --- members: who knows about X? -------------------------------------------------------
    def find_experts(
        self, text: str, limit: int = 10, exclude: Collection[str] = (), candidates: Collection[str] | None = None
    ) -> list[Expert]:
        return self.find_experts_batch([ExpertQuery(text, limit, exclude, candidates)])[0]

    def find_experts_batch(self, queries: Sequence[ExpertQuery]) -> list[list[Expert]]:
        """Rank experts for many queries; their texts are encoded in one batched call."""
        return self.answer_experts(queries).results

    def answer_experts(self, queries: Sequence[ExpertQuery], asked_by: str | None = None) -> ExpertAnswers:
        """``find_experts_batch`` plus the version of the snapshot that answered: read from the
        snapshot used, so a rebuild switching snapshots mid-request cannot mislabel it.

        ``asked_by``: the member asking (a key bound to them), never suggested to themself."""
        for query in queries:
            validate_query(query, self.settings)
        if asked_by is not None:
            queries = [replace(q, exclude=(*q.exclude, asked_by)) for q in queries]
        served = self.serving.current(prefetch_encoder=True)
        # BM25 reads only the text: in a large snapshot the first queries' searches run in the
        # background while the queries are encoded (a few: each holds a score per passage).
        lexical = [
            served.searcher.start_lexical(q.text, self.settings.sparse_top_k) if i < LEXICAL_AHEAD else None
            for i, q in enumerate(queries)
        ]
        windows = self.encode_query_windows([q.text for q in queries])  # per query (n_windows, dim)
        opted_out = self.store.opted_out()
        results = [
            rank_experts(served.searcher, q, w, served.priors, opted_out, self.settings, ahead)
            for q, w, ahead in zip(queries, windows, lexical)
        ]
        return ExpertAnswers(served.version, results)

    def encode_query_windows(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text as (n_windows, dim) vectors: a query longer than the model's window is split
        like a document (never truncated), every window of every text encoded in one call."""
        grouped = self._query_chunker().query_windows(texts)
        vectors = self.encode_queries([w for windows in grouped for w in windows])
        bounds = np.cumsum([0, *(len(w) for w in grouped)])
        return [vectors[start:end] for start, end in zip(bounds[:-1], bounds[1:])]

    def _query_chunker(self) -> Chunker:
        if self._chunker is None:
            encoder = self.serving.current(prefetch_encoder=True).encoder
            # Windows as the model reads them: the query encoder's own tokenizer and window.
            self._chunker = Chunker(
                load_tokenizer(encoder.model_path),
                max_tokens=encoder.max_tokens,
                passage_tokens=self.settings.passage_tokens,
                overlap_tokens=self.settings.passage_overlap_tokens,
            )
        return self._chunker

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors, (n, dim), by the encoder matching the served snapshot."""
        return self.serving.encode(texts)

    def enable_query_batching(self) -> None:
        """Share model calls between concurrent queries (the HTTP server turns this on)."""
        self.serving.enable_batching()

    def enable_read_ahead(self) -> None:
        """Have the kernel read each served snapshot's per-query files (vectors, postings, texts)
        into its page cache in the background (index/read_ahead.py; the HTTP server turns this on)."""
        self.serving.enable_read_ahead()

    def record_feedback(
        self, query: str, member_id: str, helpful: bool, given_by: str | None = None, note: str | None = None
    ) -> Feedback:
        """Whether a suggested expert helped with a question; kept for the ranker to learn from."""
        return record_feedback(self.store, query, member_id, helpful, given_by, self.index_version(), note)

    def list_feedback(self, member_id: str | None = None) -> list[Feedback]:
        return list_feedback(self.store, member_id)

    # --- members, documents, keys: lookups and the member's own settings --------------------
    def get_member(self, member_id: str, viewer: ApiKey | None = None) -> dict[str, Any]:
        """One member. Seen through an API key (``viewer``), a member who opted out is found
        only by themself (a key bound to them) and by admins; to anyone else they do not exist."""
        member = self.store.get_member(member_id)
        if viewer is not None and member["opt_out"] and not viewer.may_manage(member_id):
            raise NotFoundError(
                f"No member with id {member_id!r}.", hint="Check the id; members come from imports (copmatch import)."
            )
        return member

    def set_own_opt_out(self, acting: ApiKey, member_id: str, opt_out: bool) -> dict[str, Any]:
        """``set_opt_out`` on behalf of an API key: a member changes their own profile only
        (their key is bound to them: keys create --member ID); admins change anyone's."""
        if not acting.may_manage(member_id):
            raise PermissionDeniedError(
                f"Your key ({acting.id}) may change only its own member's profile, not {member_id!r}.",
                hint="Ask an admin for a key bound to that member (copmatch keys create --member ID).",
            )
        return self.set_opt_out(member_id, opt_out)

    def get_document(self, document_id: str) -> dict[str, Any]:
        return self.store.get_document(document_id)

    def set_opt_out(self, member_id: str, opt_out: bool) -> dict[str, Any]:
        """Opt a member out of (or back into) every suggestion, report and lookup others see;
        opting out withdraws their open introductions. Returns the member."""
        self.store.set_opt_out(member_id, opt_out)
        self._withdraw_opted_out()
        return self.store.get_member(member_id)

    def member_profile(self, member_id: str) -> MemberProfile:
        """What a member contributed (newest first) and on which topics."""
        settings = self.settings
        return member_profile(self.store, member_id, settings.web_member_contributions, settings.web_member_topics)

    def document_view(self, document_id: str) -> DocumentView:
        """A document with its contributors, its question (an answer) or its answers (a question)."""
        return document_view(self.store, document_id)

    def sign_in(self, secret: str | None) -> tuple[str, WebSession]:
        """Open a browser session for an API key; returns the session's cookie token."""
        return open_session(self.store, secret, self.settings.web_session_hours)

    def web_session(self, token: str | None) -> WebSession:
        """The live session of a cookie token (AuthenticationError if none, expired, or its key revoked)."""
        return session_for(self.store, token)

    def sign_out(self, token: str | None) -> None:
        close_session(self.store, token)

    def _withdraw_opted_out(self) -> None:
        """Open introductions of members who opted out (now, or in an import) are withdrawn."""
        from copmatch.services.brokering.review import withdraw_opted_out

        withdraw_opted_out(self.store)

    def create_key(self, role: str, member_id: str | None = None, label: str | None = None) -> tuple[ApiKey, str]:
        """A new API key and its secret (shown once, stored only as a hash)."""
        return create_key(self.store, role, member_id, label)

    def list_keys(self) -> list[dict[str, Any]]:
        return self.store.api_keys()

    def revoke_key(self, key_id: str) -> None:
        revoke_key(self.store, key_id)

    def authenticate(self, secret: str | None) -> ApiKey:
        return authenticate(self.store, secret)

    # --- knowledge brokering: related practice, silos, introductions, health -----------------
    # Imported where used: networkx and matplotlib would slow every CLI start for commands
    # that never touch them.
    def practices(
        self, text: str | None = None, like: str | None = None, kinds: Collection[str] | None = None, limit: int = 10
    ) -> list[Practice]:
        """Practice documents and answered questions on the topic of TEXT, or like document LIKE."""
        from copmatch.services.practices import find_practices

        served = self.serving.current(prefetch_encoder=like is None)
        return find_practices(served.searcher, self.store, self.serving.encode, self.settings, text, like, kinds, limit)

    def silos(self) -> SiloSummary:
        from copmatch.services.silos import summarise

        return summarise(self.store)

    def infer_silos(self) -> SiloSummary:
        """Infer silos from the interaction graph (only for data imported without silos)."""
        from copmatch.services.silos import infer_and_store

        return infer_and_store(self.store, self.settings)

    def suggest_introductions(
        self, limit: int = 20, per_member: int | None = None, broker: str | None = None
    ) -> list[Introduction]:
        """New cross-silo introductions, stored as suggested for a broker to review."""
        from copmatch.services.brokering.suggest import suggest
        from copmatch.services.silos import ensure_silos

        # One run at a time in this process, so two brokers get different pairs. Across
        # processes the database settles it: a pair is stored once, the later insert skips it.
        with self._suggest_lock:
            ensure_silos(self.store, self.settings)
            searcher = self.serving.current().searcher
            return suggest(self.store, searcher, self.settings, limit=limit, per_member=per_member, broker=broker)

    def list_introductions(self, status: str | None = None) -> list[Introduction]:
        from copmatch.services.brokering.review import list_introductions

        return list_introductions(self.store, status)

    def get_introduction(self, introduction_id: int) -> Introduction:
        from copmatch.services.brokering.review import get_introduction

        return get_introduction(self.store, introduction_id)

    def decide_introduction(
        self,
        introduction_id: int,
        decision: str,
        broker: str | None = None,
        note: str | None = None,
        acting_member: str | None = None,
    ) -> Introduction:
        """approve, reject, snooze, or mark introduced; an invalid move raises InvalidTransitionError.
        ``acting_member``: the member the broker's key is bound to (never decides their own)."""
        from copmatch.services.brokering.review import decide

        return decide(self.store, introduction_id, decision, broker, note, acting_member)

    def introduction_outcome(
        self,
        introduction_id: int,
        outcome: str,
        broker: str | None = None,
        note: str | None = None,
        acting_member: str | None = None,
    ) -> Introduction:
        from copmatch.services.brokering.review import record_outcome

        return record_outcome(self.store, introduction_id, outcome, broker, note, acting_member)

    def health(self) -> HealthReport:
        """Core group, weak ties, silos, unanswered questions, thin topics, bridges."""
        from copmatch.services.health import community_health
        from copmatch.services.silos import ensure_silos

        ensure_silos(self.store, self.settings)
        return community_health(self.store, self.serving.current().searcher, self.settings)

    def current_searcher(self) -> tuple[Searcher, MemberPriors]:
        """The loaded snapshot being served and its member priors (for tools and benchmarks)."""
        served = self.serving.current()
        return served.searcher, served.priors
