"""Dense search at 100k and 1M passages: every index type copmatch offers, against exact search.

    python -m benchmarks.scale [--size 100000 --size 1000000] [--queries 200]

The vectors are synthetic, clustered like a community's passages: topics around a shared
direction (sentence embeddings are anisotropic), threads inside topics, passages around
threads (cosine to their thread drawn from 0.5-0.9), 384-d unit vectors, generated in
chunks into a memory-mapped .npy under benchmarks/.work/scale (reused between runs). The
queries come from the same threads but are not in the index. Exact top-10 (IndexFlatIP,
all threads, batched) is the ground truth. Each index type is built here (build time,
file size) through ``DenseIndex.build`` with the spec ``choose_spec`` would give, saved, and
served by a fresh process (benchmarks/lib/scale_serve.py) that reports its own load time and
RSS, single-query latency p50/p95 and recall@10, index-only and after the Searcher's exact
re-scoring of ``dense_top_k`` candidates read from the full-precision vectors file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import faiss
import numpy as np
import typer

from benchmarks.lib.results import HERE, record
from copmatch import Settings
from copmatch.index.dense import DenseIndex, DenseIndexSpec, choose_spec

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "scale"
DIM = 384
PER_THREAD = 200  # passages per thread
TOPICS = 100
CHUNK = 100_000


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _toward(centers: np.ndarray, cosine: np.ndarray | float, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors at roughly ``cosine`` to each center (random directions are ~orthogonal in 384-d)."""
    noise = _unit(rng.standard_normal(centers.shape, dtype=np.float32))
    cosine = np.asarray(cosine, dtype=np.float32).reshape(-1, 1) if np.ndim(cosine) else np.float32(cosine)
    return _unit(cosine * centers + np.sqrt(1 - cosine**2) * noise)


def synthetic(n: int, n_queries: int, seed: int = 0) -> tuple[Path, np.ndarray]:
    """(path of the (n, 384) vectors .npy, (n_queries, 384) queries); generated once per (n, seed)."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"vectors-{n}-seed{seed}.npy"
    rng = np.random.default_rng(seed)
    shared = _unit(rng.standard_normal((1, DIM), dtype=np.float32))
    topics = _toward(np.repeat(shared, TOPICS, axis=0), 0.35, rng)  # (TOPICS, DIM)
    n_threads = max(1, n // PER_THREAD)
    threads = _toward(topics[rng.integers(0, TOPICS, n_threads)], 0.8, rng)  # (n_threads, DIM)
    if not path.is_file():
        out = np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), mode="w+", dtype=np.float32, shape=(n, DIM))
        for start in range(0, n, CHUNK):
            size = min(CHUNK, n - start)
            chunk_rng = np.random.default_rng([seed, start])
            centers = threads[chunk_rng.integers(0, n_threads, size)]
            out[start : start + size] = _toward(centers, chunk_rng.uniform(0.5, 0.9, size), chunk_rng)
        out.flush()
        del out
        os.replace(path.with_suffix(".tmp.npy"), path)
    query_rng = np.random.default_rng([seed, 1, 1])  # a stream no chunk uses
    queries = _toward(
        threads[query_rng.integers(0, n_threads, n_queries)], query_rng.uniform(0.5, 0.9, n_queries), query_rng
    )
    return path, queries


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = faiss.IndexFlatIP(DIM)
    for start in range(0, len(vectors), CHUNK):
        flat.add(np.ascontiguousarray(vectors[start : start + CHUNK]))
    scores, ids = flat.search(queries, 10)  # all threads: a batch of queries
    return scores, ids


def build(kind: str, vectors: np.ndarray, settings: Settings, work: Path) -> tuple[DenseIndexSpec, dict]:
    if kind == "flat":
        spec = choose_spec(len(vectors), exact_max=len(vectors))
    elif kind == "ivf_sq8":
        spec = choose_spec(len(vectors), 0, settings.ivf_lists_per_sqrt, settings.ivf_nprobe)
    else:
        spec = DenseIndexSpec(kind=kind)
    tick = time.perf_counter()
    dense = DenseIndex.build(np.asarray(vectors), spec)
    build_s = time.perf_counter() - tick
    spec = dense.spec
    index_path = work / f"{kind}.faiss"
    dense.save(index_path)
    del dense
    (work / f"{kind}.spec.json").write_text(json.dumps(spec.to_dict()))
    return spec, {"build_s": build_s, "file_mb": index_path.stat().st_size / 2**20}


def serve(kind: str, work: Path, vectors_path: Path, nprobes: list[int], top_k: int) -> dict:
    argv = [
        sys.executable,
        "-m",
        "benchmarks.lib.scale_serve",
        str(work / f"{kind}.faiss"),
        str(work / f"{kind}.spec.json"),
        str(work / "queries.npy"),
        str(work / "truth.npy"),
        str(vectors_path),
        "--top-k",
        str(top_k),
    ]
    for probes in nprobes:
        argv += ["--nprobe", str(probes)]
    result = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=HERE.parent)
    return json.loads(result.stdout.strip().splitlines()[-1])


@app.command()
def main(
    size: Annotated[list[int] | None, typer.Option(help="Collection sizes (repeatable).")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="Index types (repeatable): flat, ivf_sq8.")] = None,
    queries: Annotated[int, typer.Option(help="Queries (each searched alone when serving).")] = 200,
    nprobe: Annotated[list[int] | None, typer.Option(help="IVF nprobe values to sweep (repeatable).")] = None,
) -> None:
    sizes, kinds = size or [100_000, 1_000_000], kind or ["flat", "ivf_sq8"]
    settings = Settings()
    nprobes = sorted(set(nprobe or [8, 16, settings.ivf_nprobe, 64]))
    rows, sweep, difficulty = [], [], []
    for n in sizes:
        work = WORK / str(n)
        work.mkdir(parents=True, exist_ok=True)
        tick = time.perf_counter()
        vectors_path, query_vectors = synthetic(n, queries)
        vectors = np.load(vectors_path, mmap_mode="r")
        generate_s = time.perf_counter() - tick
        tick = time.perf_counter()
        truth_scores, truth = exact_top10(vectors, query_vectors)
        np.save(work / "queries.npy", query_vectors)
        np.save(work / "truth.npy", truth)
        difficulty.append(
            {
                "passages": n,
                "generate_s": generate_s,
                "exact_search_s": time.perf_counter() - tick,
                "mean cos of 1st neighbour": float(truth_scores[:, 0].mean()),
                "mean cos of 10th neighbour": float(truth_scores[:, 9].mean()),
            }
        )
        for name in kinds:
            spec, built = build(name, vectors, settings, work)
            served = serve(name, work, vectors_path, nprobes, settings.dense_top_k)
            default = next((r for r in served["runs"] if r["nprobe"] in (None, spec.ivf_nprobe)), served["runs"][0])
            rows.append(
                {
                    "passages": n,
                    "index": name,
                    "params": _params(spec),
                    "build s": built["build_s"],
                    "file MB": built["file_mb"],
                    "load s": served["load_s"],
                    "RSS after load MB": served["rss_after_load_mb"],
                    "peak RSS MB": served["peak_rss_mb"],
                    "p50 ms": default["p50_ms"],
                    "p95 ms": default["p95_ms"],
                    "recall@10": default["recall@10"],
                    f"top-{settings.dense_top_k} + exact re-score p95 ms": default["rescored_p95_ms"],
                    "recall@10 after re-score": default["rescored_recall@10"],
                }
            )
            sweep += [{"passages": n, "index": name, **run} for run in served["runs"] if run["nprobe"] is not None]
            print(rows[-1])
    ivf_1m = next((r for r in rows if r["passages"] == 1_000_000 and r["index"] == "ivf_sq8"), None)
    acceptance = (
        []
        if ivf_1m is None
        else [
            {"figure": "1M: p95 search (ivf_sq8, default nprobe)", "value": ivf_1m["p95 ms"], "target": "<= 20 ms"},
            {"figure": "1M: recall@10 against exact search", "value": ivf_1m["recall@10"], "target": ">= 0.95"},
            {"figure": "1M: serving process peak RSS", "value": ivf_1m["peak RSS MB"], "target": "< 1536 MB"},
        ]
    )
    record(
        "scale",
        sizes={"passages": sizes, "dim": DIM, "queries": queries, "per_thread": PER_THREAD, "topics": TOPICS},
        timings={
            f"{r['passages']}/{r['index']}": {"build_s": r["build s"], "p50_ms": r["p50 ms"], "p95_ms": r["p95 ms"]}
            for r in rows
        },
        quality={f"{r['passages']}/{r['index']}": r["recall@10"] for r in rows},
        tables={
            "Index types by size (serving process: fresh, one query at a time)": rows,
            "IVF nprobe sweep": sweep,
            "Synthetic data": difficulty,
            "Acceptance": acceptance,
        },
        notes="Synthetic clustered unit vectors (see the script's docstring). RSS is the serving process's own "
        "(VmRSS/VmHWM); it reads candidate rows of the full vectors for re-scoring as the Searcher does.",
    )
    for row in acceptance:
        print(row)


def _params(spec: DenseIndexSpec) -> str:
    if spec.kind == "ivf_sq8":
        return f"nlist={spec.ivf_nlist} nprobe={spec.ivf_nprobe} kmeans_iter={spec.ivf_kmeans_iterations}"
    return "exact"


if __name__ == "__main__":
    app()
