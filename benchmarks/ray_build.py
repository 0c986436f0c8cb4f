"""`index build --ray` on one machine: the same vectors as the local build, and what Ray costs.

    python -m benchmarks.ray_build [--dump coffee]

Imports a development dump into two data dirs with empty embedding caches and the ONNX
export (the build encoder a data dir with an export uses), then builds one locally and one
on a local Ray instance with one CPU per core (chunking tasks, encoder actors), in this order
and in one process, so both encode the same texts on the same machine in the same run.
The Ray instance's own start-up is timed apart (a cluster is started once, not per build);
the build on Ray includes starting its actors and loading the model in each.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import typer

from benchmarks.lib.results import HERE, SHARED_DUMPS, record
from copmatch import Community, Settings
from copmatch.embedding.ray_pipeline import connect
from copmatch.index.snapshot import PASSAGE_VECTORS

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "ray_build"


@app.command()
def main(dump: str = typer.Option("beer", help="Dump folder under shared/data/stackexchange.")) -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    settings = Settings(ray_min_texts=1)  # every document and text through the actors
    local = Community(WORK / "local", settings)
    local.import_stackexchange(SHARED_DUMPS / dump)
    local.ensure_encoder_exported()
    on_ray = Community(WORK / "ray", settings)
    on_ray.import_stackexchange(SHARED_DUMPS / dump)
    if (WORK / "local" / "models").is_dir():  # else both find the shared export (make install's)
        shutil.copytree(WORK / "local" / "models", WORK / "ray" / "models")
    local.embedder.encode(["warm up the model"])  # the local build's model loads outside its timing

    tick = time.perf_counter()
    ray = connect("auto")
    ray_start_s = time.perf_counter() - tick
    cpus = int(ray.cluster_resources().get("CPU", 0))

    local_report = local.build_index(full=True)
    ray_report = on_ray.build_index(full=True, ray_address="auto")
    a = np.load(local_report.path / PASSAGE_VECTORS)
    b = np.load(ray_report.path / PASSAGE_VECTORS)
    max_diff = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
    min_cos = float((a * b).sum(axis=1).min()) if a.shape == b.shape else float("nan")
    overhead = ray_report.timings["total_s"] / local_report.timings["total_s"] - 1
    rows = [
        {"build": name, **{k: v for k, v in r.timings.items() if k in ("chunk_s", "encode_s", "total_s")},
         "passages": r.passages, "encoded": r.encoded, "passages/s": r.passages / r.timings["total_s"]}
        for name, r in (("local", local_report), (f"Ray, local instance ({cpus} CPUs)", ray_report))
    ]  # fmt: skip
    checks = [
        {"figure": "Ray build time / local build time - 1 (overhead)", "value": overhead, "target": "<= 0.15"},
        {"figure": "passages (local / Ray)", "value": f"{local_report.passages} / {ray_report.passages}",
         "target": "equal"},
        {"figure": "max |vector difference|", "value": max_diff, "target": "<= 1e-5"},
        {"figure": "min cosine between the two builds' vectors", "value": min_cos, "target": ">= 0.99999"},
        {"figure": "Ray instance start-up (s, once per cluster, not in the build)", "value": ray_start_s,
         "target": "-"},
    ]  # fmt: skip
    record(
        "ray_build",
        sizes={"dump": dump, "passages": local_report.passages, "members": local_report.members, "ray_cpus": cpus},
        timings={"local": local_report.timings, "ray": ray_report.timings, "ray_start_s": ray_start_s},
        quality={"overhead": overhead, "max_abs_diff": max_diff, "min_cosine": min_cos},
        tables={"Builds (empty caches, same texts, same run)": rows, "Checks": checks},
        notes="Both builds encode with the ONNX fp32 export: locally one session on every core, on Ray one "
        "single-threaded session per actor, one actor per CPU. The Ray build includes starting the actors.",
    )
    for row in rows + checks:
        print(row)
    ray.shutdown()


if __name__ == "__main__":
    app()
