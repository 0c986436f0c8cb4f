"""Index build cost: first build, unchanged rebuild, and the pipeline against the bare encoder.

    python -m benchmarks.index_build [--dump beer]

Imports a development dump into a fresh data dir, builds the index twice (the second
build must re-encode nothing), then encodes the same passage texts with the bare
sentence-transformers model in the same process, so the pipeline's overhead over the
encoder is a ratio measured in one run. The model is loaded before any timing starts.
"""

from __future__ import annotations

import shutil
import sqlite3
import time

import typer

from benchmarks.lib.results import HERE, SHARED_DUMPS, record
from copmatch import Community, Settings
from copmatch.embedding.encoder import Embedder

app = typer.Typer(add_completion=False)


@app.command()
def main(
    dump: str = typer.Option("beer", help="Dump folder under shared/data/stackexchange."),
    batch_size: int = typer.Option(Settings().encode_batch_size, help="Encoder batch size for both."),
) -> None:
    work = HERE / ".work" / "index_build" / dump
    shutil.rmtree(work, ignore_errors=True)
    settings = Settings(encode_batch_size=batch_size)
    embedder = Embedder(batch_size=batch_size)
    embedder.encode(["warm up the model"])  # load outside every timing

    community = Community(work, settings, embedder=embedder)
    community.import_stackexchange(SHARED_DUMPS / dump)
    first = community.build_index()
    second = community.build_index()

    texts = [row[0] for row in sqlite3.connect(work / "copmatch.sqlite").execute("SELECT text FROM passages")]
    tick = time.perf_counter()
    embedder.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    bare_s = time.perf_counter() - tick

    pipeline_rate = first.passages / first.timings["total_s"]
    bare_rate = len(texts) / bare_s
    rows = [
        {
            "step": "first build (empty cache)",
            "seconds": first.timings["total_s"],
            "encoded": first.encoded,
            "passages/s": pipeline_rate,
        },
        {
            "step": "second build (no change)",
            "seconds": second.timings["total_s"],
            "encoded": second.encoded,
            "passages/s": second.passages / second.timings["total_s"],
        },
        {"step": "bare encoder, same passage texts", "seconds": bare_s, "encoded": len(texts), "passages/s": bare_rate},
    ]
    ratios = [
        {
            "figure": "second build / first build (time)",
            "value": second.timings["total_s"] / first.timings["total_s"],
            "target": "< 0.1",
        },
        {
            "figure": "pipeline throughput / bare encoder throughput",
            "value": pipeline_rate / bare_rate,
            "target": ">= 0.87 (at most 15% overhead)",
        },
        {"figure": "passages re-encoded by the second build", "value": second.encoded, "target": "0"},
    ]
    record(
        "index_build",
        sizes={
            "dump": dump,
            "documents": first.documents,
            "passages": first.passages,
            "members": first.members,
            "texts_encoded_first_build": first.encoded,
            "batch_size": batch_size,
        },
        timings={
            "first_build_s": first.timings["total_s"],
            "second_build_s": second.timings["total_s"],
            "bare_encode_s": bare_s,
            "first_build_steps": first.timings,
        },
        quality={
            "second_build_encoded": second.encoded,
            "rebuild_time_ratio": second.timings["total_s"] / first.timings["total_s"],
            "pipeline_vs_bare_throughput": pipeline_rate / bare_rate,
        },
        tables={"Index build (same process, model preloaded)": rows, "Ratios": ratios},
        notes="The first build also encodes member profiles (counted in its time, not in passages/s).",
    )
    for row in rows + ratios:
        print(row)


if __name__ == "__main__":
    app()
