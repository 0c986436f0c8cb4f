"""Candidate new signals for expert finding, prototyped from one split's history (store + corpus).

Each signal is a (n_questions, n_members) feature matrix added to the log of the ranker's
score with a weight (``log(score) + w * f``), so a weight of 0 is the ranker itself:

- asker affinity: tie strength between the asker and the member (answered each other's
  questions, copmatch.graph) and whether they ever met in a thread;
- recent windows: the member's answers in the last 7/30/90 days before the cut;
- last active: days since the member's last post (the weight is a decay rate);
- self-tuned half-life: recency-weighted answers with the half-life (days) that best
  predicted who answered the latest 20% of *history* questions (history only: shippable);
- tags: the member's past answers on questions sharing the query's tags (count and share);
- quick answers: answers posted within a day of their question, last 90 days.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from benchmarks.lib.expert_data import POSTS, _rows
from benchmarks.lib.expert_metrics import CUTOFF
from benchmarks.lib.expert_setup import Prepared
from benchmarks.lib.results import SHARED_DUMPS
from copmatch.ingest.stackexchange import parse_tags
from copmatch.ranking.corpus import ACCEPTED, ANSWER, ASKER
from copmatch.services.graph import load_graph

DAYS_HALF_LIVES = (3.0, 7.0, 14.0, 30.0, 60.0, 90.0, 180.0, 365.0, 730.0, 1e9)
HOLDOUT_SHARE = 0.2
DISCOUNT = 1.0 / np.log2(np.arange(CUTOFF) + 2.0)


def _day(iso: str) -> float:
    return datetime.fromisoformat(iso[:19]).timestamp() / 86400.0


@dataclass
class History:
    """Per-answer and per-question facts of a split's history, as arrays over corpus rows."""

    answer_member: np.ndarray  # (n_answers,) member row
    answer_day: np.ndarray  # (n_answers,) days since 1970
    answer_question: np.ndarray  # (n_answers,) doc row of the question, -1 if unknown
    post_member: np.ndarray  # (n_posts,) member row of every attributed post (questions too)
    post_day: np.ndarray  # (n_posts,)
    question_day: dict[int, float]  # question doc row -> day
    question_asker: dict[int, int]  # question doc row -> member row
    question_tags: dict[int, tuple[str, ...]]
    cut_day: float
    n_members: int


def history(prepared: Prepared) -> History:
    corpus = prepared.searcher.corpus
    facts = {f["id"]: f for f in prepared.community.store.document_facts()}
    doc_row = {str(d): i for i, d in enumerate(corpus.doc_ids.tolist())}
    cls, member, doc = corpus.contrib_class, corpus.contrib_member.astype(np.int64), corpus.contrib_doc
    answering = (cls == ACCEPTED) | (cls == ANSWER)
    parent = np.array([doc_row.get(facts[str(corpus.doc_ids[d])].get("parent_id") or "", -1) for d in doc[answering]])
    asking = cls == ASKER
    days = corpus.doc_days
    return History(
        answer_member=member[answering],
        answer_day=days[doc[answering]],
        answer_question=parent,
        post_member=member,
        post_day=days[doc],
        question_day={int(d): float(days[d]) for d in doc[asking]},
        question_asker={int(d): int(m) for d, m in zip(doc[asking], member[asking])},
        question_tags={i: tuple(facts[str(d)].get("tags") or ()) for i, d in enumerate(corpus.doc_ids.tolist())},
        cut_day=_day(prepared.split.cutoff),
        n_members=corpus.n_members,
    )


def activity(h: History, now: float, half_life_days: float, before: float | None = None) -> np.ndarray:
    """(n_members,) answers weighted 0.5 ** (age / half-life), counting only answers before ``before``."""
    keep = np.isfinite(h.answer_day) & (h.answer_day < (now if before is None else before))
    weight = 0.5 ** ((now - h.answer_day[keep]) / half_life_days)
    return np.bincount(h.answer_member[keep], weights=weight, minlength=h.n_members)


def tune_half_life(h: History) -> tuple[float, dict[float, float]]:
    """The half-life (days) whose recent-activity ranking best predicts the answerers of the
    latest HOLDOUT_SHARE of history questions, from the history before them only."""
    q_days = sorted(h.question_day.values())
    inner_cut = q_days[int(len(q_days) * (1 - HOLDOUT_SHARE))]
    known = np.zeros(h.n_members, dtype=bool)
    known[h.post_member[h.post_day < inner_cut]] = True
    answerers: dict[int, set[int]] = defaultdict(set)
    for m, q in zip(h.answer_member.tolist(), h.answer_question.tolist()):
        if q >= 0 and h.question_day.get(q, -np.inf) >= inner_cut:
            answerers[q].add(m)
    held = [(q, {m for m in a if known[m]}, h.question_asker.get(q, -1)) for q, a in answerers.items()]
    held = [(q, a, asker) for q, a, asker in held if a - {asker}]
    fit: dict[float, float] = {}
    for half_life in DAYS_HALF_LIVES:
        score = activity(h, inner_cut, half_life) + np.arange(h.n_members) * -1e-12  # row order breaks ties
        values = []
        for _, truth, asker in held:
            pool = known.copy()
            if asker >= 0:
                pool[asker] = False
            top = np.argsort(-np.where(pool, score, -np.inf), kind="stable")[:CUTOFF]
            gains = np.isin(top, list(truth)).astype(float)
            values.append(gains @ DISCOUNT / DISCOUNT[: len(truth - {asker})].sum())
        fit[half_life] = float(np.mean(values)) if values else 0.0
    return max(fit, key=lambda k: fit[k]), fit


def test_question_facts(prepared: Prepared) -> tuple[list[tuple[str, ...]], list[float]]:
    """Tags and creation day of each test question, read from the dump (the asker supplies both)."""
    by_id = {a["Id"]: a for _, a in _rows(_dump_dir(prepared) / POSTS) if a.get("PostTypeId") == "1"}
    rows = [by_id[q.id] for q in prepared.questions]
    return [parse_tags(a.get("Tags", "")) for a in rows], [_day(a["CreationDate"]) for a in rows]


def _dump_dir(prepared: Prepared) -> Path:
    return SHARED_DUMPS / prepared.dump


def signals(prepared: Prepared, h: History, tuned_half_life: float) -> dict[str, dict[str, np.ndarray]]:
    """Signal group -> {feature name -> (n_q, n_members) matrix}."""
    n_q, n_m = len(prepared.questions), h.n_members
    rows = prepared.searcher.member_rows
    askers = [rows.get(q.asker, -1) if q.asker else -1 for q in prepared.questions]

    graph = load_graph(prepared.community.store)
    ids = prepared.searcher.corpus.member_ids.tolist()
    met_with: dict[str, list[str]] = defaultdict(list)
    for a, b in graph.met:
        met_with[a].append(b)
        met_with[b].append(a)
    tie, met = np.zeros((n_q, n_m)), np.zeros((n_q, n_m))
    for i, a in enumerate(askers):
        if a < 0 or ids[a] not in graph.ties:
            continue
        for other, data in graph.ties[ids[a]].items():
            tie[i, rows[other]] = np.log1p(data["weight"])
        met[i, [rows[o] for o in met_with[ids[a]] if o in rows]] = 1.0

    def per_member(v: np.ndarray) -> np.ndarray:
        return np.broadcast_to(v, (n_q, n_m))

    now = h.cut_day
    windows = {
        f"answers in last {n} d": per_member(
            np.log1p(np.bincount(h.answer_member[h.answer_day >= now - n], minlength=n_m))
        )
        for n in (7, 30, 90)
    }
    last = np.full(n_m, np.nan)
    np.fmax.at(last, h.post_member[np.isfinite(h.post_day)], h.post_day[np.isfinite(h.post_day)])
    since = np.where(np.isfinite(last), now - last, 10 * 365.0)
    tuned = np.log(activity(h, now, tuned_half_life) + 0.1)

    q_tags, _ = test_question_facts(prepared)
    tag_count: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n_m))
    for m, q in zip(h.answer_member.tolist(), h.answer_question.tolist()):
        for t in h.question_tags.get(q, ()) if q >= 0 else ():
            tag_count[t][m] += 1.0
    answers = np.bincount(h.answer_member, minlength=n_m)
    on_tags = np.stack([sum((tag_count[t] for t in tags if t in tag_count), np.zeros(n_m)) for tags in q_tags])

    q_day = np.array([h.question_day.get(q, np.nan) if q >= 0 else np.nan for q in h.answer_question.tolist()])
    quick = (h.answer_day - q_day <= 1.0) & (h.answer_day >= now - 90)
    return {
        "asker affinity": {"tie": tie, "met": met},
        **{name: {name: f} for name, f in windows.items()},
        "last active": {"days since last post / 30": per_member(-since / 30.0)},
        f"self-tuned half-life ({tuned_half_life:g} d)": {"log recent activity": per_member(tuned)},
        "tags": {"log1p answers on tags": np.log1p(on_tags), "share on tags": on_tags / (answers + 2.0)},
        "quick answers (<=1 d, last 90 d)": {
            "log1p quick answers": per_member(np.log1p(np.bincount(h.answer_member[quick], minlength=n_m)))
        },
    }
