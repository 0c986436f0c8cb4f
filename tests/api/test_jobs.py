"""Background rebuild jobs run below the queries' priority (Linux schedules threads)."""

from __future__ import annotations

import os
import shutil
import sys
import threading

import pytest

from copmatch import Settings
from copmatch.api.jobs import RebuildJobs, lower_thread_priority
from tests.support import open_community

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
MAX_NICE = 19


def own_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@linux_only
def test_lower_priority_reaches_the_threads_it_starts_but_not_its_caller():
    before = own_nice()
    seen: dict[str, int | None] = {}

    def job() -> None:
        seen["job"] = lower_thread_priority(5)
        child = threading.Thread(target=lambda: seen.update(child=own_nice()))
        child.start()
        child.join()

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    assert seen == {"job": min(before + 5, MAX_NICE), "child": min(before + 5, MAX_NICE)}
    assert own_nice() == before


@linux_only
@pytest.mark.parametrize("nice", [10, 0])
def test_rebuild_job_runs_at_the_configured_niceness(tiny_built, tmp_path, embedder, nice):
    shutil.copytree(tiny_built, tmp_path / "tiny")
    community = open_community(tmp_path / "tiny", embedder, Settings(rebuild_nice=nice))
    jobs = RebuildJobs(community)
    job = jobs.start()
    jobs.wait(timeout_s=300)
    assert job.status == "succeeded", job.error
    assert job.to_dict()["nice"] == min(own_nice() + nice, MAX_NICE)
    community.close()
