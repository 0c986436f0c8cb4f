"""What a warm expert query costs after retrieval: scoring members, ranking them, reading evidence.

    python -m benchmarks.member_scoring --data-dir DIR [--queries QUERIES.json] [--repeats 5]

``DIR`` is a built data dir, opened read-only through ``Community.open`` (the default: the
million-passage one benchmarks/scale_e2e.py leaves in .work); ``QUERIES.json`` a JSON list of
query texts (default: the ``queries.json`` beside the data dir). Each query is retrieved once;
then, interleaved query by query so machine load hits both alike, ``experts.rank_retrieved``
(the served path: only the members a query touched are scored, the rest come from the
snapshot's baseline) and the full computation it replaced (tests/services/full_ranking.py:
every member's features and score per query) rank it. Both must return the same experts
(ids, order, scores, knows, evidence); the run stops if any query differs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from benchmarks.lib.results import HERE, record
from copmatch import Community
from copmatch.services.experts import ExpertQuery, rank_retrieved, retrieve, score_members
from tests.services.full_ranking import full_features, full_rank_retrieved

app = typer.Typer(add_completion=False)
DEFAULT_DATA = HERE / ".work" / "scale_e2e" / "1000000" / "data"
LIMIT = 10


def percentiles(values: list[float]) -> dict[str, float]:
    return {"p50 ms": float(np.percentile(values, 50)), "p95 ms": float(np.percentile(values, 95))}


@app.command()
def main(
    data_dir: Annotated[Path, typer.Option(help="A built data dir (read only).")] = DEFAULT_DATA,
    queries: Annotated[Path | None, typer.Option(help="JSON list of query texts.")] = None,
    repeats: int = typer.Option(5, help="Timed repeats of every query; each query's best counts."),
) -> None:
    from copmatch.ranking.features import QueryMatch

    texts = json.loads((queries or data_dir.parent / "queries.json").read_text())
    community = Community.open(data_dir)
    settings, opted_out = community.settings, community.store.opted_out()
    searcher, priors = community.current_searcher()
    facts = searcher.member_facts(settings)
    found = [retrieve(searcher, t, v, settings) for t, v in zip(texts, community.encode_query_windows(texts))]
    asked = [ExpertQuery(t, LIMIT) for t in texts]

    def served(i: int) -> list:
        return rank_retrieved(searcher, asked[i], found[i], priors, opted_out, settings)

    def full(i: int) -> list:
        return full_rank_retrieved(searcher, asked[i], found[i], priors, opted_out, settings, searcher.ranker)

    def served_scores(i: int) -> object:
        return score_members(searcher, found[i], priors, settings, searcher.ranker)

    def full_scores(i: int) -> object:
        p = found[i].passages
        match = QueryMatch(p.ids, p.cos, p.bm25, found[i].profile_cos, found[i].profile_bm25)
        scored = full_features(searcher.corpus, match, facts, settings)
        return searcher.ranker.probability(scored.values) if searcher.ranker is not None else scored.default_score

    different = [i for i in range(len(texts)) if [e.to_dict() for e in served(i)] != [e.to_dict() for e in full(i)]]
    if different:
        raise SystemExit(f"The served ranking differs from the full computation on queries {different[:10]}")
    touched = [len(served_scores(i).touched) for i in range(len(texts))]
    steps = {"served": served, "full": full, "served scoring": served_scores, "full scoring": full_scores}
    best = {name: np.full(len(texts), np.inf) for name in steps}
    for _ in range(repeats):
        for i in range(len(texts)):
            for name, step in steps.items():
                tick = time.perf_counter()
                step(i)
                best[name][i] = min(best[name][i], (time.perf_counter() - tick) * 1000)
    figures = {name: percentiles(list(times)) for name, times in best.items()}
    ratios = {q: figures["full"][q] / figures["served"][q] for q in ("p50 ms", "p95 ms")}
    corpus = searcher.corpus
    rows = [{"step": name, **values} for name, values in figures.items()]
    rows += [{"step": "full / served", **ratios}]
    record(
        "member_scoring",
        sizes={
            "passages": corpus.n_passages,
            "documents": corpus.n_docs,
            "members": corpus.n_members,
            "queries": len(texts),
            "repeats": repeats,
            "limit": LIMIT,
            "ranker": "learned" if searcher.ranker is not None else "default formula",
            "members touched per query": {"p50": float(np.median(touched)), "p95": float(np.percentile(touched, 95))},
        },
        timings=figures,
        quality={"experts equal to the full computation": f"{len(texts)}/{len(texts)}"},
        tables={"After retrieval, per query (best of the repeats)": rows},
        notes="served = experts.rank_retrieved (scoring, ranking, evidence of the members a query touched); "
        "full = the same through tests/services/full_ranking.py (every member per query, the code before). "
        "Scoring rows: score_members alone, and the full features with the final score. Interleaved "
        "query by query in one process; timings on a shared machine are noisy, the ratio is the figure.",
    )
    for row in rows:
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
    community.close()


if __name__ == "__main__":
    app()
