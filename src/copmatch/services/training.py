"""At index build: learn the community's ranker from its own answered questions.

Training queries are the latest answered questions of the history (title + body, split
into windows like any long query), every feature computed as of the moment each was
asked (ranking/history.py), labels = who answered. The latest ``learned_validation_share``
of them is held out: trees fitted on the earlier ones are scored there against the default
formula and calibrated there (Platt). Only if they beat the default does the learned ranker
serve; the report says what happened either way. A community without enough answered
questions (practice documents and publications only, or a young one) keeps the default
content-based formula.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from copmatch.embedding.cache import EmbeddingCache, encode_cached
from copmatch.embedding.chunking import Chunker, load_tokenizer
from copmatch.embedding.encoder import Encoder
from copmatch.index.dense import DenseIndex
from copmatch.index.sparse import SparseIndex
from copmatch.progress import Progress
from copmatch.ranking.corpus import Corpus
from copmatch.ranking.features import FEATURES
from copmatch.ranking.history import (
    NegativeSample,
    PastQuestion,
    TrainingSet,
    answerable,
    ndcg_at,
    past_questions,
    serving_moments,
    training_set,
)
from copmatch.ranking.learned import (
    LearnedRanker,
    Linear,
    Trees,
    bounded_rows,
    column_ranker,
    fit_model,
    learned_features,
    platt,
    raw_scores,
)
from copmatch.settings import Settings


@dataclass(frozen=True)
class SnapshotArrays:
    """What training reads from the snapshot being built."""

    corpus: Corpus
    passage_vectors: np.ndarray
    sparse: SparseIndex  # loaded from the saved files (scores_among needs them)
    profile_vectors: np.ndarray
    profile_sparse: SparseIndex
    dense: DenseIndex | None = None  # the built index: large communities' training questions search it


def question_texts(documents: list[dict[str, Any]]) -> dict[int, str]:
    """Row -> "title\\nbody" of every question: the text a member would have asked."""
    return {row: f"{d['title']}\n{d['body']}".strip() for row, d in enumerate(documents) if d.get("kind") == "question"}


def parent_rows(documents: list[dict[str, Any]]) -> np.ndarray:
    """(n_docs,) row of each document's parent (an answer's question), -1 when none."""
    row = {d["id"]: i for i, d in enumerate(documents)}
    return np.array([row.get(d.get("parent_id") or "", -1) for d in documents], dtype=np.int64)


def encode_query_windows(
    texts: list[str],
    encoder: Encoder,
    cache: EmbeddingCache | None,
    settings: Settings,
    progress: Progress | None = None,
) -> list[np.ndarray]:
    """(n_windows, dim) unit vectors of each text's windows, as a query is read (Community.encode_query_windows),
    through the embedding cache when given."""
    chunker = Chunker(
        load_tokenizer(encoder.model_path),
        max_tokens=encoder.max_tokens,
        passage_tokens=settings.passage_tokens,
        overlap_tokens=settings.passage_overlap_tokens,
    )
    grouped = chunker.query_windows(texts)
    flat = [w for windows in grouped for w in windows]
    advance = progress.task("Encoding past questions", len(flat)) if progress else None
    if cache is not None:
        vectors, _ = encode_cached(encoder, cache, flat, advance)
    else:
        vectors = encoder.encode(flat, progress=advance)
    bounds = np.cumsum([0, *(len(w) for w in grouped)])
    return [vectors[start:end] for start, end in zip(bounds[:-1], bounds[1:])]


@dataclass(frozen=True)
class History:
    """What training reads of the documents beyond the snapshot's arrays: each document's
    parent row, and the asked text of given question rows (a full build holds every
    document; an incremental one reads the few it needs from the store)."""

    doc_parent: np.ndarray  # (n_docs,) row of each document's parent, -1 when none
    question_texts: Callable[[list[int]], list[str]]  # question rows -> "title\nbody"

    @classmethod
    def of(cls, documents: list[dict[str, Any]]) -> History:
        by_row = question_texts(documents)
        return cls(parent_rows(documents), lambda rows: [by_row[r] for r in rows])


def build_training_set(
    arrays: SnapshotArrays,
    documents: list[dict[str, Any]] | History,
    encoder: Encoder,
    cache: EmbeddingCache | None,
    settings: Settings,
    progress: Progress | None = None,
) -> TrainingSet:
    history = documents if isinstance(documents, History) else History.of(documents)
    questions = past_questions(arrays.corpus, history.doc_parent)[-settings.learned_max_questions :]
    moments = serving_moments(arrays.corpus, questions, settings.learned_horizon_share)
    usable = answerable(arrays.corpus, questions, moments)
    questions, moments = [questions[i] for i in usable], [moments[i] for i in usable]
    texts = history.question_texts([q.doc for q in questions])
    windows = encode_query_windows(texts, encoder, cache, settings, progress) if questions else []
    # The rows learn_ranker fits on are bounded as they are made; its held-out latest slice is
    # ranked among every candidate, so those questions keep all of theirs.
    sample = NegativeSample(
        settings.learned_negatives, settings.learned_hard_negative_share, settings.learned_sample_seed
    )
    return training_set(
        arrays.corpus,
        questions,
        texts,
        windows,
        arrays.passage_vectors,
        arrays.sparse,
        arrays.profile_vectors,
        arrays.profile_sparse,
        settings,
        moments,
        dense=arrays.dense,
        sample=sample,
        sampled_questions=len(questions) - validation_size(len(questions), settings),
    )


def validation_size(n_questions: int, settings: Settings) -> int:
    """How many of the latest training questions learn_ranker holds out."""
    return max(1, int(round(n_questions * settings.learned_validation_share)))


RANKER_CHOICES = ("default formula", "learned", "recent activity")
RECENT_ACTIVITY_FEATURE = "clock activity 0.02"  # the "recent activity, community clock" baseline, as a column


def learn_ranker(train: TrainingSet, settings: Settings) -> tuple[LearnedRanker | None, dict[str, Any]]:
    """Fit, compare the servable rankers on the held-out latest questions, calibrate: (the ranker
    to serve, None for the default formula; its report)."""
    tick = time.perf_counter()
    unknown = set(settings.learned_choices) - set(RANKER_CHOICES)
    if unknown or not settings.learned_choices:
        raise ValueError(f"learned_choices must name some of {RANKER_CHOICES}, got {settings.learned_choices!r}")
    features = learned_features(settings)
    report: dict[str, Any] = {
        "questions": train.n_questions,
        "rows": int(len(train.labels)),
        "features": list(features),
        "learner": settings.learned_model,
        "min_questions": settings.learned_min_questions,
        "choices": list(settings.learned_choices),
    }
    if train.n_questions < settings.learned_min_questions:
        report["serving"] = "default formula"
        report["why"] = (
            f"{train.n_questions} answered past questions with a known answerer; "
            f"a ranker is learned from {settings.learned_min_questions} (learned_min_questions)"
        )
        return None, report
    n_valid = validation_size(train.n_questions, settings)
    order = np.arange(train.n_questions)  # questions are oldest first
    fit_part, valid_part = train.subset(order[:-n_valid]), train.subset(order[-n_valid:])
    fit_rows = _bounded(fit_part, settings)
    report["fit_rows"] = int(len(fit_rows.labels))
    x_valid = valid_part.features  # float32; scored a chunk at a time (raw_scores)
    models: dict[str, Linear | Trees | None] = {"default formula": None}
    raws: dict[str, np.ndarray] = {"default formula": valid_part.default}  # served as it is: never calibrated
    fit_tick = time.perf_counter()
    if "learned" in settings.learned_choices:
        models["learned"] = fit_model(fit_rows, settings, features)
        raws["learned"] = raw_scores(models["learned"], x_valid)
    report["fit_s"] = round(time.perf_counter() - fit_tick, 2)
    if "recent activity" in settings.learned_choices:
        models["recent activity"] = column_ranker(RECENT_ACTIVITY_FEATURE)
        raws["recent activity"] = raw_scores(models["recent activity"], x_valid)
    per_question = {name: ndcg_at(raws[name], valid_part.labels, valid_part.group) for name in settings.learned_choices}
    chosen, why = _choose(per_question, settings)
    report.update(
        {
            "fit_questions": fit_part.n_questions,
            "validation_questions": valid_part.n_questions,
            "validation_from": _iso(valid_part.questions[0].day),
            "validation_ndcg10": {name: round(float(v.mean()), 4) for name, v in per_question.items()},
        }
    )
    report["serving"] = chosen
    report["why"] = why
    if chosen == "default formula":
        report["build_s"] = round(time.perf_counter() - tick, 2)
        return None, report
    calibration = platt(raws[chosen], valid_part.labels > 0)
    report["calibration"] = {"a": round(calibration[0], 4), "b": round(calibration[1], 4)}
    model = models[chosen]
    if chosen == "learned":
        # Served: the same learner refitted on every question (the latest are the most telling),
        # with the calibration measured out of sample on the held-out slice.
        refit_tick = time.perf_counter()
        model = fit_learner(train, settings, features)
        report["refit_s"] = round(time.perf_counter() - refit_tick, 2)
    report["build_s"] = round(time.perf_counter() - tick, 2)
    assert model is not None
    return LearnedRanker(FEATURES, model, calibration, report), report


def fit_learner(train: TrainingSet, settings: Settings, features: tuple[str, ...] | None = None) -> Linear | Trees:
    """The learner as a build fits it: on the bounded rows of ``train`` (also the benchmarks' ablation)."""
    return fit_model(_bounded(train, settings), settings, features)


def _bounded(train: TrainingSet, settings: Settings) -> TrainingSet:
    return bounded_rows(
        train, settings.learned_negatives, settings.learned_hard_negative_share, settings.learned_sample_seed
    )


def _choose(per_question: dict[str, np.ndarray], settings: Settings) -> tuple[str, str]:
    """The ranker to serve and why. The first of ``learned_choices`` is kept unless another's
    paired nDCG@10 gain over it on the held-out questions exceeds ``learned_min_gain`` and
    ``learned_switch_z`` standard errors of that gain (the slice is small: a few dozen questions)."""
    first = settings.learned_choices[0]
    best, best_gain = first, 0.0
    for name in settings.learned_choices[1:]:
        gain = per_question[name] - per_question[first]
        mean = float(gain.mean())
        se = float(gain.std(ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else 0.0
        if mean > settings.learned_min_gain and mean > settings.learned_switch_z * se and mean > best_gain:
            best, best_gain = name, mean
    if best == first:
        return first, f"no other ranker beat the {first} on the held-out latest questions (learned_switch_z)"
    return best, f"the {best} beat the {first} by {best_gain:+.4f} nDCG@10 on the held-out latest questions"


def _iso(day: float) -> str:
    return str(np.datetime64(int(day * 86400), "s"))


__all__ = ["History", "PastQuestion", "SnapshotArrays", "build_training_set", "fit_learner", "learn_ranker"]
