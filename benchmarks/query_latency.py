"""Warm query latency of the library call, split into its steps, next to the physical limit.

    python -m benchmarks.query_latency [--community sample --community beer] [--repeats 30]

For each community (the shipped sample, or a development dump) the index is built once with
the ONNX fp32 encoder (the embedding cache is kept between runs). Then, for every query and
repeat, in one process and interleaved so that machine load hits every figure alike:

- end to end: ``Community.find_experts(text, limit=10)``, what the CLI and API call;
- encode: ``Community.encode_queries``; search: ``experts.retrieve`` (FAISS + BM25 + exact
  cosines of the candidates, profile scores); aggregate: ``experts.score_members``; evidence:
  the rest of ``experts.rank_experts`` (snippets, roles);
- bare encoder: the tokenizer and the ONNX session on the query, nothing else; bare FAISS:
  ``index.search`` for the same vector and ``dense_top_k``; bare exact scan: numpy's product
  of the vector with every passage vector and the top ``dense_top_k`` of it (exact search as
  the library now does it for small snapshots). The bare encoder plus the faster of the two
  searches is the physical limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import numpy as np
import typer

from benchmarks.lib.communities import open_built
from benchmarks.lib.results import HERE, record
from copmatch import Community
from copmatch.sample import questions
from copmatch.services.experts import ExpertQuery, rank_experts, retrieve, score_members

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "query_latency"
LIMIT = 10


def queries_for(name: str, community: Community, n: int) -> list[str]:
    if name == "sample":
        return [q["text"] for q in questions()][:n]
    titles = [d["title"] for d in community.store.documents() if d["kind"] == "question" and d["title"]]
    return titles[:: max(1, len(titles) // n)][:n]


def timed(fn: Callable[[], object]) -> float:
    tick = time.perf_counter()
    fn()
    return (time.perf_counter() - tick) * 1000


def measure(community: Community, texts: list[str], repeats: int) -> dict[str, list[float]]:
    settings = community.settings
    searcher, priors = community.current_searcher()
    encoder = community.serving.current().encoder
    session, tokenizer = encoder._load()
    opted_out = community.store.opted_out()
    samples: dict[str, list[float]] = {
        k: []
        for k in (
            "end to end",
            "encode",
            "search",
            "aggregate",
            "rank_experts",
            "bare encoder",
            "bare FAISS",
            "bare exact scan",
        )
    }

    def bare_encode(text: str) -> None:
        enc = tokenizer.encode(text)
        ids = np.array([enc.ids], dtype=np.int64)
        session.run(
            None,
            {
                "input_ids": ids,
                "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
                "token_type_ids": np.zeros_like(ids),
            },
        )

    vectors = np.asarray(searcher.passage_vectors)
    k = min(settings.dense_top_k, len(vectors) - 1)

    def bare_scan(vector: np.ndarray) -> np.ndarray:
        return np.argpartition(-(vectors @ vector), k)[:k]

    def steps_for(text: str, vector: np.ndarray) -> dict[str, Callable[[], object]]:
        query = ExpertQuery(text, LIMIT)
        retrieved = retrieve(searcher, text, vector, settings)
        return {
            "end to end": lambda: community.find_experts(text, limit=LIMIT),
            "encode": lambda: community.encode_queries([text]),
            "search": lambda: retrieve(searcher, text, vector, settings),
            "aggregate": lambda: score_members(searcher, retrieved, priors, settings),
            "rank_experts": lambda: rank_experts(searcher, query, vector, priors, opted_out, settings),
            "bare encoder": lambda: bare_encode(text),
            "bare FAISS": lambda: searcher.dense.search(vector[None, :], settings.dense_top_k),
            "bare exact scan": lambda: bare_scan(vector),
        }

    steps = [steps_for(text, community.encode_queries([text])[0]) for text in texts]
    for per_query in steps:  # warm every query's path once
        per_query["end to end"]()
    for _ in range(repeats):
        for per_query in steps:
            for name, fn in per_query.items():
                samples[name].append(timed(fn))
    return samples


def summarise(name: str, community: Community, samples: dict[str, list[float]]) -> tuple[list[dict], dict]:
    p50 = {k: float(np.median(v)) for k, v in samples.items()}
    p95 = {k: float(np.percentile(v, 95)) for k, v in samples.items()}
    derived = {
        "evidence (rank_experts - search - aggregate)": p50["rank_experts"] - p50["search"] - p50["aggregate"],
        "facade (end to end - encode - rank_experts)": p50["end to end"] - p50["encode"] - p50["rank_experts"],
    }
    rows = [{"community": name, "step": k, "p50 ms": p50[k], "p95 ms": p95[k]} for k in samples]
    rows += [{"community": name, "step": k, "p50 ms": v, "p95 ms": ""} for k, v in derived.items()]
    limit = p50["bare encoder"] + min(p50["bare FAISS"], p50["bare exact scan"])
    passages = community.current_searcher()[0].corpus.n_passages
    summary = {
        "community": name,
        "passages": passages,
        "end to end p50 ms": p50["end to end"],
        "end to end p95 ms": p95["end to end"],
        "bare encoder + faster bare search p50 ms": limit,
        "ratio (target <= 1.3)": p50["end to end"] / limit,
    }
    return rows, summary


@app.command()
def main(
    community: Annotated[
        list[str] | None, typer.Option(help="sample, or a dump under shared/data/stackexchange (repeatable).")
    ] = None,
    queries: int = typer.Option(16, help="Distinct queries per community."),
    repeats: int = typer.Option(30, help="Timed repeats of every query."),
) -> None:
    community = community or ["sample", "beer"]
    rows, summaries, timings = [], [], {}
    for name in community:
        built = open_built(WORK / name, name)
        texts = queries_for(name, built, queries)
        samples = measure(built, texts, repeats)
        step_rows, summary = summarise(name, built, samples)
        rows += step_rows
        summaries.append(summary)
        timings[name] = {k: float(np.median(v)) for k, v in samples.items()}
        built.close()
    record(
        "query_latency",
        sizes={
            "communities": community,
            "queries": queries,
            "repeats": repeats,
            "limit": LIMIT,
            "passages": {s["community"]: s["passages"] for s in summaries},
        },
        timings=timings,
        quality={s["community"]: s["ratio (target <= 1.3)"] for s in summaries},
        tables={"Warm query vs the physical limit": summaries, "Steps (ms)": rows},
        notes="Encoder: ONNX fp32, one query per call, FAISS single-threaded for single queries "
        "(as the library searches). Each step is timed on its own call, interleaved with the others. "
        "The physical limit is the bare encoder plus the faster of bare FAISS and a bare numpy exact scan.",
    )
    for row in summaries:
        print(row)


if __name__ == "__main__":
    app()
