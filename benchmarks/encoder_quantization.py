"""fp32 vs int8 ONNX encoders: build throughput, and how far int8 moves the expert rankings.

    python -m benchmarks.encoder_quantization [--dump beer --dump coffee --dump history-meta]

Exports the bundled model (fp32 + int8) into benchmarks/.work/encoder_quantization/models
once. Throughput: the passages of the first dump's history are encoded by each encoder in
the same process, empty-handed (no cache), one after the other; sentence-transformers
(torch) is timed on the same texts for reference. Rankings: each dump goes through the
expert-finding protocol of benchmarks/expert_finding.py (temporal split, later questions
asked with their candidates, expert_setup.prepare) once per encoder, index and queries
both encoded by it; the two rankings of every question are compared (top-1 agreement,
overlap of the top 10, score shift) and scored (MRR, P@1, nDCG@10 with a paired
bootstrap interval of the int8 - fp32 difference). Embedding caches are kept per encoder.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from benchmarks.lib.expert_metrics import per_question
from benchmarks.lib.expert_setup import Prepared, prepare
from benchmarks.lib.results import HERE, SHARED_DUMPS, record
from benchmarks.lib.stats import paired_difference
from copmatch import Settings
from copmatch.embedding.encoder import Embedder
from copmatch.embedding.export import export_model
from copmatch.embedding.exports import MODELS_DIR, ExportedModel, exports

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "encoder_quantization"
VARIANTS = ("fp32", "int8")
METRICS = ("mrr", "p1", "ndcg10")


def exported(settings: Settings) -> ExportedModel:
    export = next((e for e in exports(WORK, settings.model_id) if "int8" in e.variants), None)
    return export or export_model(WORK / MODELS_DIR, int8=True, model_id=settings.model_id)


def rankings(prepared: Prepared, settings: Settings) -> tuple[list[list[str]], list[dict[str, float]]]:
    found = prepared.community.find_experts_batch(prepared.queries(settings))
    return [[e.member_id for e in experts] for experts in found], [{e.member_id: e.score for e in ex} for ex in found]


def throughput(texts: list[str], encoders: dict[str, object], batch_size: int, slices: int = 8) -> list[dict]:
    """Passages/s of each encoder on the same texts; slices alternate between encoders so that
    machine load hits them alike."""
    seconds = dict.fromkeys(encoders, 0.0)
    for encoder in encoders.values():
        encoder.encode(texts[:batch_size])  # load the model outside the timing
    bounds = np.linspace(0, len(texts), slices + 1).astype(int)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        for name, encoder in encoders.items():
            tick = time.perf_counter()
            encoder.encode(texts[start:stop], batch_size=batch_size)
            seconds[name] += time.perf_counter() - tick
    base = len(texts) / seconds["ONNX fp32"]
    return [
        {
            "encoder": name,
            "passages": len(texts),
            "seconds": s,
            "passages/s": len(texts) / s,
            "vs ONNX fp32": len(texts) / s / base,
        }
        for name, s in seconds.items()
    ]


def compare(dump: str, fp32: tuple, int8: tuple, truths: list) -> tuple[dict, list[dict]]:
    (rank_a, score_a), (rank_b, score_b) = fp32, int8
    top1 = np.mean([a[:1] == b[:1] for a, b in zip(rank_a, rank_b)])
    overlap = np.mean([len(set(a[:10]) & set(b[:10])) / max(1, min(10, len(a))) for a, b in zip(rank_a, rank_b)])
    shift = np.concatenate([[abs(sa[m] - sb[m]) for m in sa] for sa, sb in zip(score_a, score_b)])
    agreement = {
        "dump": dump,
        "questions": len(rank_a),
        "top-1 agreement": float(top1),
        "top-10 overlap": float(overlap),
        "mean |score shift|": float(shift.mean()),
        "p95 |score shift|": float(np.percentile(shift, 95)),
    }
    values = {name: per_question(r, truths) for name, r in (("fp32", rank_a), ("int8", rank_b))}
    quality = []
    for metric in METRICS:
        a, b = values["fp32"][metric], values["int8"][metric]
        keep = ~(np.isnan(a) | np.isnan(b))
        _, low, high = paired_difference(b[keep], a[keep])
        quality.append(
            {
                "dump": dump,
                "metric": metric,
                "fp32": float(a[keep].mean()),
                "int8": float(b[keep].mean()),
                "int8 - fp32": float((b[keep] - a[keep]).mean()),
                "95% CI": f"[{low:+.4f}, {high:+.4f}]",
                "n": int(keep.sum()),
            }
        )
    return agreement, quality


@app.command()
def main(
    dump: Annotated[list[str] | None, typer.Option(help="Dumps under shared/data/stackexchange (repeatable).")] = None,
    history_share: Annotated[float, typer.Option(help="Share of questions (by date) in the history.")] = 0.7,
    torch: Annotated[bool, typer.Option(help="Also time sentence-transformers (torch) for reference.")] = True,
) -> None:
    dumps = dump or ["beer", "coffee", "history-meta"]
    settings = Settings()
    export = exported(settings)
    encoders = {v: export.encoder(v, settings.encode_batch_size) for v in VARIANTS}
    agreements, quality, speed, timings = [], [], [], {}
    for name in dumps:
        results, truths = {}, []
        for variant, encoder in encoders.items():
            work = WORK / name / variant
            _seed_cache(work, name, variant)
            tick = time.perf_counter()
            prepared = prepare(SHARED_DUMPS / name, work, encoder, settings, history_share, None)
            results[variant] = rankings(prepared, settings)
            timings[f"{name}/{variant}"] = {"prepare_and_rank_s": time.perf_counter() - tick, **prepared.timings}
            truths = prepared.truths
            prepared.community.close()
        if not speed:
            timed = {"ONNX fp32": encoders["fp32"], "ONNX int8": encoders["int8"]}
            if torch:
                timed["sentence-transformers (torch)"] = Embedder(batch_size=settings.encode_batch_size)
            texts = _passages(WORK / name / "fp32")
            speed = [{"dump": name, **row} for row in throughput(texts, timed, settings.encode_batch_size)]
        agreement, rows = compare(name, results["fp32"], results["int8"], truths)
        agreements.append(agreement)
        quality += rows
        print(agreement)
    record(
        "encoder_quantization",
        sizes={"dumps": dumps, "history_share": history_share, "throughput_passages": speed[0]["passages"]},
        timings=timings,
        quality={f"{r['dump']}/{r['metric']}": r["int8 - fp32"] for r in quality},
        tables={
            "Build throughput (same texts, same process, no cache)": speed,
            "Ranking agreement, int8 vs fp32": agreements,
            "Expert-finding quality": quality,
        },
        notes="int8: onnxruntime dynamic quantization, per-channel QInt8 weights. Queries and index of each run are "
        "encoded by the same encoder. Protocol and metrics: benchmarks/expert_finding.py.",
    )
    for row in speed + quality:
        print(row)


def _passages(work: Path) -> list[str]:
    db = sqlite3.connect(work / "data" / "copmatch.sqlite")
    try:
        return [row[0] for row in db.execute("SELECT text FROM passages ORDER BY rowid")]
    finally:
        db.close()


def _seed_cache(work: Path, dump: str, variant: str) -> None:
    """Start fp32 from the expert-finding benchmark's cache (same vectors), if it has one."""
    target = work / "data" / "cache" / "embeddings.sqlite"
    source = HERE / ".work" / "expert_finding" / dump / "data" / "cache" / "embeddings.sqlite"
    if variant == "fp32" and not target.is_file() and source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)


if __name__ == "__main__":
    app()
