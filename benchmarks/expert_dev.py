"""Development evaluation of the learned ranker, inside the 70% history only (never the test questions).

    nice -n 5 python -m benchmarks.expert_dev [--dump beer ...] [--window 0.3-0.5 ...] [--horizon 0.2]

A development window ``H-U`` cuts a dump's history at the H question; the system learns from
that history as an index build would (ranking/history.py) and is scored on the questions asked
between the H and U cutoffs, U at most 0.7 (all inside the 70% split's history). Without
``--window`` it is the one window the first defaults were chosen on, 0.5-0.7. Each window's
sets are saved for expert_dev_learn.py: the training sets (features as of serving blocks of
each ``--horizon``; as asked), the evaluation set, and the two baselines of issue #12 scored on
that evaluation set's own candidates (computed as expert_finding.py computes them).
``--baselines-only`` adds the baselines to sets saved before they were.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from benchmarks.lib.communities import link_shared_cache
from benchmarks.lib.expert_baselines import Baselines
from benchmarks.lib.expert_data import question_cutoff, split_dump
from benchmarks.lib.expert_setup import answer_bodies
from benchmarks.lib.results import HERE, SHARED_DUMPS
from copmatch import Community, Settings
from copmatch.embedding.cache import EmbeddingCache, encode_cached
from copmatch.embedding.chunking import Chunker, load_tokenizer
from copmatch.embedding.encoder import Embedder
from copmatch.errors import IndexMismatchError
from copmatch.ranking.asof import newest_day
from copmatch.ranking.history import (
    PastQuestion,
    TrainingSet,
    past_questions,
    query_cosines,
    serving_moments,
    training_set,
)

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "expert_dev"
ALL_DUMPS = ["beer", "coffee", "history-meta", "cardano", "music-meta", "bicycles-meta"]
#: The options of the benchmarks that read the saved development sets (expert_dev_learn, expert_dev_prior).
DumpsOption = Annotated[list[str] | None, typer.Option("--dump", help="Dump (repeatable); default all six.")]
WindowsOption = Annotated[
    list[str] | None,
    typer.Option("--window", help="HISTORY-UNTIL development window (repeatable); default 0.5-0.7."),
]
HorizonOption = Annotated[
    float, typer.Option("--horizon", help="Training sets of this serving-block share (the build's).")
]
HORIZONS = (0.05, 0.1, 0.2, 0.3)
#: The two baselines of issue #12 (names as expert_finding.py reports them)
RECENT = "recent activity, community clock"
HYBRID = "hybrid + recency"


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


def parse_window(text: str) -> tuple[float, float]:
    """ "0.3-0.5" -> (0.3, 0.5): history up to the 30% question, questions up to the 50% cutoff."""
    try:
        share, until = (float(part) for part in text.split("-"))
    except ValueError as exc:
        raise typer.BadParameter(f"window {text!r}: expected HISTORY-UNTIL shares, e.g. 0.3-0.5") from exc
    if not 0 < share < until <= 0.7:
        # Never a question after the 70% cutoff: those are the test split's.
        raise typer.BadParameter(f"window {text!r}: need 0 < history < until <= 0.7 (the test split starts at 0.7)")
    return share, until


def window_name(share: float, until: float) -> str:
    return f"{share:g}-{until:g}"


def sets_path(dump: str, share: float, until: float) -> Path:
    """Where a window's development sets are saved; the 50% -> 70% window keeps its old name."""
    folder = WORK / f"{dump}@{share}"
    return folder / ("sets.pkl" if (share, until) == (0.5, 0.7) else f"sets-{until:g}.pkl")


def open_history(dump: str, embedder: Embedder, settings: Settings, share: float) -> tuple[Community, list]:
    """The history up to the ``share`` question, imported and indexed as a user's build would
    (once per history: reused by every window that starts there), and every later question."""
    work = WORK / f"{dump}@{share}"
    split = split_dump(SHARED_DUMPS / dump, work / "history", share)
    data_dir = work / "data"
    link_shared_cache(data_dir)
    built = (data_dir / "index" / "CURRENT").is_file()
    # The build's own learning is not needed here (the variants learn from the saved sets):
    # skipped, which leaves every feature as it is (features do not read learned_* settings).
    community = Community(data_dir, settings.with_overrides(learned_min_questions=10**9), embedder=embedder)
    if not built:
        community.import_stackexchange(split.history_dir)
        community.build_index()
    else:
        try:
            community.current_searcher()
        except IndexMismatchError:  # built by an older copmatch: the store is kept, the index rebuilt
            community.build_index()
    return community, split.questions


def held_questions(dump: str, questions: list, until: float) -> list:
    """The questions asked before the ``until`` share's cutoff (all later than the history)."""
    until_cut = question_cutoff(SHARED_DUMPS / dump, until)
    return [q for q in questions if q.created < until_cut]


def evaluation_questions(searcher, held: list) -> list[PastQuestion]:
    """The held questions as of the snapshot (every one asked at its newest day)."""
    rows, now = searcher.member_rows, newest_day(searcher.corpus)
    return [
        PastQuestion(
            -1,
            now,
            rows.get(q.asker, -1) if q.asker else -1,
            tuple(sorted(rows[a] for a in q.answerers if a in rows)),
            rows.get(q.accepted, -1) if q.accepted else -1,
        )
        for q in held
    ]


def snapshot_set(searcher, questions, texts, windows, settings: Settings, as_of=None) -> TrainingSet:
    return training_set(
        searcher.corpus,
        questions,
        texts,
        windows,
        searcher.passage_vectors,
        searcher.sparse,
        searcher.profile_vectors,
        searcher.profile_sparse,
        settings,
        as_of,
    )


def kept_positions(evaluation: TrainingSet, asked: list[PastQuestion]) -> list[int]:
    """Position in ``asked`` of each question the set kept (a subsequence: those with an answerer
    among the candidates)."""
    position, source = [], 0
    for kept in evaluation.questions:
        while asked[source] != kept:
            source += 1
        position.append(source)
        source += 1
    return position


def baseline_scores(
    community: Community, evaluation: TrainingSet, asked: list[PastQuestion], texts: list[str], windows: list
) -> dict[str, np.ndarray]:
    """(n_rows,) score of each of issue #12's two baselines on every row of ``evaluation``, computed
    as expert_finding.py computes them, over the evaluation set's own candidates (so a variant and
    the baselines are measured on the same questions, candidates and metric code)."""
    searcher = community.current_searcher()[0]
    base = Baselines(searcher, answer_bodies(community))
    recent = base.recent_clock(0.02)
    vectors = np.asarray(searcher.passage_vectors)
    combination = community.settings.query_window_combination
    position = kept_positions(evaluation, asked)
    out = {RECENT: np.zeros(len(evaluation.labels)), HYBRID: np.zeros(len(evaluation.labels))}
    for group, i in enumerate(position):
        rows = np.flatnonzero(evaluation.group == group)
        members = evaluation.members[rows].astype(np.int64)
        bm25 = base.bm25_documents(texts[i], 100)
        dense = base.dense_documents_from(query_cosines(windows[i], vectors, combination), 100)
        out[RECENT][rows] = recent[members]
        out[HYBRID][rows] = base.hybrid_recency(bm25, dense, recent, np.sort(members))[members]
    return out


def build_window(
    dump: str,
    embedder: Embedder,
    settings: Settings,
    share: float,
    until: float,
    horizons: tuple[float, ...],
    as_asked: bool,
) -> dict:
    """One development window's sets: the training sets an index build of the history learns
    from (features as of serving blocks of each horizon; as asked, when ``as_asked``), the
    evaluation set (the window's questions as of the snapshot) and the baselines' scores on it."""
    community, later = open_history(dump, embedder, settings, share)
    try:
        searcher, _ = community.current_searcher()
        corpus = searcher.corpus
        parent, texts = history_arrays(community, corpus)
        questions = past_questions(corpus, parent)[-settings.learned_max_questions :]
        q_texts = [texts[q.doc] for q in questions]
        q_windows = encode_windows(community, q_texts)
        sets: dict = {"window": (share, until)}
        if as_asked:
            sets["train"] = snapshot_set(searcher, questions, q_texts, q_windows, settings)
        sets["blocked"] = {
            h: snapshot_set(searcher, questions, q_texts, q_windows, settings, serving_moments(corpus, questions, h))
            for h in horizons
        }
        sets |= evaluation_sets(community, dump, later, until, settings)
    finally:
        community.close()
    return sets


def evaluation_sets(community: Community, dump: str, later: list, until: float, settings: Settings) -> dict:
    searcher, _ = community.current_searcher()
    held = held_questions(dump, later, until)
    asked = evaluation_questions(searcher, held)
    e_texts = [q.text for q in held]
    e_windows = encode_windows(community, e_texts)
    evaluation = snapshot_set(searcher, asked, e_texts, e_windows, settings)
    return {"evaluation": evaluation, "baselines": baseline_scores(community, evaluation, asked, e_texts, e_windows)}


def add_baselines(dump: str, embedder: Embedder, settings: Settings, share: float, until: float) -> dict:
    """Baselines' scores added to saved sets that predate them, their evaluation set left as saved."""
    with sets_path(dump, share, until).open("rb") as handle:
        sets = pickle.load(handle)
    community, later = open_history(dump, embedder, settings, share)
    try:
        searcher, _ = community.current_searcher()
        held = held_questions(dump, later, until)
        asked = evaluation_questions(searcher, held)
        e_texts = [q.text for q in held]
        e_windows = encode_windows(community, e_texts)
        sets["baselines"] = baseline_scores(community, sets["evaluation"], asked, e_texts, e_windows)
        sets.setdefault("window", (share, until))
    finally:
        community.close()
    return sets


@app.command()
def main(
    dump: Annotated[list[str] | None, typer.Option(help="Dump (repeatable); default all six.")] = None,
    share: float = typer.Option(0.5, help="History share of the development split (without --window)."),
    until: float = typer.Option(0.7, help="Development questions are those before this share's cutoff."),
    window: Annotated[
        list[str] | None,
        typer.Option(help="HISTORY-UNTIL shares, e.g. 0.3-0.5 (repeatable; instead of --share, --until)."),
    ] = None,
    horizon: Annotated[
        list[float] | None, typer.Option(help="Serving-block horizons of the training sets (repeatable); default all.")
    ] = None,
    as_asked: bool = typer.Option(True, help="Also the training set with features as of each question."),
    baselines_only: bool = typer.Option(
        False, help="Only add the baselines' scores to already saved sets (their sets left as they are)."
    ),
) -> None:
    settings = Settings()
    embedder = Embedder(batch_size=settings.encode_batch_size)
    windows = [parse_window(w) for w in window] if window else [(share, until)]
    horizons = tuple(horizon) if horizon else HORIZONS
    for name in dump or ALL_DUMPS:
        for w_share, w_until in windows:
            tick = time.perf_counter()
            if baselines_only:
                sets = add_baselines(name, embedder, settings, w_share, w_until)
            else:
                sets = build_window(name, embedder, settings, w_share, w_until, horizons, as_asked)
            path = sets_path(name, w_share, w_until)
            with path.open("wb") as handle:
                pickle.dump(sets, handle)
            train = sets["blocked"][max(sets["blocked"])]
            print(
                f"{name} {window_name(w_share, w_until)}: train {train.n_questions} q / {len(train.labels)} rows, "
                f"eval {sets['evaluation'].n_questions} q, {time.perf_counter() - tick:.0f} s -> {path.name}",
                flush=True,
            )


if __name__ == "__main__":
    app()
