"""A server's first queries on a cold page cache, with and without the snapshot read-ahead.

    python -m benchmarks.cold_cache [--data-dir benchmarks/.work/scale_e2e/1000000/data] [--rounds 2]

Runs on the million-passage community that benchmarks/scale_e2e.py leaves in its work folder
(run that first). Each run is a fresh process, after ``sync`` and dropping the kernel's page
cache (``/proc/sys/vm/drop_caches``: root only; without it the figures would be warm and the
benchmark stops): it opens the community as ``copmatch serve`` does, with or without
``Community.enable_read_ahead`` (index/read_ahead.py), answers one query (open + first), then
the 220 queries of scale_e2e, one at a time. Runs alternate read-ahead off and on, ``--rounds``
times each; one warm run of each follows, for the cost of the read-ahead when nothing is to read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from benchmarks.lib.results import HERE, record
from copmatch.index.snapshot import SnapshotDir, read_manifest

app = typer.Typer(add_completion=False)
DEFAULT_DATA = HERE / ".work" / "scale_e2e" / "1000000" / "data"
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def serve(data_dir: Path, queries: Path, read_ahead: bool) -> dict:
    """One serving process's open + first query and its next queries' latencies (ms)."""
    tick = time.perf_counter()
    from copmatch import Community

    texts = json.loads(queries.read_text())
    community = Community.open(data_dir)
    if read_ahead:
        community.enable_read_ahead()
    community.find_experts(texts[0])
    first_s = time.perf_counter() - tick
    latencies = []
    for text in texts:
        tick = time.perf_counter()
        community.find_experts(text)
        latencies.append((time.perf_counter() - tick) * 1000)
    community.close()
    return {"open_and_first_s": first_s, "latencies_ms": latencies}


def run(data_dir: Path, queries: Path, read_ahead: bool, cold: bool) -> dict:
    os.sync()
    if cold:
        DROP_CACHES.write_text("3\n")
    argv = [sys.executable, "-m", "benchmarks.cold_cache", "child", str(data_dir), str(queries)]
    argv += ["--read-ahead"] if read_ahead else []
    done = subprocess.run(argv, capture_output=True, text=True, cwd=HERE.parent, check=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    lat = np.array(result["latencies_ms"])
    row = {
        "page cache": "cold" if cold else "warm",
        "read-ahead": "on" if read_ahead else "off",
        "open + first query s": result["open_and_first_s"],
        "first 50 mean ms": float(lat[:50].mean()),
        "all mean ms": float(lat.mean()),
        "p95 ms": float(np.percentile(lat, 95)),
        "last 50 mean ms": float(lat[-50:].mean()),
        "queries s": float(lat.sum() / 1000),
    }
    print(row, flush=True)
    return row


@app.command()
def child(data_dir: Path, queries: Path, read_ahead: bool = False) -> None:
    print(json.dumps(serve(data_dir, queries, read_ahead)))


@app.command()
def main(
    data_dir: Annotated[Path, typer.Option(help="A community built by scale_e2e.")] = DEFAULT_DATA,
    rounds: Annotated[int, typer.Option(help="Cold runs of each side.")] = 2,
) -> None:
    queries = data_dir.parent / "queries.json"
    if not (data_dir / "index").is_dir() or not queries.is_file():
        raise SystemExit(f"No built community at {data_dir}: run python -m benchmarks.scale_e2e first.")
    try:
        os.sync()
        DROP_CACHES.write_text("3\n")
    except OSError as exc:
        raise SystemExit(f"Cannot drop the page cache ({exc}): this benchmark needs root.") from None
    rows = [run(data_dir, queries, read_ahead, cold=True) for _ in range(rounds) for read_ahead in (False, True)]
    rows += [run(data_dir, queries, read_ahead, cold=False) for read_ahead in (False, True)]

    def mean(page_cache: str, read_ahead: str, key: str) -> float:
        values = [r[key] for r in rows if r["page cache"] == page_cache and r["read-ahead"] == read_ahead]
        return float(np.mean(values))

    manifest = read_manifest(SnapshotDir(data_dir / "index").current_path())
    record(
        "cold_cache",
        sizes={
            "passages": manifest["counts"]["passages"],
            "queries": len(json.loads(queries.read_text())),
            "rounds": rounds,
        },  # fmt: skip
        timings={"runs": rows},
        quality={
            "cold_mean_ms_off": mean("cold", "off", "all mean ms"),
            "cold_mean_ms_on": mean("cold", "on", "all mean ms"),
            "cold_off_over_on": mean("cold", "off", "all mean ms") / mean("cold", "on", "all mean ms"),
        },
        tables={"Serving process on a cold and a warm page cache (fresh process per row)": rows},
        notes="Community of benchmarks/scale_e2e.py. Cold: sync, then /proc/sys/vm/drop_caches before the "
        "process starts. Read-ahead: Community.enable_read_ahead, as copmatch serve calls it (index/read_ahead.py). "
        "Runs alternate off and on; compare them within this run.",
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        app(sys.argv[1:])
    else:
        app(["main", *sys.argv[1:]])
