"""Rich rendering for the CLI: tables for people, progress bars for long work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from copmatch.progress import Advance
from copmatch.ranking.snippets import snippet
from copmatch.services.experts import Expert

console = Console()
err_console = Console(stderr=True)


class RichProgress:
    """A ``progress.Progress`` drawn as rich bars on stderr (so stdout stays clean for --json)."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars

    def task(self, description: str, total: int | None) -> Advance:
        task_id = self.bars.add_task(description, total=total)
        return lambda n: self.bars.advance(task_id, n)


@contextmanager
def progress_bars() -> Iterator[RichProgress]:
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    with bars:
        yield RichProgress(bars)


def experts_table(query: str, experts: list[Expert]) -> Group:
    """Experts (members with topical evidence) first; members without it only under their own heading."""
    known = [e for e in experts if e.has_evidence]
    closest = [e for e in experts if not e.has_evidence]
    parts: list[Any] = []
    if known:
        parts.append(_members_table(f"Who knows about: {escape(query)}", known, start=1))
    else:
        parts.append(f"[bold]Who knows about: {escape(query)}[/bold]")
        parts.append(
            "[yellow]Nobody here is known to know this:[/yellow] no member has an answer, document or profile "
            "that matches it closely enough. The closest members are below; they may still point you on."
        )
    if closest:
        title = "Closest, without matching evidence (active does not mean knows)" if known else "Closest members"
        parts.append(_members_table(title, closest, start=len(known) + 1))
    return Group(*parts)


def _members_table(title: str, experts: list[Expert], start: int) -> Table:
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("member", no_wrap=True)
    table.add_column("silo", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("knows", justify="right", no_wrap=True)
    table.add_column("active", justify="right", no_wrap=True)
    table.add_column("evidence (best first)")
    for rank, expert in enumerate(experts, start=start):
        lines = [
            f"[bold]{escape(ev.title or ev.document_id)}[/bold] [dim]({escape(ev.role)}, {ev.score:.2f})[/dim]\n"
            f"  {escape(snippet(ev.snippet, 140))}"
            for ev in expert.evidence[:2]
        ]
        if not lines and expert.profile > 0:
            lines = ["profile: bio and skills match"]
        table.add_row(
            str(rank),
            f"{escape(expert.name)}\n[dim]{escape(expert.member_id)}[/dim]",
            escape(expert.silo or "-"),
            f"{expert.score:.3f}",
            f"{expert.knows:.2f}",
            f"{expert.active:.2f}",
            "\n".join(lines) or "[dim]no direct evidence[/dim]",
        )
    return table


def key_value_table(title: str, rows: dict[str, Any]) -> Table:
    """Keys and values are shown as text, never read as markup (they hold user data: silo
    names, paths); pass a rich ``Text`` for a styled value."""
    table = Table(title=escape(title), title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in rows.items():
        table.add_row(Text(str(key)), value if isinstance(value, Text) else Text(str(value)))
    return table


def rows_table(title: str, rows: list[dict[str, Any]]) -> Table:
    """A table with one row per dict (columns from the keys of all rows)."""
    table = Table(title=escape(title), title_justify="left")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    for column in columns:
        table.add_column(escape(column))
    for row in rows:
        table.add_row(*("" if row.get(c) is None else escape(str(row.get(c))) for c in columns))
    return table
