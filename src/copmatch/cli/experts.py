"""Who knows about X? The experts command (one query or a batch file) and the demo."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from copmatch.cli import render
from copmatch.cli.common import JsonOption, open_community, print_json, state
from copmatch.errors import CopmatchError
from copmatch.services.batch_queries import read_queries
from copmatch.services.experts import ExpertQuery, nobody_known

BATCH_CHUNK = 64  # queries encoded per model call in --batch mode


def experts(
    text: Annotated[str | None, typer.Argument(help="The topic or question, in free text.")] = None,
    limit: Annotated[int, typer.Option(help="How many experts to return.")] = 10,
    exclude: Annotated[list[str] | None, typer.Option(help="Member id never to return (repeatable).")] = None,
    candidate: Annotated[list[str] | None, typer.Option(help="Rank only these member ids (repeatable).")] = None,
    batch: Annotated[Path | None, typer.Option(help="JSONL file of queries; prints one JSONL line per query.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Who knows about TEXT? Ranked members with the evidence behind each."""
    state.read_only = True
    community = open_community()
    if batch is not None:
        queries = read_queries(batch, limit)
        for start in range(0, len(queries), BATCH_CHUNK):
            chunk = queries[start : start + BATCH_CHUNK]
            for query, found in zip(chunk, community.find_experts_batch(chunk)):
                print_json(
                    {"id": query.id, "nobody_known": nobody_known(found), "experts": [e.to_dict() for e in found]}
                )
        return
    if text is None:
        raise CopmatchError(
            "No query given.", hint='Pass the text, e.g. copmatch experts "pump vibration", or --batch QUERIES.jsonl.'
        )
    found = community.find_experts_batch([ExpertQuery(text, limit, exclude or (), candidate)])[0]
    if as_json:
        print_json({"query": text, "nobody_known": nobody_known(found), "experts": [e.to_dict() for e in found]})
    else:
        render.console.print(render.experts_table(text, found))


def demo(limit: Annotated[int, typer.Option(help="Experts shown per question.")] = 5) -> None:
    """Import the bundled sample community, index it, and answer its showcase questions."""
    from copmatch.sample.demo import run_demo

    community = open_community()
    render.console.print(f"Sample community -> {state.data_dir.resolve()}", markup=False)
    with render.progress_bars() as bars:
        result = run_demo(community, limit=limit, progress=bars)
    render.console.print(
        f"Imported {result.imported.members} members and {result.imported.documents} documents; "
        f"index {result.build.version}: {result.build.passages} passages "
        f"({result.build.encoded} encoded, {result.build.cached} from cache) "
        f"in {result.build.timings['total_s']:.1f} s."
    )
    for answer in result.answers:
        render.console.print(render.experts_table(answer.question, answer.experts))
    render.console.print(f'Try your own: copmatch --data-dir {state.data_dir} experts "your question"', markup=False)


def feedback(
    member_id: Annotated[str, typer.Argument(help="The suggested expert's member id.")],
    verdict: Annotated[str, typer.Argument(help="helpful or not-helpful")],
    query: Annotated[str, typer.Option("--query", help="The question they were suggested for.")],
    note: Annotated[str | None, typer.Option(help="Anything worth keeping with it.")] = None,
    given_by: Annotated[
        str | None, typer.Option("--by", envvar="COPMATCH_MEMBER", help="Who says so (default: your user name).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Say whether a suggested expert helped with a question (the ranker learns from it at the next build)."""
    helpful = _verdict(verdict)
    recorded = open_community().record_feedback(query, member_id, helpful, given_by or getpass.getuser(), note)
    if as_json:
        print_json(recorded.to_dict())
        return
    said = "helped" if recorded.helpful else "did not help"
    render.console.print(
        f"Recorded: {recorded.member_id} {said} (feedback {recorded.id}).", highlight=False, markup=False
    )


def _verdict(verdict: str) -> bool:
    normalised = verdict.strip().lower().replace("_", "-").replace(" ", "-")
    if normalised not in ("helpful", "not-helpful"):
        raise CopmatchError(f"Unknown verdict {verdict!r}.", hint="Use helpful or not-helpful.")
    return normalised == "helpful"
