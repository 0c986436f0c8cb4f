"""The serving side of benchmarks/scale.py: a fresh process that loads one index and searches.

    python -m benchmarks.lib.scale_serve INDEX SPEC_JSON QUERIES_NPY TRUTH_NPY VECTORS_NPY [--nprobe 16 ...]

Loads the index through ``DenseIndex.load`` and opens the full vectors with
``index.vectors.open_vectors`` (the Searcher's path), then searches every query alone:
top-10 from the index, and the Searcher's pattern (``dense_top_k`` candidates, re-scored
exactly from the full vectors). Prints one JSON object: load time, RSS after load, peak RSS of this process,
latencies and recall@10 against the exact neighbours, per ``nprobe`` for IVF indexes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import faiss
import numpy as np
import typer

from copmatch.index.dense import DenseIndex, DenseIndexSpec
from copmatch.index.vectors import open_vectors

app = typer.Typer(add_completion=False)


def memory_mb(field: str) -> float:
    """VmRSS / VmHWM of this process; unlike ru_maxrss, VmHWM starts afresh at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(found, truth)]))


def search_all(dense: DenseIndex, vectors: np.ndarray, queries: np.ndarray, top_k: int) -> dict:
    latency_ms, index_top, rescored_top = [], [], []
    for query in queries:
        tick = time.perf_counter()
        _, ids = dense.search(query[None, :], 10)
        latency_ms.append((time.perf_counter() - tick) * 1000)
        index_top.append(ids[0])
    rescore_ms = []
    for query in queries:
        tick = time.perf_counter()
        _, ids = dense.search(query[None, :], top_k)
        ids = ids[0][ids[0] >= 0]
        exact = vectors[np.sort(ids)] @ query  # (top_k,) what Searcher.retrieve computes
        best = np.sort(ids)[np.argsort(-exact)[:10]]
        rescore_ms.append((time.perf_counter() - tick) * 1000)
        rescored_top.append(best)
    return {
        "p50_ms": float(np.percentile(latency_ms, 50)),
        "p95_ms": float(np.percentile(latency_ms, 95)),
        "rescored_p50_ms": float(np.percentile(rescore_ms, 50)),
        "rescored_p95_ms": float(np.percentile(rescore_ms, 95)),
        "index_top": index_top,
        "rescored_top": rescored_top,
    }


@app.command()
def main(
    index: Path,
    spec_json: Path,
    queries_npy: Path,
    truth_npy: Path,
    vectors_npy: Path,
    top_k: Annotated[int, typer.Option(help="Candidates re-scored exactly, as Settings.dense_top_k.")] = 400,
    nprobe: Annotated[list[int] | None, typer.Option(help="IVF lists scanned (repeatable).")] = None,
) -> None:
    spec = DenseIndexSpec(**json.loads(spec_json.read_text()))
    tick = time.perf_counter()
    dense = DenseIndex.load(index, spec)
    load_s = time.perf_counter() - tick
    rss_loaded = memory_mb("VmRSS")
    vectors = open_vectors(vectors_npy)  # (n, dim): as the Searcher opens them
    queries = np.load(queries_npy)
    truth = np.load(truth_npy)
    runs = []
    for probes in (nprobe or [spec.ivf_nprobe]) if spec.kind == "ivf_sq8" else [None]:
        if probes is not None:
            faiss.extract_index_ivf(dense.index).nprobe = probes
        result = search_all(dense, vectors, queries, top_k)
        runs.append(
            {
                "nprobe": probes,
                "p50_ms": result["p50_ms"],
                "p95_ms": result["p95_ms"],
                "recall@10": recall(result["index_top"], truth),
                "rescored_p50_ms": result["rescored_p50_ms"],
                "rescored_p95_ms": result["rescored_p95_ms"],
                "rescored_recall@10": recall(result["rescored_top"], truth),
            }
        )
    print(
        json.dumps(
            {
                "load_s": load_s,
                "rss_after_load_mb": rss_loaded,
                "rss_end_mb": memory_mb("VmRSS"),
                "peak_rss_mb": memory_mb("VmHWM"),
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    app()
