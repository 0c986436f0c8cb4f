"""Expert-finding quality on six real StackExchange dumps: copmatch against the two baselines of
issue #12, with an ablation of the learned ranker's features.

    nice -n 5 python -m benchmarks.expert_finding [--dump beer ...] [--split test|dev] [--quick]

The temporal protocol (shared/data/README.md, expert_data.py): the history (posts before the
date of the 70th-percentile question) is imported through the normal StackExchange importer
and indexed by ``Community.build_index``, which learns the community's ranker from that
history (services/training.py) exactly as a user's build does. Each later answered question
(title + body, whole: long ones are read in windows) is asked through
``Community.find_experts_batch`` with its candidates (members with a post in the history,
minus the asker). ``--split dev`` is the first development window (history up to the 50%
question, questions between the 50% and 70% cutoffs, all inside the test split's history);
which rankers a build serves was then chosen over five such windows (expert_dev_learn.py).
Metrics: nDCG@10 (accepted answerer gain 2, other answerers 1), MRR of the accepted
answerer, P@1, Hit@10, with bootstrap 95% intervals and paired differences.

Baselines (exactly those of issue #12): recent activity on the community clock, and hybrid +
recency (reciprocal-rank fusion of BM25 and dense document-centric with it); expert_baselines.py.
The ablation refits the learner without each feature group on the same training questions
(the build's own), and scores the same test questions.
"""

from __future__ import annotations

import time
from typing import Annotated

import numpy as np
import typer

from benchmarks.lib.expert_baselines import Baselines
from benchmarks.lib.expert_metrics import METRICS, per_question, summary
from benchmarks.lib.expert_setup import Prepared, answer_bodies, prepare, rank_ids
from benchmarks.lib.results import HERE, SHARED_DUMPS, record
from benchmarks.lib.stats import paired_difference
from copmatch import Settings
from copmatch.embedding.cache import EmbeddingCache
from copmatch.embedding.encoder import Embedder
from copmatch.ranking.asof import newest_day
from copmatch.ranking.features import FEATURE_GROUPS
from copmatch.ranking.history import PastQuestion, query_cosines, training_set
from copmatch.ranking.learned import learned_features
from copmatch.ranking.scores import member_priors
from copmatch.services.experts import Retrieved, retrieve, score_members
from copmatch.services.training import SnapshotArrays, build_training_set, fit_learner

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "expert_finding"
DUMPS = ["beer", "coffee", "history-meta", "cardano", "music-meta", "bicycles-meta"]
COPMATCH = "copmatch"
DEFAULT_FORMULA = "default formula (no learning)"
RECENT = "recent activity, community clock"
HYBRID = "hybrid + recency"
BASELINES = [RECENT, HYBRID]
SPLITS = {"test": (0.7, None), "dev": (0.5, 0.7)}
TARGET_MEAN_RATIO = 1.15
LABELS = {"ndcg10": "nDCG@10", "mrr": "MRR", "p1": "P@1", "hit10": "Hit@10"}

Systems = dict[str, dict[str, np.ndarray]]


def copmatch_rankings(prepared: Prepared, settings: Settings) -> list[list[str]]:
    """The user's code path: one batch through the Community facade."""
    results = prepared.community.find_experts_batch(prepared.queries(settings))
    return [[e.member_id for e in experts] for experts in results]


def retrieve_all(prepared: Prepared, settings: Settings) -> list[tuple[np.ndarray, Retrieved]]:
    """(candidate rows, retrieval) per question (also read by expert_ceiling.py)."""
    searcher, rows = prepared.searcher, prepared.searcher.member_rows
    out = []
    for query, vector in zip(prepared.queries(settings), prepared.vectors):
        candidate_rows = np.array(sorted(rows[c] for c in query.candidates))
        out.append((candidate_rows, retrieve(searcher, query.text, vector, settings, candidate_rows)))
    return out


def variant_rankings(prepared: Prepared, retrieved: list, settings: Settings, ranker=None) -> list[list[str]]:
    """The scoring function find_experts ranks with, without re-retrieving (default formula unless a ranker)."""
    searcher = prepared.searcher
    priors = member_priors(searcher.corpus, settings)
    ids = searcher.corpus.member_ids
    return [
        rank_ids(score_members(searcher, found, priors, settings, ranker).final, rows, ids) for rows, found in retrieved
    ]


def baseline_rankings(prepared: Prepared) -> dict[str, list[list[str]]]:
    """The two baselines of issue #12 for every question."""
    searcher = prepared.searcher
    base = Baselines(searcher, answer_bodies(prepared.community))
    ids, rows = searcher.corpus.member_ids, searcher.member_rows
    recent = base.recent_clock(0.02)
    out: dict[str, list[list[str]]] = {RECENT: [], HYBRID: []}
    vectors = np.asarray(searcher.passage_vectors)
    combination = prepared.community.settings.query_window_combination
    for question, candidates, windows in zip(prepared.questions, prepared.candidates, prepared.vectors):
        cand = np.array(sorted(rows[c] for c in candidates))
        bm25 = base.bm25_documents(question.text, 100)
        dense = base.dense_documents_from(query_cosines(windows, vectors, combination), 100)
        out[RECENT].append(rank_ids(recent, cand, ids))
        out[HYBRID].append(rank_ids(base.hybrid_recency(bm25, dense, recent, cand), cand, ids))
    return out


def ablation(prepared: Prepared, embedder: Embedder, settings: Settings) -> dict[str, list[list[str]]]:
    """Learner refitted as a build fits it (its features, bounded rows), and without each of those
    feature groups, on the build's own training questions."""
    community, searcher = prepared.community, prepared.searcher
    corpus = searcher.corpus
    arrays = SnapshotArrays(
        corpus, searcher.passage_vectors, searcher.sparse, searcher.profile_vectors, searcher.profile_sparse
    )
    cache = EmbeddingCache(community.cache_path, embedder.cache_key)
    try:
        train = build_training_set(arrays, list(community.store.documents()), embedder, cache, settings)
    finally:
        cache.close()
    rows, now = searcher.member_rows, newest_day(corpus)
    asked = [
        PastQuestion(
            -1, now, rows.get(q.asker, -1) if q.asker else -1, tuple(sorted(rows[a] for a in truth.answerers)), -1
        )
        for q, truth in zip(prepared.questions, prepared.truths)
    ]
    test = training_set(
        corpus,
        asked,
        [q.text for q in prepared.questions],
        prepared.vectors,
        searcher.passage_vectors,
        searcher.sparse,
        searcher.profile_vectors,
        searcher.profile_sparse,
        settings,
    )
    ids = corpus.member_ids
    out: dict[str, list[list[str]]] = {}
    used = learned_features(settings)
    variants = {"learned, all features (refit here)": used}
    variants |= {
        f"without {g}": tuple(f for f in used if f not in names)
        for g, names in FEATURE_GROUPS.items()
        if set(names) & set(used)
    }
    for name, features in variants.items():
        if train.n_questions < settings.learned_min_questions:
            break
        raw = fit_learner(train, settings, features).raw(test.features.astype(np.float64))
        scores = np.zeros((test.n_questions, corpus.n_members))
        scores[test.group, test.members] = raw
        out[name] = [
            rank_ids(scores[i], np.unique(test.members[test.group == i]), ids) for i in range(test.n_questions)
        ]
    return out


def evaluate_dump(prepared: Prepared, embedder: Embedder, with_ablation: bool, timings: dict) -> Systems:
    settings = prepared.community.settings
    tick = time.perf_counter()
    ours = copmatch_rankings(prepared, settings)
    timings["copmatch_queries_s"] = time.perf_counter() - tick
    systems: Systems = {COPMATCH: per_question(ours, prepared.truths)}
    retrieved = retrieve_all(prepared, settings)
    # The fast path must rank exactly as the user's path does: check it on the served ranker.
    same = sum(a == b for a, b in zip(variant_rankings(prepared, retrieved, settings, prepared.searcher.ranker), ours))
    if same != len(ours):
        raise SystemExit(f"score_members and find_experts_batch disagree on {len(ours) - same} of {len(ours)} queries")
    systems[DEFAULT_FORMULA] = per_question(variant_rankings(prepared, retrieved, settings), prepared.truths)
    tick = time.perf_counter()
    systems.update({n: per_question(r, prepared.truths) for n, r in baseline_rankings(prepared).items()})
    timings["baselines_s"] = time.perf_counter() - tick
    if with_ablation:
        tick = time.perf_counter()
        systems.update({n: per_question(r, prepared.truths) for n, r in ablation(prepared, embedder, settings).items()})
        timings["ablation_s"] = time.perf_counter() - tick
    return systems


def best_baseline(systems: Systems, metric: str) -> str:
    return max(BASELINES, key=lambda name: np.nanmean(systems[name][metric]))


def acceptance_rows(runs: dict[str, Systems], n_boot: int) -> list[dict]:
    rows = []
    for dump, systems in runs.items():
        ours = systems[COPMATCH]
        for metric in METRICS:
            rival = best_baseline(systems, metric)
            theirs = summary(systems[rival], n_boot)
            mine = float(np.nanmean(ours[metric]))
            diff, low, high = paired_difference(ours[metric], systems[rival][metric], n_boot)
            ratio = mine / theirs[metric] if theirs[metric] else float("inf")
            if metric == "ndcg10":
                verdict = "pass" if ratio >= 1.0 else "FAIL (below 1.0x)"
            elif metric in ("mrr", "p1"):
                verdict = "pass" if high >= 0 else "FAIL (significantly worse)"
            else:
                verdict = "(reported)"
            rows.append(
                {
                    "dump": dump,
                    "metric": LABELS[metric],
                    "copmatch": round(mine, 3),
                    "best baseline": rival,
                    "baseline [95% CI]": _ci(theirs, metric),
                    "ratio": round(ratio, 3),
                    "paired diff [95% CI]": f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]",
                    "verdict": verdict,
                }
            )
    ratios = [r["ratio"] for r in rows if r["metric"] == "nDCG@10"]
    mean_ratio = float(np.mean(ratios)) if ratios else float("nan")
    rows.append(
        {
            "dump": "mean over dumps",
            "metric": "nDCG@10",
            "ratio": round(mean_ratio, 3),
            "verdict": "pass" if mean_ratio >= TARGET_MEAN_RATIO else f"FAIL (< {TARGET_MEAN_RATIO}x)",
        }
    )
    return rows


def _ci(s: dict, metric: str) -> str:
    return f"{s[metric]:.3f} [{s[metric + '_lo']:.3f}, {s[metric + '_hi']:.3f}]"


def system_rows(systems: Systems, n_boot: int) -> list[dict]:
    rows = []
    for name, values in systems.items():
        s = summary(values, n_boot)
        rows.append(
            {
                "system": name,
                "nDCG@10 [95% CI]": _ci(s, "ndcg10"),
                "MRR [95% CI]": _ci(s, "mrr"),
                "P@1 [95% CI]": _ci(s, "p1"),
                "Hit@10 [95% CI]": _ci(s, "hit10"),
                "n (MRR)": s["mrr_n"],
                "n": s["ndcg10_n"],
            }
        )
    return rows


def ablation_rows(runs: dict[str, Systems]) -> list[dict]:
    names = [n for n in next(iter(runs.values())) if n.startswith(("learned, all", "without "))]
    rows = []
    for name in names:
        row: dict = {"variant": name}
        for dump, systems in runs.items():
            if name in systems:
                full = np.nanmean(systems["learned, all features (refit here)"]["ndcg10"])
                value = np.nanmean(systems[name]["ndcg10"])
                row[dump] = f"{value:.3f} ({value - full:+.3f})"
        rows.append(row)
    return rows


def ranker_rows(reports: dict[str, dict]) -> list[dict]:
    rows = []
    for dump, report in reports.items():
        valid = report.get("validation_ndcg10", {})
        rows.append(
            {
                "dump": dump,
                "serving": report.get("serving"),
                "training questions": report.get("questions"),
                "held-out latest": report.get("validation_questions"),
                **{f"held-out nDCG@10 {name}": value for name, value in valid.items()},
                "fit rows": report.get("fit_rows"),
                "learning s": report.get("build_s"),
                "why": report.get("why"),
            }
        )
    return rows


@app.command()
def main(
    dump: Annotated[list[str] | None, typer.Option(help="Dump under shared/data/stackexchange (repeatable).")] = None,
    split: str = typer.Option("test", help="test (70% history, later questions) or dev (50% -> 70%)."),
    quick: bool = typer.Option(False, help="First 40 questions per dump, no ablation (a smoke run)."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples for the 95% intervals."),
) -> None:
    started = time.perf_counter()
    dumps = dump or DUMPS
    share, until = SPLITS[split]
    settings = Settings()
    embedder = Embedder(batch_size=settings.encode_batch_size)
    runs: dict[str, Systems] = {}
    sizes: dict[str, dict] = {}
    timings: dict[str, dict] = {}
    reports: dict[str, dict] = {}
    for name in dumps:
        tick = time.perf_counter()
        prepared = prepare(
            SHARED_DUMPS / name, WORK / f"{name}@{split}", embedder, settings, share, 40 if quick else None, until
        )
        runs[name] = evaluate_dump(prepared, embedder, not quick, prepared.timings)
        corpus = prepared.searcher.corpus
        reports[name] = prepared.searcher.manifest.get("ranker", {})
        sizes[name] = {
            "cutoff": prepared.split.cutoff,
            "history_posts": prepared.split.history_posts,
            "members": corpus.n_members,
            "passages": corpus.n_passages,
            "questions": len(prepared.questions),
            "dropped_no_candidate_answerer": prepared.dropped,
            "longest_question_chars": max((len(q.text) for q in prepared.questions), default=0),
        }
        timings[name] = {**prepared.timings, "total_s": time.perf_counter() - tick}
        prepared.community.close()
        for row in system_rows(runs[name], n_boot):
            print(f"{name:14s} {row['system']:42s} nDCG@10 {row['nDCG@10 [95% CI]']}  MRR {row['MRR [95% CI]']}")
    tables = {"Acceptance: copmatch against the best of the two baselines": acceptance_rows(runs, n_boot)}
    tables["The ranker each build chose (its own held-out latest questions)"] = ranker_rows(reports)
    for name, systems in runs.items():
        tables[f"Systems on {name}"] = system_rows(systems, n_boot)
    if not quick:
        tables["Ablation: nDCG@10 of the learner refitted without each feature group (change)"] = ablation_rows(runs)
    total_s = time.perf_counter() - started
    tables["Timings (s)"] = [{"dump": d, **{k: round(v, 2) for k, v in t.items()}} for d, t in timings.items()]
    quality = {
        d: {
            "copmatch": summary(s[COPMATCH], n_boot),
            "best_baseline_ndcg10": best_baseline(s, "ndcg10"),
            "ndcg10_ratio": float(
                np.nanmean(s[COPMATCH]["ndcg10"]) / np.nanmean(s[best_baseline(s, "ndcg10")]["ndcg10"])
            ),
        }
        for d, s in runs.items()
    }
    record(
        "expert_finding" if split == "test" else "expert_finding_dev",
        sizes={"dumps": ",".join(dumps), "split": split, "quick": quick, "per_dump": sizes},
        timings={"total_s": total_s, "per_dump": timings},
        quality=quality,
        tables=tables,
        notes=NOTES,
    )
    print(f"mean nDCG@10 ratio {np.mean([q['ndcg10_ratio'] for q in quality.values()]):.3f}; total {total_s:.0f} s")


NOTES = (
    "Temporal protocol of shared/data/README.md. test: history = posts before the 70th-percentile question "
    "date, questions = later questions with an answer; dev: history before the 50% question, questions "
    "between the 50% and 70% cutoffs (inside the test history). Candidates = members with a history post, "
    "minus the asker. Baselines: exactly the two of issue #12, fixed in advance (no tuning); 'best' is the "
    "better of the two per dump and metric, after the fact. Every copmatch default (features, learner, "
    "its regularisation, training horizon, minimum history, query windows, knows threshold) was chosen on "
    "the dev split of all six dumps (benchmarks/expert_dev_fit.py; the learner, its bounded training rows, "
    "the feature groups it leaves out, which rankers a build may serve and the noise-aware switching rule: "
    "benchmarks/expert_dev_learn.py, which runs the build's own learn_ranker per variant, over five "
    "development windows inside the 70% history: 0.3-0.5, 0.4-0.6, 0.5-0.7, 0.3-0.6, 0.4-0.7; the single "
    "0.5-0.7 window first used did not carry over; the activity prior, answers clock x share clock: "
    "benchmarks/expert_dev_prior.py over the same windows, by the acceptance's own shape, the best "
    "worst-window min(mean / 1.15, min)), never on the test questions (the test split has been run after "
    "each such choice, to report it; its per-dump figures were read to diagnose, never to choose). The "
    "learned ranker is fitted inside Community.build_index on the history only; the benchmark checks that "
    "its own scoring path ranks exactly as find_experts_batch does. Embeddings come from the shared cache."
)


if __name__ == "__main__":
    app()
