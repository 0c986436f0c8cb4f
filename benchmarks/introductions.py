"""Do suggested introductions predict who actually meets? Precision@K on a temporal split.

    python -m benchmarks.introductions [--dump beer ...] [--history-share 0.7 ...]

For each StackExchange dump and history share: import only the history, with the
expert-finding benchmark's temporal split (expert_data.split_dump: the posts before the
date of the question at that share of all questions, through the normal importer), build
the index, infer silos from the history's interaction graph, and suggest introductions
through the library. A suggested pair is a hit when, after the cutoff, one of the two
answered a question of the other. Every method draws from the same pool: members with a
post in the history, in different silos, who never interacted before the cutoff.

Baselines in the same run: random pairs (mean of seeded draws, and the exact expectation)
and pairs of the most active members (history posts, busiest pairs first). An ablation,
"recently active members", ranks by the same recency-weighted activity copmatch uses but
without topics, to show what the topic match adds. With several history shares (rolling
origins), a pooled table sums the hits over them: one cutoff has only 12-24 target pairs
per dump, so single-cutoff precision moves in steps of one hit.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from dataclasses import asdict
from typing import Annotated

import numpy as np
import typer

from benchmarks.lib.expert_data import split_dump
from benchmarks.lib.results import HERE, SHARED_DUMPS, record
from copmatch import Community, Settings
from copmatch.embedding.encoder import Embedder
from copmatch.ingest.stackexchange import read_dump
from copmatch.services.brokering.suggest import candidate_pairs
from copmatch.services.graph import ANSWERED, interactions, load_graph, pair

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "introductions"
DUMPS = ["beer", "coffee", "history-meta"]
KS = [10, 50, 100]
COPMATCH = "copmatch"


def future_pairs(dump: str, cutoff: str, members: set[str]) -> set[tuple[str, str]]:
    """Pairs of history members where one answered the other's question after the cutoff."""
    batch = read_dump(SHARED_DUMPS / dump)
    later = {d.id for d in batch.documents if d.kind == "answer" and (d.created_at or "") >= cutoff}
    docs = [{"id": d.id, "kind": d.kind, "parent_id": d.parent_id} for d in batch.documents]
    rows = [(c.member_id, c.document_id, c.role) for c in batch.contributions]
    return {
        (i.a, i.b)
        for i in interactions(docs, rows)
        if i.kind == ANSWERED and i.document_id in later and i.a in members and i.b in members
    }


class Pool:
    """Eligible pairs: different silos (an unknown silo differs from all), never met."""

    def __init__(self, members: list[str], silo_of: dict[str, str | None], met: frozenset) -> None:
        self.members, self.silo_of, self.met = members, silo_of, met

    def cross_silo(self, a: str, b: str) -> bool:
        sa, sb = self.silo_of.get(a), self.silo_of.get(b)
        return sa is None or sb is None or sa != sb

    def eligible(self, a: str, b: str) -> bool:
        return a != b and self.cross_silo(a, b) and pair(a, b) not in self.met

    def size(self) -> int:
        """Eligible pairs, counted from silo sizes (no all-pairs loop)."""
        sizes = Counter(self.silo_of.get(m) for m in self.members)
        same = sum(c * (c - 1) // 2 for s, c in sizes.items() if s is not None)
        inside = set(self.members)
        met_cross = sum(1 for a, b in self.met if a in inside and b in inside and self.cross_silo(a, b))
        n = len(self.members)
        return n * (n - 1) // 2 - same - met_cross

    def random_pairs(self, k: int, rng: np.random.Generator) -> list[tuple[str, str]]:
        chosen: set[tuple[str, str]] = set()
        while len(chosen) < min(k, self.size()):
            a, b = rng.choice(len(self.members), 2, replace=False)
            if self.eligible(self.members[a], self.members[b]):
                chosen.add(pair(self.members[a], self.members[b]))
        return list(chosen)

    def busiest_pairs(self, activity: dict[str, float], k: int) -> list[tuple[str, str]]:
        """Eligible pairs by the product of the two members' activity, highest first."""
        top = sorted((m for m in self.members if activity.get(m, 0) > 0), key=lambda m: (-activity[m], m))[:300]
        candidates = [(activity[a] * activity[b], pair(a, b)) for i, a in enumerate(top) for b in top[i + 1 :]]
        ranked = sorted(candidates, key=lambda c: (-c[0], c[1]))
        return [p for _, p in ranked if self.eligible(*p)][:k]


def run_split(dump: str, share: float, settings: Settings, embedder: Embedder, k_max: int, draws: int) -> dict:
    started = time.perf_counter()
    work = WORK / f"{dump}-{share}"
    shutil.rmtree(work, ignore_errors=True)
    split = split_dump(SHARED_DUMPS / dump, work / "history", share)
    community = Community(work / "data", settings, embedder=embedder)
    community.cache_path = WORK / "cache" / "embeddings.sqlite"  # shared by dumps and runs
    community.import_stackexchange(split.history_dir)
    build = community.build_index()
    silos = community.infer_silos()
    posts = Counter(member for member, _, _ in community.store.contributions())
    members = sorted(posts)  # Users.xml also lists members who never posted: not in the pool
    pool = Pool(members, {m["id"]: m["silo"] for m in community.store.members()}, load_graph(community.store).met)
    truth = {p for p in future_pairs(dump, split.cutoff, set(members)) if pool.eligible(*p)}

    tick = time.perf_counter()
    searcher, _ = community.current_searcher()
    pairs, topics = candidate_pairs(community.store, searcher, settings)
    ids = searcher.corpus.member_ids
    order = np.argsort(-pairs.score, kind="stable")[:k_max]
    uncapped = [pair(str(ids[pairs.a[i]]), str(ids[pairs.b[i]])) for i in order]
    suggested = [pair(i.member_a, i.member_b) for i in community.suggest_introductions(limit=k_max)]
    suggest_s = time.perf_counter() - tick
    recent = dict(zip(ids.tolist(), (topics.asking + topics.offering).tolist()))

    rng = np.random.default_rng(0)
    random_runs = [pool.random_pairs(k_max, rng) for _ in range(draws)]
    ranked = {
        f"{COPMATCH} (cap {settings.intro_per_member}/member)": [suggested],
        f"{COPMATCH}, no cap": [uncapped],
        "most active members": [pool.busiest_pairs(dict(posts), k_max)],
        "recently active members (ablation: no topics)": [pool.busiest_pairs(recent, k_max)],
        f"random across silos (mean of {draws})": random_runs,
    }
    hits = {name: [[sum(p in truth for p in run[:k]) for run in runs] for k in range(1, k_max + 1)]
            for name, runs in ranked.items()}  # fmt: skip
    return {
        "dump": dump,
        "share": share,
        "hits": {name: [float(np.mean(h)) for h in by_k] for name, by_k in hits.items()},
        "expected_precision": len(truth) / max(pool.size(), 1),
        "sizes": {
            "cutoff": split.cutoff,
            "history_posts": split.history_posts,
            "pool_members": len(members),
            "silos": len(silos.silos),
            "target_pairs": len(truth),
            "eligible_pairs": pool.size(),
        },
        "timings": {
            "total_s": round(time.perf_counter() - started, 2),
            "build_s": round(build.timings["total_s"], 2),
            "suggest_s": round(suggest_s, 3),
        },  # fmt: skip
    }


def precision_rows(runs: list[dict], ks: list[int], label: str) -> list[dict]:
    """One row per method: precision@K over the given runs (hits summed, divided by K x runs)."""
    rows = []
    for name in runs[0]["hits"]:
        row = {"dump": label, "method": name}
        for k in ks:
            hits = sum(run["hits"][name][k - 1] for run in runs)
            row[f"P@{k}"] = round(hits / (k * len(runs)), 4)
            row[f"hits@{k}"] = round(hits, 2)
        rows.append(row)
    expected = float(np.mean([run["expected_precision"] for run in runs]))
    rows.append({"dump": label, "method": "random, exact expectation", **{f"P@{k}": round(expected, 5) for k in ks}})
    return rows


def beats_baselines(rows: list[dict], k: int = 50) -> bool:
    ours = next(r for r in rows if r["method"].startswith(f"{COPMATCH} (cap"))
    baselines = [r for r in rows if r["method"].startswith(("most active", "random"))]
    return all(ours[f"P@{k}"] > r[f"P@{k}"] for r in baselines)


@app.command()
def main(
    dump: Annotated[list[str] | None, typer.Option(help="Dump under shared/data (repeatable; default all).")] = None,
    history_share: Annotated[
        list[float] | None, typer.Option(help="History share (repeatable; default 0.7, the protocol).")
    ] = None,
    k: Annotated[list[int] | None, typer.Option(help="Cut-off for precision@K (repeatable).")] = None,
    draws: int = typer.Option(200, help="Random-baseline draws averaged."),
    save: bool = typer.Option(True, "--record/--no-record", help="Append the run to results.jsonl."),
) -> None:
    dumps, shares, ks = dump or DUMPS, history_share or [0.7], sorted(k or KS)
    settings = Settings()
    embedder = Embedder(batch_size=settings.encode_batch_size)
    runs = [run_split(d, s, settings, embedder, max(ks), draws) for s in shares for d in dumps]
    tables: dict[str, list[dict]] = {}
    wins: dict[str, bool] = {}
    for share in shares:
        rows = []
        for d in dumps:
            dump_rows = precision_rows([r for r in runs if r["dump"] == d and r["share"] == share], ks, d)
            wins[f"{d} @ {share}"] = beats_baselines(dump_rows) if 50 in ks else False
            rows += dump_rows
        tables[f"precision@K, history share {share}"] = rows
    if len(shares) > 1:
        pooled = []
        for d in dumps:
            dump_rows = precision_rows([r for r in runs if r["dump"] == d], ks, f"{d} (pooled)")
            wins[f"{d} pooled"] = beats_baselines(dump_rows) if 50 in ks else False
            pooled += dump_rows
        tables[f"precision@K pooled over history shares {', '.join(map(str, shares))}"] = pooled
    tables["splits"] = [{"dump": r["dump"], "share": r["share"], **r["sizes"], **r["timings"]} for r in runs]
    for title, rows in tables.items():
        print(f"\n{title}")
        for row in rows:
            print("  ", row)
    print("\nbeats both baselines at P@50:", wins)
    if not save:
        return
    intro_settings = {k: v for k, v in asdict(settings).items() if k.startswith(("intro_", "silo_"))}
    record(
        "introductions",
        sizes={
            "dumps": ", ".join(dumps),
            "history_shares": ", ".join(map(str, shares)),
            "target_pairs": sum(r["sizes"]["target_pairs"] for r in runs),
        },  # fmt: skip
        timings={f"{r['dump']}@{r['share']}": r["timings"] for r in runs},
        quality={"beats_both_baselines_at_p50": wins, "tables": tables},
        tables=tables,
        notes="Hit: one member of the pair answered a question of the other after the cutoff. Pool for every "
        "method: history members in different (inferred) silos who never interacted before the cutoff. "
        f"Settings: {intro_settings}.",
    )


if __name__ == "__main__":
    app()
