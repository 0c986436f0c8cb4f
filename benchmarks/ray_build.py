"""`index build --ray` on one machine: the same vectors as the local build, and what Ray costs.

    python -m benchmarks.ray_build [--dump beer] [--rounds 1]

Imports a development dump into two data dirs with the ONNX export (the build encoder a
data dir with an export uses), then builds them in turn, locally and on a local Ray instance
with every CPU, each build from an empty embedding cache, in the order local, Ray, Ray,
local (each round), in one process, so both sides encode the same texts on the same
machine in the same run at the same niceness, and a load that drifts during the run
weighs on both alike. Overhead = (sum of the Ray builds' wall times) / (sum of the local
builds') - 1, each build timed as a caller sees it (`Community.build_index`, including
setting up the Ray pipeline, starting its encoder actors and loading the model in them).

A Ray instance is started before each Ray build and stopped after it, timed apart (a
cluster starts once, not per build): each build on Ray is then a new Ray job with cold
workers, as each `copmatch index build --ray` is. Ray's workers run at the benchmark's
niceness (not Ray's default of 15 more), so both sides run at the same priority.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import typer

from benchmarks.lib.results import HERE, SHARED_DUMPS, record
from copmatch import Community, Settings
from copmatch.embedding.ray_pipeline import actor_layout, connect
from copmatch.index.snapshot import PASSAGE_VECTORS

# Ray runs its workers 15 nicer than the process that starts it (RAY_worker_niceness): here they
# run at the benchmark's own niceness, so both sides encode at the same priority.
os.environ.setdefault("RAY_worker_niceness", "0")
app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "ray_build"
STAGES = ("chunk_s", "encode_s", "learn_s", "total_s")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


@app.command()
def main(
    dump: str = typer.Option("beer", help="Dump folder under shared/data/stackexchange."),
    rounds: int = typer.Option(1, help="Rounds of (local, Ray, Ray, local) builds."),
) -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    settings = Settings(ray_min_texts=1)  # every document and text through Ray
    local = Community(WORK / "local", settings)
    local.import_stackexchange(SHARED_DUMPS / dump)
    local.ensure_encoder_exported()
    on_ray = Community(WORK / "ray", settings)
    on_ray.import_stackexchange(SHARED_DUMPS / dump)
    if (WORK / "local" / "models").is_dir():  # else both find the shared export (make install's)
        shutil.copytree(WORK / "local" / "models", WORK / "ray" / "models")
    local.embedder.encode(["warm up the model"])  # the local model loads outside its timing
    load_before = load()

    builds: list[dict] = []
    reports = {}
    ray_starts: list[float] = []
    layout = (0, 0)
    for _ in range(rounds):
        for side in ("local", "ray", "ray", "local"):
            community = local if side == "local" else on_ray
            shutil.rmtree(community.cache_path.parent, ignore_errors=True)  # nothing cached
            ray = None
            if side == "ray":
                tick = time.perf_counter()
                ray = connect("auto")
                ray_starts.append(time.perf_counter() - tick)
                layout = actor_layout(ray)
            tick = time.perf_counter()
            report = community.build_index(full=True, ray_address="auto" if ray else None)
            wall = time.perf_counter() - tick
            if ray is not None:
                ray.shutdown()
            reports[side] = report
            builds.append(
                {"build": side, "wall_s": wall, **{k: report.timings[k] for k in STAGES},
                 "passages": report.passages, "encoded": report.encoded, "load": load()}
            )  # fmt: skip
            print(builds[-1], flush=True)
    load_after = load()

    def wall(side: str) -> float:
        return sum(b["wall_s"] for b in builds if b["build"] == side)

    overhead = wall("ray") / wall("local") - 1
    # Each adjacent (local, Ray) pair of a round: local-Ray and Ray-local, both orders.
    pairs = [builds[i : i + 4] for i in range(0, len(builds), 4)]
    pair_ratios = [p[1]["wall_s"] / p[0]["wall_s"] for p in pairs] + [p[2]["wall_s"] / p[3]["wall_s"] for p in pairs]
    stage_means = [
        {"build": side, **{k: float(np.mean([b[k] for b in builds if b["build"] == side])) for k in STAGES},
         "wall_s": float(np.mean([b["wall_s"] for b in builds if b["build"] == side]))}
        for side in ("local", "ray")
    ]  # fmt: skip
    a = np.load(reports["local"].path / PASSAGE_VECTORS)
    b = np.load(reports["ray"].path / PASSAGE_VECTORS)
    max_diff = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
    min_cos = float((a * b).sum(axis=1).min()) if a.shape == b.shape else float("nan")
    actors, cpus = layout
    checks = [
        {"figure": "Ray wall time / local wall time - 1 (overhead; all builds)", "value": overhead,
         "target": "<= 0.15"},
        {"figure": "Ray / local per pair (local-Ray, Ray-local)", "value": " ".join(f"{r:.3f}" for r in pair_ratios),
         "target": "<= 1.15"},
        {"figure": "passages (local / Ray)", "value": f"{reports['local'].passages} / {reports['ray'].passages}",
         "target": "equal"},
        {"figure": "max abs vector difference", "value": max_diff, "target": "<= 1e-5"},
        {"figure": "min cosine between the two builds' vectors", "value": min_cos, "target": ">= 0.99999"},
        {"figure": "Ray instance start-up (s, mean; once per cluster, not in the build)",
         "value": float(np.mean(ray_starts)), "target": "-"},
        {"figure": "encoder actors x CPUs each", "value": f"{actors} x {cpus}", "target": "one per machine"},
        {"figure": "load average (1, 5, 15 min) before / after", "value": f"{load_before} / {load_after}",
         "target": "-"},
        {"figure": "niceness (both sides; Ray workers too)", "value": os.nice(0), "target": "-"},
    ]  # fmt: skip
    record(
        "ray_build",
        sizes={"dump": dump, "passages": reports["local"].passages, "members": reports["local"].members,
               "ray_cpus": actors * cpus, "rounds": rounds},
        timings={"builds": builds, "ray_start_s": ray_starts},
        quality={"overhead": overhead, "pair_ratios": pair_ratios, "max_abs_diff": max_diff, "min_cosine": min_cos,
                 "load_before": load_before, "load_after": load_after},
        tables={"Builds (empty caches, same texts, same run; in run order)": builds,
                "Mean per side": stage_means, "Checks": checks},
        notes="Both sides encode with the ONNX fp32 export on every core: locally one session, on Ray one encoder "
        "actor per machine holding all its CPUs (its session on as many threads), started once per build. Wall "
        "times are Community.build_index as a caller sees it; the Ray instance's start is timed apart.",
    )  # fmt: skip
    for row in stage_means + checks:
        print(row)
    print(f"work dirs under {Path(WORK)}")


if __name__ == "__main__":
    app()
