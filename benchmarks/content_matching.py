"""Content-only matching (reviewer matching): members known only by their publications.

    nice -n 5 python -m benchmarks.content_matching [--dump beer ...]

From each dump's history (posts before the 70% cutoff, as in expert_finding.py's test split's
history: no later post is read), every member with at least ``MIN_DOCS`` answers becomes an
author of publications: their answers (question title + answer body), imported as
``publication`` documents with no dates and no questions, so the build has no Q&A history
and copmatch serves its content-based ranker. Each such member's latest answer is held out as
a query (a "paper" to match). Two figures, for copmatch and for the plain baseline (mean
cosine of a member's three most similar publications, the same vectors and windows):

- per query: MRR of the true author among all members;
- per member, across queries ("which of these papers fits Alice best?"): MRR of their own
  held-out paper when every query is ranked by that member's score. This is only meaningful
  if scores are comparable across queries.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Annotated

import numpy as np
import typer

from benchmarks.lib.communities import link_shared_cache
from benchmarks.lib.expert_data import POSTS, _rows, question_cutoff
from benchmarks.lib.results import HERE, SHARED_DUMPS, record
from benchmarks.lib.stats import bootstrap_interval
from copmatch import Community, ExpertQuery, Settings
from copmatch.embedding.encoder import Embedder
from copmatch.ranking.corpus import OFFERING_CLASSES
from copmatch.ranking.features import top_mean_cosine
from copmatch.ranking.history import query_cosines

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "content_matching"
DUMPS = ["beer", "coffee", "history-meta", "cardano", "music-meta", "bicycles-meta"]
MIN_DOCS = 4


def publications(dump: str) -> tuple[list[dict], list[dict], list[tuple[str, str]]]:
    """(members, kept publications, held-out (member, text)) from the history before the 70% cutoff."""
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


@app.command()
def main(
    dump: Annotated[list[str] | None, typer.Option(help="Dump (repeatable); default all six.")] = None,
    n_boot: int = typer.Option(1000),
) -> None:
    started = time.perf_counter()
    settings = Settings()
    embedder = Embedder(batch_size=settings.encode_batch_size)
    rows, quality = [], {}
    for name in dump or DUMPS:
        members, docs, held = publications(name)
        work = WORK / name
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
        ids = [m["id"] for m in members]
        column = {m: i for i, m in enumerate(ids)}
        texts = [text for _, text in held]
        truth = np.array([column[m] for m, _ in held])  # query i was written by member truth[i]
        found = community.find_experts_batch([ExpertQuery(t, candidates=ids) for t in texts])
        ours = np.array([[{e.member_id: e.score for e in f}[m] for m in ids] for f in found])  # (n_q, n_members)
        windows = community.encode_query_windows(texts)
        corpus, vectors = searcher.corpus, np.asarray(searcher.passage_vectors)
        rows_of = searcher.member_rows
        base = np.zeros_like(ours)
        for i, w in enumerate(windows):
            doc_cos = np.full(corpus.n_docs, -1.0)
            np.maximum.at(doc_cos, corpus.passage_doc, query_cosines(w, vectors, settings.query_window_combination))
            per_member = top_mean_cosine(corpus, doc_cos, 3)
            base[i] = [per_member[rows_of[m]] for m in ids]
        assert np.isin(corpus.contrib_class, OFFERING_CLASSES).all()
        community.close()
        rng = np.random.default_rng(0)
        result = {}
        for system, scores in (("copmatch content ranker", ours), ("mean cosine of 3 best documents", base)):
            per_query = reciprocal_ranks(scores, truth, axis=1)  # the author among members
            across = reciprocal_ranks(scores.T, np.arange(len(truth)), axis=1)  # own paper among queries
            lo_q, hi_q = bootstrap_interval(per_query, rng, n_boot)
            lo_a, hi_a = bootstrap_interval(across, rng, n_boot)
            result[system] = {"author_mrr": float(per_query.mean()), "own_paper_mrr": float(across.mean())}
            rows.append(
                {
                    "dump": name,
                    "members (queries)": len(ids),
                    "publications": len(docs),
                    "system": system,
                    "MRR of the author [95% CI]": f"{per_query.mean():.3f} [{lo_q:.3f}, {hi_q:.3f}]",
                    "MRR of own paper across queries [95% CI]": f"{across.mean():.3f} [{lo_a:.3f}, {hi_a:.3f}]",
                }
            )
        quality[name] = result
        print(name, json.dumps(result), flush=True)
    record(
        "content_matching",
        sizes={"dumps": ",".join(dump or DUMPS), "min_docs": MIN_DOCS},
        timings={"total_s": time.perf_counter() - started},
        quality=quality,
        tables={"Content-only matching: copmatch's content ranker against mean cosine of 3 best": rows},
        notes=__doc__.split("\n\n")[1].replace("\n", " "),
    )


if __name__ == "__main__":
    app()
