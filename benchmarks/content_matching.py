"""Content-only matching (reviewer matching): members known only by their publications.

    nice -n 5 python -m benchmarks.content_matching [--split dev|test ...] [--dump beer ...]

From each dump's history (posts before the 70% cutoff, as in expert_finding.py's test split's
history: no later post is read), every member with at least ``MIN_DOCS`` answers becomes an
author of publications: their answers (question title + answer body), imported as
``publication`` documents with no dates and no questions, so the build has no Q&A history
and copmatch serves its content ranker (ranking/content.py). Two splits of the same members:

- ``test``: each member's latest answer is held out as a query (a "paper" to match), the rest
  are their publications. Only for the report.
- ``dev``: each member's latest answer is never read (left out entirely); their second-latest
  is the query, the rest their publications. Every content-ranker default was chosen here,
  on all six dumps (``content_*`` settings).

Two figures, for copmatch and for the plain baseline (mean cosine of a member's three most
similar publications, the same vectors and windows; the baseline the project is judged
against, not one we picked), with 95% bootstrap intervals and copmatch's paired difference:

- per query: MRR of the true author among all members;
- per member, across queries ("which of these papers fits Alice best?"): MRR of their own
  held-out paper when every query is ranked by that member's score. This is only meaningful
  if scores are comparable across queries.

An ablation adds the content ranker's parts one at a time on the same document matrices.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import typer

from benchmarks.lib.communities import link_shared_cache
from benchmarks.lib.expert_data import POSTS, _rows, question_cutoff
from benchmarks.lib.results import HERE, SHARED_DUMPS, record
from benchmarks.lib.stats import bootstrap_interval, paired_difference
from copmatch import Community, ExpertQuery, Settings
from copmatch.embedding.encoder import Embedder
from copmatch.ranking.content import document_relevance as content_relevance
from copmatch.ranking.content import member_top_mean
from copmatch.ranking.corpus import OFFERING_CLASSES
from copmatch.ranking.features import top_mean_cosine
from copmatch.ranking.history import query_cosines
from copmatch.ranking.retrieval import Searcher

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "content_matching"
DUMPS = ["beer", "coffee", "history-meta", "cardano", "music-meta", "bicycles-meta"]
MIN_DOCS = 4
NOTES = (
    "Members' answers before the 70% cutoff as publications (no Q&A history: the content ranker serves). "
    "test: each member's latest answer is the query; dev: the latest is never read and the second-latest "
    "is the query. Every content_* default was chosen on dev, all six dumps. Baseline: mean cosine of a "
    "member's 3 most similar publications (the project's judging baseline)."
)
OURS, BASELINE = "copmatch content ranker", "mean cosine of 3 best documents"


SPLITS = ("dev", "test")


def publications(dump: str, split: str = "test") -> tuple[list[dict], list[dict], list[tuple[str, str]]]:
    """(members, kept publications, held-out (member, text)) from the history before the 70% cutoff.

    ``test`` holds out each member's latest answer; ``dev`` never reads the latest answer and
    holds out the second-latest (every default is chosen on ``dev``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    from copmatch.ingest.html import html_to_text

    posts = [a for _, a in _rows(SHARED_DUMPS / dump / POSTS)]
    cutoff = question_cutoff(SHARED_DUMPS / dump, 0.7)
    titles = {a["Id"]: a.get("Title", "") for a in posts if a.get("PostTypeId") == "1"}
    by_member: dict[str, list[dict]] = defaultdict(list)
    for a in posts:
        if a.get("PostTypeId") == "2" and a.get("OwnerUserId") and a["CreationDate"] < cutoff and a.get("Body"):
            by_member[a["OwnerUserId"]].append(a)
    members, docs, held = [], [], []
    for member, posted in sorted(by_member.items()):
        # An answer whose body is only markup (an image) has no text to match.
        answers = sorted((a for a in posted if html_to_text(a["Body"]).strip()), key=lambda a: a["CreationDate"])
        if len(answers) < MIN_DOCS:
            continue
        if split == "dev":
            answers = answers[:-1]  # the test query, never read
        members.append({"id": member, "name": f"member {member}"})
        texts = [(titles.get(a.get("ParentId", ""), ""), html_to_text(a.get("Body", ""))) for a in answers]
        for a, (title, body) in zip(answers[:-1], texts[:-1]):
            docs.append({"id": a["Id"], "kind": "publication", "title": title, "body": body, "authors": [member]})
        held.append((member, f"{texts[-1][0]}\n{texts[-1][1]}".strip()))
    return members, docs, held


def reciprocal_ranks(scores: np.ndarray, truth: np.ndarray, axis: int) -> np.ndarray:
    """1 / rank of the true entry along ``axis`` of a (n_queries, n_members) score matrix."""
    true_scores = np.take_along_axis(scores, np.expand_dims(truth, axis), axis)
    better = (scores > true_scores).sum(axis=axis)
    return 1.0 / (1.0 + better)


@dataclass
class Built:
    """One dump's content-only community, built, with its held-out queries."""

    community: Community
    searcher: Searcher
    ids: list[str]  # member ids, in score-matrix column order
    texts: list[str]  # held-out queries
    truth: np.ndarray  # query i was written by member ids[truth[i]]
    n_docs: int


def build(name: str, split: str, settings: Settings, embedder: Embedder) -> Built:
    """Import one dump's publications (``split`` decides which answer is held out) and build."""
    members, docs, held = publications(name, split)
    work = WORK / split / name
    (work / "import").mkdir(parents=True, exist_ok=True)
    for file, records in (("members.jsonl", members), ("documents.jsonl", docs)):
        (work / "import" / file).write_text("\n".join(json.dumps(r) for r in records) + "\n")
    data_dir = work / "data"
    link_shared_cache(data_dir)
    for stale in ("copmatch.sqlite", "copmatch.sqlite-wal", "copmatch.sqlite-shm"):
        (data_dir / stale).unlink(missing_ok=True)
    community = Community(data_dir, settings, embedder=embedder)
    community.import_jsonl(work / "import" / "members.jsonl", work / "import" / "documents.jsonl")
    community.build_index()
    searcher = community.current_searcher()[0]
    assert searcher.ranker is None  # no Q&A history: the content ranker serves
    assert np.isin(searcher.corpus.contrib_class, OFFERING_CLASSES).all()
    ids = [m["id"] for m in members]
    column = {m: i for i, m in enumerate(ids)}
    truth = np.array([column[m] for m, _ in held])
    return Built(community, searcher, ids, [text for _, text in held], truth, len(docs))


def document_matrices(built: Built, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """(n_queries, n_docs) best passage cosine and best passage BM25 of every document, exactly."""
    searcher, corpus = built.searcher, built.searcher.corpus
    vectors = np.asarray(searcher.passage_vectors)
    doc_cos = np.full((len(built.texts), corpus.n_docs), -1.0)
    doc_bm25 = np.zeros((len(built.texts), corpus.n_docs))
    for i, (text, w) in enumerate(zip(built.texts, built.community.encode_query_windows(built.texts))):
        np.maximum.at(doc_cos[i], corpus.passage_doc, query_cosines(w, vectors, settings.query_window_combination))
        np.maximum.at(doc_bm25[i], corpus.passage_doc, searcher.bm25_scores(text))
    return doc_cos, doc_bm25


def baseline_scores(built: Built, doc_cos: np.ndarray) -> np.ndarray:
    """(n_queries, n_members) mean cosine of each member's 3 most similar publications."""
    columns = np.array([built.searcher.member_rows[m] for m in built.ids])
    corpus = built.searcher.corpus
    return np.stack([top_mean_cosine(corpus, row, 3)[columns] for row in doc_cos])


def ablation_scores(built: Built, doc_cos: np.ndarray, doc_bm25: np.ndarray, settings: Settings) -> dict:
    """The content ranker's parts added one at a time (and each dropped from the whole), on the
    same exact document matrices; the excess itself (the logistic is monotone, ranks are equal)."""
    searcher, corpus = built.searcher, built.searcher.corpus
    columns = np.array([searcher.member_rows[m] for m in built.ids])
    background = searcher.content_background(settings)
    k = settings.content_top_documents

    def excess(lexical: bool, member_bg: bool, query_bg: bool) -> np.ndarray:
        relevance = content_relevance(doc_cos, doc_bm25, settings) if lexical else doc_cos
        raw = member_top_mean(corpus, relevance, k)
        raw = raw - background.member[None, :] * member_bg
        raw = raw - relevance[:, background.docs].mean(axis=1, keepdims=True) * query_bg
        return raw[:, columns]

    return {
        "top-k mean cosine only": excess(False, False, False),
        "+ BM25 term": excess(True, False, False),
        "+ BM25 + member background": excess(True, True, False),
        "+ BM25 + query background": excess(True, False, True),
        "all but BM25": excess(False, True, True),
        "all (the content ranker)": excess(True, True, True),
    }


def ranker_scores(built: Built) -> np.ndarray:
    """(n_queries, n_members) copmatch's scores, every member a candidate of every query."""
    found = built.community.find_experts_batch([ExpertQuery(t, candidates=built.ids) for t in built.texts])
    return np.array([[{e.member_id: e.score for e in f}[m] for m in built.ids] for f in found])


@app.command()
def main(
    dump: Annotated[list[str] | None, typer.Option(help="Dump (repeatable); default all six.")] = None,
    split: Annotated[
        list[str] | None, typer.Option(help="dev (second-latest held out) and/or test (latest); default both.")
    ] = None,
    n_boot: int = typer.Option(1000),
) -> None:
    started = time.perf_counter()
    settings = Settings()
    embedder = Embedder(batch_size=settings.encode_batch_size)
    rows, ablation, quality = [], [], {}
    for which in split or list(SPLITS):
        for name in dump or DUMPS:
            built = build(name, which, settings, embedder)
            doc_cos, doc_bm25 = document_matrices(built, settings)
            ours, base = ranker_scores(built), baseline_scores(built, doc_cos)
            for variant, scores in ablation_scores(built, doc_cos, doc_bm25, settings).items():
                per_query = reciprocal_ranks(scores, built.truth, axis=1).mean()
                across = reciprocal_ranks(scores.T, np.arange(len(built.truth)), axis=1).mean()
                ablation.append(
                    {
                        "split": which,
                        "dump": name,
                        "variant": variant,
                        "MRR of the author": round(float(per_query), 3),
                        "MRR of own paper across queries": round(float(across), 3),
                    }
                )
            built.community.close()
            quality[f"{which}/{name}"] = result = evaluate(ours, base, built.truth, n_boot)
            for system, figures in result.items():
                rows.append(
                    {
                        "split": which,
                        "dump": name,
                        "members (queries)": len(built.ids),
                        "publications": built.n_docs,
                        "system": system,
                        **figures["table"],
                    }
                )
            print(which, name, json.dumps({s: f["table"] for s, f in result.items()}), flush=True)
    record(
        "content_matching",
        sizes={"dumps": ",".join(dump or DUMPS), "splits": ",".join(split or SPLITS), "min_docs": MIN_DOCS},
        timings={"total_s": time.perf_counter() - started},
        quality={
            k: {s: {m: f[m] for m in ("author_mrr", "own_paper_mrr")} for s, f in v.items()} for k, v in quality.items()
        },
        tables={
            "Content-only matching: copmatch's content ranker against mean cosine of 3 best": rows,
            "Content ranker ablation (k = content_top_documents; every default chosen on dev)": ablation,
        },
        notes=NOTES,
    )


def evaluate(ours: np.ndarray, base: np.ndarray, truth: np.ndarray, n_boot: int) -> dict[str, dict]:
    """Both figures for both systems, with 95% bootstrap intervals and copmatch's paired difference."""
    rng = np.random.default_rng(0)
    ranks = {}
    for system, scores in ((OURS, ours), (BASELINE, base)):
        per_query = reciprocal_ranks(scores, truth, axis=1)  # the author among members
        across = reciprocal_ranks(scores.T, np.arange(len(truth)), axis=1)  # own paper among queries
        ranks[system] = (per_query, across)
    out = {}
    for system, (per_query, across) in ranks.items():
        lo_q, hi_q = bootstrap_interval(per_query, rng, n_boot)
        lo_a, hi_a = bootstrap_interval(across, rng, n_boot)
        table = {
            "MRR of the author [95% CI]": f"{per_query.mean():.3f} [{lo_q:.3f}, {hi_q:.3f}]",
            "MRR of own paper across queries [95% CI]": f"{across.mean():.3f} [{lo_a:.3f}, {hi_a:.3f}]",
        }
        if system == OURS:
            for label, i in (("author", 0), ("own paper", 1)):
                diff, lo, hi = paired_difference(ranks[OURS][i], ranks[BASELINE][i], n_boot)
                table[f"{label}: minus baseline [95% CI]"] = f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        out[system] = {"author_mrr": float(per_query.mean()), "own_paper_mrr": float(across.mean()), "table": table}
    return out


if __name__ == "__main__":
    app()
