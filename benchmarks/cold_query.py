"""Cold CLI query: `copmatch experts "..."` from process start to printed answer, torch vs ONNX.

    python -m benchmarks.cold_query [--rounds 7]

Prepares the sample community once (import, ONNX export, index build; the embedding cache
is kept between runs), then a copy of it without the export. Each round runs, in turn:
the `copmatch` console script (ONNX path: what a member runs), and a small launcher that
calls the same CLI entry point on each data dir with the checkout's models/ folder hidden,
so the copy has no export and falls back to sentence-transformers (torch path). Wall time
is measured around the child process, its peak RSS by GNU time. One extra run of each path
under ``-X importtime`` records whether torch was imported and how many modules were.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import typer

from benchmarks.lib.communities import open_built
from benchmarks.lib.results import HERE, record
from copmatch.embedding.exports import SHARED_MODELS_ENV

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "cold_query"
BIN = Path(sys.executable).parent
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").is_file() else None  # for the peak RSS
QUERY = "our booster pump vibrates after a bearing change"
LAUNCHER = "import sys; from copmatch.cli import main; sys.argv = ['copmatch'] + sys.argv[1:]; main()"
# No shared models folder (the checkout's models/ hidden), here and in the children, so only
# the data dir's exports count: the ONNX data dir gets its own, the torch one has none.
os.environ[SHARED_MODELS_ENV] = ""
CHILD_ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def prepare() -> tuple[Path, Path]:
    onnx_dir, torch_dir = WORK / "onnx", WORK / "torch"
    open_built(onnx_dir).close()
    shutil.rmtree(torch_dir, ignore_errors=True)
    # The same store and snapshot, without the export: queries must load torch.
    shutil.copytree(onnx_dir, torch_dir, ignore=shutil.ignore_patterns("models", "cache"))
    return onnx_dir, torch_dir


def run(argv: list[str]) -> tuple[float, float | None, str]:
    """(wall seconds, peak RSS MB, stdout) of one child process.

    The peak RSS comes from GNU time: a forked child's own ru_maxrss starts at its parent's
    size (this benchmark process), which would hide the difference between the paths.
    """
    with tempfile.NamedTemporaryFile("r") as rss_file:
        wrapper = [GNU_TIME, "-f", "%M", "-o", rss_file.name] if GNU_TIME else []
        tick = time.perf_counter()
        result = subprocess.run(
            [*wrapper, *argv], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=CHILD_ENV, text=True, check=True
        )
        wall = time.perf_counter() - tick
        peak_kb = rss_file.read().strip().splitlines()[-1] if GNU_TIME else ""
    return wall, (int(peak_kb) / 1024 if peak_kb else None), result.stdout


def imported_modules(argv: list[str]) -> set[str]:
    result = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        capture_output=True,
        text=True,
        env=CHILD_ENV,
        check=True,
    )
    return {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")}


@app.command()
def main(rounds: int = typer.Option(7, help="Runs of each path (alternated).")) -> None:
    onnx_dir, torch_dir = prepare()
    args = ["experts", QUERY, "--limit", "5"]
    paths = {
        "copmatch console script, ONNX": [str(BIN / "copmatch"), "--data-dir", str(onnx_dir), *args],
        "CLI entry point, ONNX": [sys.executable, "-c", LAUNCHER, "--data-dir", str(onnx_dir), *args],
        "CLI entry point, torch (no export)": [sys.executable, "-c", LAUNCHER, "--data-dir", str(torch_dir), *args],
    }
    walls: dict[str, list[float]] = {name: [] for name in paths}
    rss: dict[str, float] = {}
    answers: dict[str, str] = {}
    run(paths["CLI entry point, ONNX"])  # page the files in once; every path then starts equally warm
    for _ in range(rounds):
        for name, argv in paths.items():
            wall, peak, out = run(argv)
            walls[name].append(wall)
            rss[name] = max(rss.get(name) or 0.0, peak or 0.0) or None
            answers[name] = out
    traced = {
        name: imported_modules([sys.executable, "-c", LAUNCHER, *argv[3:]])
        for name, argv in paths.items()
        if name.startswith("CLI")
    }
    same_answer = answers["CLI entry point, ONNX"] == answers["CLI entry point, torch (no export)"]

    rows = []
    for name in paths:
        modules = traced.get(name) or traced["CLI entry point, ONNX"]
        rows.append(
            {
                "path": name,
                "wall p50 s": float(np.median(walls[name])),
                "wall min s": min(walls[name]),
                "wall max s": max(walls[name]),
                "peak RSS MB": rss[name],
                "imports torch": "torch" in modules,
                "modules imported": len(modules),
            }
        )
    onnx_p50 = rows[0]["wall p50 s"]
    torch_p50 = rows[2]["wall p50 s"]
    acceptance = [
        {"figure": "cold `copmatch experts` p50 (console script, ONNX)", "value": onnx_p50, "target": "<= 1.5 s"},
        {"figure": "torch imported on the ONNX path", "value": rows[1]["imports torch"], "target": "False"},
        {
            "figure": "torch path p50 / ONNX path p50 (same launcher)",
            "value": torch_p50 / rows[1]["wall p50 s"],
            "target": "(speed-up)",
        },
        {"figure": "same printed answer on both paths", "value": same_answer, "target": "True"},
    ]
    record(
        "cold_query",
        sizes={"community": "sample", "rounds": rounds, "query": QUERY, "limit": 5},
        timings={name: walls[name] for name in paths},
        quality={"onnx_p50_s": onnx_p50, "torch_p50_s": torch_p50, "same_answer": same_answer},
        tables={"Cold CLI query, process start to printed answer": rows, "Acceptance": acceptance},
        notes="Rounds alternate the paths, so machine load hits them alike. The files are paged in "
        "before timing (a first run after boot also reads ~90 MB of ONNX weights from disk).",
    )
    for row in rows + acceptance:
        print(row)


if __name__ == "__main__":
    app()
