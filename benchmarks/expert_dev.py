"""Development evaluation of the learned ranker, inside the 70% history only (never the test questions).

    nice -n 5 python -m benchmarks.expert_dev [--dump beer ...]

Each dump's history is cut at the 50% question; the system learns from that history as an
index build would (ranking/history.py) and is scored on the questions asked between the
50% and 70% cutoffs (all inside the 70% split's history). Used to choose features, learner
settings, the query-window combination and thresholds; see RESULTS.md.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import typer

from benchmarks.lib.communities import link_shared_cache
from benchmarks.lib.expert_data import split_dump
from benchmarks.lib.results import HERE, SHARED_DUMPS
from copmatch import Community, Settings
from copmatch.embedding.cache import EmbeddingCache, encode_cached
from copmatch.embedding.chunking import Chunker, load_tokenizer
from copmatch.embedding.encoder import Embedder
from copmatch.ranking.asof import newest_day
from copmatch.ranking.history import PastQuestion, TrainingSet, past_questions, serving_moments, training_set

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "expert_dev"
ALL_DUMPS = ["beer", "coffee", "history-meta", "cardano", "music-meta", "bicycles-meta"]
HORIZONS = (0.05, 0.1, 0.2, 0.3)


@dataclass
class DevSplit:
    dump: str
    community: Community
    train: TrainingSet  # the history's own past questions (what an index build learns from)
    evaluation: TrainingSet  # the later questions, features as of the snapshot
    eval_texts: list[str]
    eval_windows: list[np.ndarray]
    blocked: dict[float, TrainingSet]  # training sets with features as of serving blocks


def encode_windows(community: Community, texts: list[str]) -> list[np.ndarray]:
    embedder = community.embedder
    chunker = Chunker(load_tokenizer(embedder.model_path), max_tokens=embedder.max_tokens)
    grouped = chunker.query_windows(texts)
    flat = [w for windows in grouped for w in windows]
    cache = EmbeddingCache(community.cache_path, embedder.cache_key)
    try:
        vectors, _ = encode_cached(embedder, cache, flat)
    finally:
        cache.close()
    out, start = [], 0
    for windows in grouped:
        out.append(vectors[start : start + len(windows)])
        start += len(windows)
    return out


def history_arrays(community: Community, corpus) -> tuple[np.ndarray, dict[int, str]]:
    """(n_docs,) parent row of each document, and each question row's text (title + body)."""
    docs = {d["id"]: d for d in community.store.documents()}
    row = {str(d): i for i, d in enumerate(corpus.doc_ids.tolist())}
    parent = np.array([row.get(docs[str(d)].get("parent_id") or "", -1) for d in corpus.doc_ids.tolist()])
    texts = {
        i: f"{docs[str(d)]['title']}\n{docs[str(d)]['body']}".strip()
        for i, d in enumerate(corpus.doc_ids.tolist())
        if docs[str(d)]["kind"] == "question"
    }
    return parent, texts


def load_split(dump: str, embedder: Embedder, settings: Settings, share: float, until: float) -> DevSplit:
    work = WORK / f"{dump}@{share}"
    split = split_dump(SHARED_DUMPS / dump, work / "history", share)
    until_cut = split_dump(SHARED_DUMPS / dump, work / "until", until).cutoff
    data_dir = work / "data"
    link_shared_cache(data_dir)
    built = (data_dir / "index" / "CURRENT").is_file()
    community = Community(data_dir, settings, embedder=embedder)
    if not built:
        community.import_stackexchange(split.history_dir)
        community.build_index()
    searcher, _ = community.current_searcher()
    corpus = searcher.corpus
    parent, texts = history_arrays(community, corpus)
    questions = past_questions(corpus, parent)[-settings.learned_max_questions :]
    q_texts = [texts[q.doc] for q in questions]
    q_windows = encode_windows(community, q_texts)
    train = training_set(
        corpus,
        questions,
        q_texts,
        q_windows,
        searcher.passage_vectors,
        searcher.sparse,
        searcher.profile_vectors,
        searcher.profile_sparse,
        settings,
    )
    blocked = {}
    for horizon in HORIZONS:
        blocked[horizon] = training_set(
            corpus,
            questions,
            q_texts,
            q_windows,
            searcher.passage_vectors,
            searcher.sparse,
            searcher.profile_vectors,
            searcher.profile_sparse,
            settings,
            serving_moments(corpus, questions, horizon),
        )
    rows = searcher.member_rows
    now = newest_day(corpus)
    held = [q for q in split.questions if _before(q, until_cut, dump)]
    eval_questions = [
        PastQuestion(
            -1,
            now,
            rows.get(q.asker, -1) if q.asker else -1,
            tuple(sorted(rows[a] for a in q.answerers if a in rows)),
            rows.get(q.accepted, -1) if q.accepted else -1,
        )
        for q in held
    ]
    e_texts = [q.text for q in held]
    e_windows = encode_windows(community, e_texts)
    evaluation = training_set(
        corpus,
        eval_questions,
        e_texts,
        e_windows,
        searcher.passage_vectors,
        searcher.sparse,
        searcher.profile_vectors,
        searcher.profile_sparse,
        settings,
    )
    return DevSplit(dump, community, train, evaluation, e_texts, e_windows, blocked)


_DATES: dict[str, dict[str, str]] = {}


def _before(question, cutoff: str, dump: str) -> bool:
    if dump not in _DATES:
        from expert_data import POSTS, _rows

        _DATES[dump] = {a["Id"]: a["CreationDate"] for _, a in _rows(SHARED_DUMPS / dump / POSTS)}
    return _DATES[dump][question.id] < cutoff


@app.command()
def main(
    dump: Annotated[list[str] | None, typer.Option(help="Dump (repeatable); default all six.")] = None,
    share: float = typer.Option(0.5, help="History share of the development split."),
    until: float = typer.Option(0.7, help="Development questions are those before this share's cutoff."),
) -> None:
    embedder = Embedder(batch_size=Settings().encode_batch_size)
    for name in dump or ALL_DUMPS:
        tick = time.perf_counter()
        split = load_split(name, embedder, Settings(), share, until)
        print(
            f"{name}: train {split.train.n_questions} q / {len(split.train.labels)} rows, "
            f"eval {split.evaluation.n_questions} q, {time.perf_counter() - tick:.0f} s",
            flush=True,
        )
        split.community.close()
        with (WORK / f"{name}@{share}" / "sets.pkl").open("wb") as handle:
            pickle.dump({"train": split.train, "evaluation": split.evaluation, "blocked": split.blocked}, handle)


if __name__ == "__main__":
    app()
