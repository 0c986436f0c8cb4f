"""One dump, ready to evaluate: the history imported and indexed through the user's code path,
the judged test questions, and their encoded query vectors.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from benchmarks.lib.communities import link_shared_cache
from benchmarks.lib.expert_data import HistorySplit, TestQuestion, question_cutoff, split_dump
from benchmarks.lib.expert_metrics import Judged
from copmatch import Community, ExpertQuery, Settings
from copmatch.embedding.encoder import Embedder
from copmatch.ranking.retrieval import Searcher


@dataclass
class Prepared:
    dump: str
    split: HistorySplit
    community: Community
    searcher: Searcher
    questions: list[TestQuestion]  # kept: at least one answerer is a candidate
    truths: list[Judged]
    candidates: list[list[str]]  # per question: history members with a post, minus the asker
    vectors: list[np.ndarray]  # per question (n_windows, dim): the whole question read in windows, encoded once
    dropped: int  # test questions none of whose answerers is a candidate
    timings: dict[str, float]

    def queries(self, settings: Settings) -> list[ExpertQuery]:
        return [
            ExpertQuery(
                text=q.text,  # whole: a long question is read in windows, never truncated
                limit=1,  # with candidates every candidate is returned anyway
                exclude=(q.asker,) if q.asker else (),
                candidates=c,
                id=q.id,
            )
            for q, c in zip(self.questions, self.candidates)
        ]


def prepare(
    dump_dir: Path,
    work: Path,
    embedder: Embedder,
    settings: Settings,
    history_share: float,
    max_questions: int | None,
    until_share: float | None = None,
) -> Prepared:
    """``until_share``: keep only questions asked before that share's cutoff (development splits
    inside the 70% history: history up to 50%, questions between the 50% and 70% cutoffs)."""
    timings: dict[str, float] = {}
    tick = time.perf_counter()
    split = split_dump(dump_dir, work / "history", history_share)
    if until_share is not None:
        until = question_cutoff(dump_dir, until_share)
        split = replace(split, questions=[q for q in split.questions if q.created < until])
    data_dir = work / "data"
    # A fresh store and index each run; the embedding cache (derived, keyed by text) is the
    # benchmarks' shared one.
    link_shared_cache(data_dir)
    for stale in ("copmatch.sqlite", "copmatch.sqlite-wal", "copmatch.sqlite-shm"):
        (data_dir / stale).unlink(missing_ok=True)
    shutil.rmtree(data_dir / "index", ignore_errors=True)
    community = Community(data_dir, settings, embedder=embedder)
    community.import_stackexchange(split.history_dir)
    timings["split_import_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    report = community.build_index()
    timings["build_s"] = time.perf_counter() - tick
    timings["passages_encoded"] = report.encoded
    searcher, _ = community.current_searcher()

    corpus = searcher.corpus
    with_post = {str(m) for m in corpus.member_ids[np.unique(corpus.contrib_member)]}
    questions, truths, candidates = [], [], []
    for q in split.questions:
        pool = with_post - {q.asker}
        answerers = frozenset(q.answerers & pool)
        if not answerers:
            continue
        questions.append(q)
        truths.append(Judged(answerers, q.accepted if q.accepted in pool else None))
        candidates.append(sorted(pool))
    dropped = len(split.questions) - len(questions)
    if max_questions is not None:
        questions, truths, candidates = questions[:max_questions], truths[:max_questions], candidates[:max_questions]
    tick = time.perf_counter()
    vectors = community.encode_query_windows([q.text for q in questions])
    timings["encode_queries_s"] = time.perf_counter() - tick
    return Prepared(dump_dir.name, split, community, searcher, questions, truths, candidates, vectors, dropped, timings)


def answer_bodies(community: Community) -> dict[str, str]:
    return {d["id"]: d["body"] for d in community.store.documents() if d["kind"] == "answer"}


def rank_ids(scores: np.ndarray, candidate_rows: np.ndarray, member_ids: np.ndarray) -> list[str]:
    """Candidate member ids, best score first."""
    order = candidate_rows[np.argsort(-scores[candidate_rows], kind="stable")]
    return [str(m) for m in member_ids[order]]
