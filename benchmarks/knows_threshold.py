"""Choosing ``knows_threshold`` on the development splits: when is "nobody here is known to know this" right?

    nice -n 5 python -m benchmarks.knows_threshold     # after: expert_finding.py --split dev

Each dev community (history up to the 50% question, built by ``expert_finding.py --split dev``)
is asked its own dev questions (on topic: someone there should have evidence) and dev questions
of communities on other subjects (off topic: drinks = beer, coffee; a blockchain = cardano;
site metas = history-, music-, bicycles-meta). For each threshold: the share of on-topic
questions where some member has evidence, of off-topic ones where nobody has, and of on-topic
questions where an actual answerer has it. The default maximises the mean of the first two
over all six communities (a balanced accuracy); no test question is read.
"""

from __future__ import annotations

import shutil

import numpy as np
import typer

from benchmarks.lib.communities import link_shared_cache
from benchmarks.lib.expert_data import question_cutoff, split_dump
from benchmarks.lib.results import HERE, SHARED_DUMPS, record
from copmatch import Community, ExpertQuery, Settings
from copmatch.embedding.encoder import Embedder

app = typer.Typer(add_completion=False)
FAMILIES = {"beer": 0, "coffee": 0, "cardano": 1, "history-meta": 2, "music-meta": 2, "bicycles-meta": 2}
THRESHOLDS = np.round(np.arange(0.15, 0.61, 0.025), 3)
PER_FOREIGN_DUMP = 30


WORK = HERE / ".work" / "knows_threshold"
#: ``knows`` is topical evidence alone: no ranker needs learning for it.
NO_LEARNING = Settings(learned_min_questions=10**9)


def dev_community(dump: str, embedder: Embedder) -> tuple[Community, list]:
    """The dump's dev history imported and indexed, and its dev questions (50% -> 70% cutoffs)."""
    split = split_dump(SHARED_DUMPS / dump, WORK / dump / "history", 0.5)
    until = question_cutoff(SHARED_DUMPS / dump, 0.7)
    data_dir = WORK / dump / "data"
    link_shared_cache(data_dir)
    for stale in ("copmatch.sqlite", "copmatch.sqlite-wal", "copmatch.sqlite-shm"):
        (data_dir / stale).unlink(missing_ok=True)
    shutil.rmtree(data_dir / "index", ignore_errors=True)
    community = Community(data_dir, NO_LEARNING, embedder=embedder)
    community.import_stackexchange(split.history_dir)
    community.build_index()
    return community, [q for q in split.questions if q.created < until]


def max_and_answerer_knows(community: Community, questions: list, members: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per question: the highest knows of any member, and the highest among its answerers (-1: none)."""
    queries = [ExpertQuery(q.text, candidates=members, id=q.id) for q in questions]
    best, answerer = [], []
    for q, found in zip(questions, community.find_experts_batch(queries)):
        knows = {e.member_id: e.knows for e in found}
        best.append(max(knows.values(), default=0.0))
        answerer.append(max((knows[a] for a in q.answerers if a in knows), default=-1.0))
    return np.array(best), np.array(answerer)


@app.command()
def main() -> None:
    embedder = Embedder(batch_size=Settings().encode_batch_size)
    communities = {d: dev_community(d, embedder) for d in FAMILIES}
    questions = {d: qs for d, (_, qs) in communities.items()}
    rows, per_dump = [], {}
    for dump, family in FAMILIES.items():
        community = communities[dump][0]
        searcher = community.current_searcher()[0]
        members = [str(m) for m in searcher.corpus.member_ids]
        foreign = [q for d, f in FAMILIES.items() if f != family for q in questions[d][:PER_FOREIGN_DUMP]]
        on_best, on_answerer = max_and_answerer_knows(community, questions[dump], members)
        off_best, _ = max_and_answerer_knows(community, foreign, members)
        per_dump[dump] = (on_best, on_answerer[on_answerer >= 0], off_best)
        community.close()
        print(f"{dump}: {len(on_best)} on-topic, {len(off_best)} off-topic", flush=True)
    for threshold in THRESHOLDS:
        row: dict = {"knows_threshold": float(threshold)}
        balanced = []
        for dump, (on_best, answerer, off_best) in per_dump.items():
            someone = float((on_best >= threshold).mean())
            nobody = float((off_best < threshold).mean())
            balanced.append((someone + nobody) / 2)
            row[f"{dump} on: someone / answerer; off: nobody"] = (
                f"{someone:.2f} / {float((answerer >= threshold).mean()):.2f}; {nobody:.2f}"
            )
        row["balanced accuracy (mean of 6)"] = round(float(np.mean(balanced)), 3)
        row["worst community"] = round(float(np.min(balanced)), 3)
        rows.append(row)
    best = max(rows, key=lambda r: r["balanced accuracy (mean of 6)"])
    print(f"best threshold {best['knows_threshold']} (balanced accuracy {best['balanced accuracy (mean of 6)']})")
    record(
        "knows_threshold",
        sizes={"dumps": ",".join(FAMILIES), "split": "dev", "foreign_per_dump": PER_FOREIGN_DUMP},
        timings={},
        quality={"best_threshold": best["knows_threshold"], "balanced_accuracy": best["balanced accuracy (mean of 6)"]},
        tables={"Threshold sweep on the dev splits (on topic: own dev questions; off topic: other subjects')": rows},
        notes=__doc__.split("\n\n")[2].replace("\n", " "),
    )


if __name__ == "__main__":
    app()
