"""Background index rebuilds: one at a time, queries keep being served meanwhile.

The running build writes a new snapshot beside the one being served; ``Community``
switches to it when it is complete. A failed build leaves the old snapshot serving and
the job reports the error.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from copmatch.community import Community
from copmatch.errors import ConflictError, CopmatchError, NotFoundError
from copmatch.progress import Recorder
from copmatch.store.store import utc_now


@dataclass
class Job:
    id: str
    kind: str
    status: str = "running"  # running | succeeded | failed
    started_at: str = field(default_factory=utc_now)
    finished_at: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    progress: Recorder = field(default_factory=Recorder)
    nice: int | None = None  # the niceness the job's threads ran at (None: not known on this platform)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "result": self.result,
            "error": self.error,
            "nice": self.nice,
            "progress": {"step": self.progress.current, "tasks": self.progress.tasks},
        }


class RebuildJobs:
    def __init__(self, community: Community, history: int = 20) -> None:
        self.community = community
        self.history = history
        self._jobs: dict[str, Job] = {}
        self._running: Job | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> Job:
        with self._lock:
            if self._running is not None:
                raise ConflictError(
                    f"A rebuild is already running (job {self._running.id}).",
                    hint=f"Follow it at /v1/admin/jobs/{self._running.id}; start another when it has finished.",
                    details={"job_id": self._running.id},
                )
            job = Job(id=secrets.token_hex(6), kind="index-rebuild")
            self._running = job
            self._jobs[job.id] = job
            for old in list(self._jobs)[: max(0, len(self._jobs) - self.history)]:
                self._jobs.pop(old)
            self._thread = threading.Thread(target=self._run, args=(job,), name=f"rebuild-{job.id}", daemon=True)
            self._thread.start()
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(
                f"No job with id {job_id!r}.", hint="Jobs are kept in memory for the server's lifetime."
            )
        return job

    def running(self) -> Job | None:
        return self._running

    def wait(self, timeout_s: float | None = None) -> None:
        """Block until no rebuild runs (tests and shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self, job: Job) -> None:
        job.nice = lower_thread_priority(self.community.settings.rebuild_nice)
        try:
            # No ONNX export inside a serving process: a torch export would stall the queries it
            # serves meanwhile (`copmatch index build` or `models export` make it).
            report = self.community.build_index(progress=job.progress, export_encoder=False)
            job.result = {
                "version": report.version,
                "documents": report.documents,
                "passages": report.passages,
                "members": report.members,
                "encoded": report.encoded,
                "timings": report.timings,
            }
            job.status = "succeeded"
        except CopmatchError as exc:
            job.status, job.error = "failed", f"{exc.message} {exc.hint}".strip()
        except Exception as exc:  # a failed job must report, never kill the server
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.finished_at = utc_now()
            with self._lock:
                self._running = None


def lower_thread_priority(nice: int) -> int | None:
    """Add ``nice`` to the calling thread's niceness (the threads it starts inherit it) and
    return the niceness it now runs at (None where threads' niceness is not available).

    Linux schedules threads, not processes, so this slows only the rebuild: the model's
    worker threads it creates, SQLite writes and BM25 indexing run on CPU the queries leave.
    Niceness can only be raised without privileges, so this is for threads that end with
    their job. Elsewhere (niceness is per process) it changes nothing.
    """
    if not sys.platform.startswith("linux"):
        return None
    thread = threading.get_native_id()
    current = os.getpriority(os.PRIO_PROCESS, thread)
    if nice > 0:
        with contextlib.suppress(OSError):  # e.g. a sandbox that forbids it: same priority then
            os.setpriority(os.PRIO_PROCESS, thread, current + nice)
    return os.getpriority(os.PRIO_PROCESS, thread)
