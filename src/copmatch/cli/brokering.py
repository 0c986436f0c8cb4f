"""Knowledge-brokering commands: related practice, silos, introductions, community health.

Each command parses, makes one ``Community`` call and formats the result, like every other
command; ``app.py`` adds them to the ``copmatch`` command.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from copmatch.cli import render
from copmatch.cli.common import JsonOption, open_community, print_json

intros_app = typer.Typer(help="Suggested introductions between silos, and the broker's review of them.",
                         no_args_is_help=True)  # fmt: skip
silos_app = typer.Typer(help="Members' silos: imported, or inferred from the interaction graph.", no_args_is_help=True)

NoteOption = Annotated[str | None, typer.Option(help="Why; stored with the decision.")]
BrokerOption = Annotated[
    str | None, typer.Option(envvar="COPMATCH_BROKER", help="Who decides (default: your user name).")
]


def _broker(broker: str | None) -> str:
    return broker or getpass.getuser()


def practices(
    text: Annotated[str | None, typer.Argument(help="What the practice should address, in free text.")] = None,
    like: Annotated[str | None, typer.Option(help="Find practice like this document id instead.")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="Only these kinds (repeatable): practice, question, …")] = None,
    limit: Annotated[int, typer.Option(help="How many documents to return.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """What practice already exists on TEXT (or like --like DOC_ID)? One result per document, diverse."""
    found = open_community().practices(text, like=like, kinds=kind, limit=limit)
    if as_json:
        print_json({"query": text, "like": like, "practices": [p.to_dict() for p in found]})
        return
    from copmatch.cli.render_brokering import practices_table

    render.console.print(practices_table(f"Practice on: {text}" if text else f"Practice like {like}", found))


def health(
    plot: Annotated[
        Path | None, typer.Option(help="Also draw the silo tie matrix and degree distribution (PNG).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Is the community healthy? Core group, weak ties, silos, unanswered questions, thin topics, bridges."""
    report = open_community().health()
    if plot is not None:
        from copmatch.services.health_plot import plot_health

        plot_health(report, plot)
    if as_json:
        print_json({**report.to_dict(), **({"plot": str(plot)} if plot else {})})
        return
    from copmatch.cli.render_brokering import health_tables

    render.console.print(health_tables(report))
    if plot is not None:
        render.console.print(f"Plot written to {plot}", markup=False)


@silos_app.command("infer")
def silos_infer(as_json: JsonOption = False) -> None:
    """Infer silos as communities of the interaction graph (for data imported without silos)."""
    summary = open_community().infer_silos()
    _show_silos(summary, as_json)


@silos_app.command("list")
def silos_list(as_json: JsonOption = False) -> None:
    """Show the silos, their sizes and where they came from."""
    _show_silos(open_community().silos(), as_json)


def _show_silos(summary: Any, as_json: bool) -> None:
    if as_json:
        print_json(summary.to_dict())
        return
    rows = {"source": summary.source, "members without a silo": summary.unassigned, **summary.silos}
    render.console.print(render.key_value_table("Silos (members each)", rows))


@intros_app.command("suggest")
def intros_suggest(
    limit: Annotated[int, typer.Option(help="How many new suggestions at most.")] = 20,
    per_member: Annotated[int | None, typer.Option(help="Open introductions per member at most.")] = None,
    broker: BrokerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Suggest new introductions between members of different silos who work on close topics."""
    found = open_community().suggest_introductions(limit=limit, per_member=per_member, broker=_broker(broker))
    _show_intros(f"{len(found)} new suggestion(s)", found, as_json)


@intros_app.command("list")
def intros_list(
    status: Annotated[str | None, typer.Option(help="Only this status: suggested, approved, …")] = None,
    as_json: JsonOption = False,
) -> None:
    """List introductions, optionally by status."""
    _show_intros(f"Introductions ({status or 'all'})", open_community().list_introductions(status), as_json)


@intros_app.command("show")
def intros_show(introduction_id: Annotated[int, typer.Argument(help="The introduction's id.")],
                as_json: JsonOption = False) -> None:  # fmt: skip
    """One introduction with its reasons and full history."""
    intro = open_community().get_introduction(introduction_id)
    if as_json:
        print_json(intro.to_dict())
        return
    from copmatch.cli.render_brokering import introduction_detail

    render.console.print(introduction_detail(intro))


def _decision(decision: str, doc: str) -> Callable[..., None]:
    def command(
        introduction_id: Annotated[int, typer.Argument(help="The introduction's id.")],
        note: NoteOption = None,
        broker: BrokerOption = None,
        as_json: JsonOption = False,
    ) -> None:
        intro = open_community().decide_introduction(introduction_id, decision, broker=_broker(broker), note=note)
        _show_intros(f"Introduction {intro.id} is now {intro.status}", [intro], as_json)

    command.__doc__ = doc
    return command


intros_app.command("approve")(_decision("approved", "Approve a suggested (or snoozed) introduction."))
intros_app.command("reject")(_decision("rejected", "Reject an introduction; the pair is never suggested again."))
intros_app.command("snooze")(_decision("snoozed", "Put a suggestion aside to decide later."))
intros_app.command("introduced")(_decision("introduced", "Record that an approved introduction was made."))


@intros_app.command("outcome")
def intros_outcome(
    introduction_id: Annotated[int, typer.Argument(help="The introduction's id.")],
    outcome: Annotated[str, typer.Argument(help="helpful or not-helpful")],
    note: NoteOption = None,
    broker: BrokerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record whether an introduction that was made helped."""
    intro = open_community().introduction_outcome(introduction_id, outcome, broker=_broker(broker), note=note)
    _show_intros(f"Introduction {intro.id} closed: {intro.outcome}", [intro], as_json)


def _show_intros(title: str, intros: list, as_json: bool) -> None:
    if as_json:
        print_json({"introductions": [asdict(i) for i in intros]})
        return
    from copmatch.cli.render_brokering import introductions_table

    render.console.print(introductions_table(title, intros))
