"""The serving session: the snapshot a process answers from and its query encoder, swapped together.

Every query asks for the current snapshot; when a build has switched ``CURRENT``, the next
query reopens the snapshot, its member priors and the encoder that matches it, all at once,
so no query is ever encoded by one encoder and searched in an index built by another. The
HTTP server also turns on micro-batching here: concurrent queries share model calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from copmatch.embedding.batching import MicroBatcher
from copmatch.embedding.choice import query_encoder
from copmatch.embedding.encoder import Encoder
from copmatch.errors import IndexCorruptError, IndexMismatchError
from copmatch.index.read_ahead import read_ahead
from copmatch.index.snapshot import SnapshotDir, read_manifest
from copmatch.ranking.retrieval import Searcher, snapshot_encoder
from copmatch.ranking.scores import MemberPriors
from copmatch.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """One loaded snapshot with what queries against it need. Immutable: a query that holds
    it keeps a consistent view while a rebuild switches the session to the next one."""

    searcher: Searcher
    priors: MemberPriors
    encoder: Encoder
    #: Set when CURRENT's snapshot is damaged and an older intact one serves instead.
    warning: str | None = None

    @property
    def version(self) -> str:
        return self.searcher.version


class ServingSession:
    def __init__(
        self, data_dir: Path, snapshots: SnapshotDir, settings: Settings, given_encoder: Encoder | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.snapshots = snapshots
        self.settings = settings
        # A given encoder (tests, benchmarks) encodes every query; otherwise the encoder is
        # chosen per snapshot (embedding/choice.py).
        self._given_encoder = given_encoder
        self._build_encoder: Encoder | None = None
        self._served: Served | None = None
        # The CURRENT snapshot found damaged, stood in for by ``_served``: not reopened on every
        # query, only once CURRENT names another snapshot.
        self._damaged: Path | None = None
        self._batcher: MicroBatcher | None = None
        self._reads_ahead = False
        self._lock = threading.Lock()

    @property
    def batching(self) -> bool:
        """Whether concurrent queries share model calls (the HTTP server turns this on)."""
        return self._batcher is not None

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()

    def enable_read_ahead(self) -> None:
        """Read each snapshot's per-query files into the page cache once it is open (the HTTP
        server turns this on: a one-question CLI run would only pay for reading gigabytes)."""
        with self._lock:
            self._reads_ahead = True
            if self._served is not None:
                read_ahead(self._served.searcher.path)

    def adopt_build_encoder(self, encoder: Encoder) -> None:
        """The encoder a build in this process used: queries reuse it for the snapshot it
        made (a CLI build followed by queries pays for one model load, not two)."""
        self._build_encoder = encoder

    def current(self, prefetch_encoder: bool = False) -> Served:
        """The CURRENT snapshot, reopened when a build has switched it.

        ``prefetch_encoder``: a query is about to be encoded, so load the query encoder
        alongside opening the index (commands that encode nothing should not pay for it)."""
        try:
            path: Path | None = self.snapshots.current_path()
        except IndexCorruptError as exc:  # CURRENT itself is damaged, but snapshots exist
            path, current_damage = None, exc
        with self._lock:
            served = self._served
            if served is not None and (served.searcher.path == path or (served.warning and self._damaged == path)):
                return served
            try:
                if path is None:
                    raise current_damage
                # The old snapshot is dropped, not closed: a query on another thread may still hold it.
                served = self._open(path, prefetch_encoder)
            except IndexCorruptError as exc:
                served = self._stand_in(path, exc, prefetch_encoder)
            self._served, self._damaged = served, path if served.warning else None
            return served

    def _open(self, path: Path, prefetch_encoder: bool, warning: str | None = None) -> Served:
        encoder = self._encoder_for(path, read_manifest(path))
        if prefetch_encoder and hasattr(encoder, "start_loading"):
            encoder.start_loading()  # alongside opening the index, not after it
        searcher = Searcher.open(path, self.settings.model_id, encoder=encoder.identity)
        if self._reads_ahead:
            read_ahead(path)  # after opening: the reads would only slow opening down
        # The members' query-independent facts are made once, here: queries then only read them.
        return Served(searcher, searcher.member_facts(self.settings).priors, encoder, warning)

    def _stand_in(self, damaged: Path | None, damage: IndexCorruptError, prefetch_encoder: bool) -> Served:
        """The newest intact snapshot other than the damaged current one, with a warning; or
        the damage itself when none can serve (never a damaged snapshot, never silently)."""
        for version in self.snapshots.versions():
            candidate = self.snapshots.snapshots / version
            if candidate == damaged:
                continue
            warning = f"{damage.message} Serving the older snapshot {version} instead."
            try:
                served = self._open(candidate, prefetch_encoder, warning)
            except (IndexCorruptError, IndexMismatchError):
                continue
            log.warning("%s", warning)
            return served
        raise IndexCorruptError(
            f"{damage.message} No intact snapshot is left to serve.",
            hint="Rebuild with: copmatch index build",
            details=damage.details,
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors, (n, dim); through the micro-batcher when serving concurrent requests."""
        if self._batcher is not None:
            return self._batcher.encode(texts)
        return self._encode_now(texts)

    def _encode_now(self, texts: Sequence[str]) -> np.ndarray:
        return self.current(prefetch_encoder=True).encoder.encode(texts)

    def enable_batching(self) -> None:
        """Share model calls between concurrent queries, as the ``serve_*`` settings say: how
        many calls run at once and on how many threads each."""
        with self._lock:
            if self._batcher is None:
                settings = self.settings
                self._batcher = MicroBatcher(
                    self._encode_now,
                    max_batch=settings.serve_max_batch,
                    max_wait_s=settings.serve_max_wait_ms / 1000,
                    workers=settings.serve_encoder_workers,
                )
                self._served = None  # reopened, with an encoder made for serving, by the next query

    def _encoder_for(self, path: Path, manifest: dict[str, Any]) -> Encoder:
        """The query encoder for a snapshot: the given encoder, or this process's build encoder
        if it made the snapshot (not when serving), else a matching ONNX export (no torch
        import), else sentence-transformers."""
        if self._given_encoder is not None:
            return self._given_encoder
        built = snapshot_encoder(path, manifest)
        # A server keeps its own query encoder after a rebuild: the build encoder uses every
        # core per call, and its threads run at the rebuild's lower priority (rebuild_nice).
        if self._build_encoder is not None and self._build_encoder.identity == built and not self.batching:
            return self._build_encoder
        # onnxruntime threads per call: the serving setting, else its default (one per core).
        threads = self.settings.serve_encoder_threads if self.batching else 0
        return query_encoder(self.data_dir, built, self.settings.encode_batch_size, threads)
