"""The ``copmatch`` command line: parse, make one library call, format the result.

Each area's commands live in their own module (experts, index, admin, brokering); this one
assembles them and turns a ``CopmatchError`` anywhere below into message + hint, exit 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.markup import escape
from typer.core import TyperGroup

from copmatch.cli import admin, brokering, experts, index, render
from copmatch.cli.common import state
from copmatch.errors import CopmatchError
from copmatch.settings import DATA_DIR_ENV, DEFAULT_DATA_DIR

#: Options whose value may be left out, and the value they take then (typer has no such options).
OPTIONAL_VALUES = {"--ray": "auto"}


def fill_optional_values(args: list[str]) -> list[str]:
    """``--ray`` alone (last, or before another option) means ``--ray auto``."""
    out = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg in OPTIONAL_VALUES and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append(OPTIONAL_VALUES[arg])
    return out


class _Group(TyperGroup):
    """Turns a CopmatchError anywhere below into message + hint on stderr and exit status 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, fill_optional_values(args))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CopmatchError as exc:
            # Messages quote user data ("unknown member(s) in 'authors': ['[ids]']"): never markup.
            message, hint = escape(exc.message), escape(exc.hint)
            render.err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
            if exc.hint:
                render.err_console.print(f"[bold]hint:[/bold] {hint}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Group,
    help="copmatch: who knows about X, related practice, and who should meet, for communities of practice.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main_options(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", envvar=DATA_DIR_ENV, help="Folder holding the database and indexes.")
    ] = DEFAULT_DATA_DIR,
) -> None:
    state.data_dir = data_dir


app.add_typer(admin.import_app, name="import")
app.add_typer(index.index_app, name="index")
app.command("experts")(experts.experts)
app.command("feedback")(experts.feedback)
app.command("demo")(experts.demo)
app.command("settings")(admin.show_settings)
app.add_typer(index.models_app, name="models")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(admin.documents_app, name="documents")
app.command("serve")(admin.serve)
app.command("practices")(brokering.practices)
app.command("health")(brokering.health)
app.add_typer(brokering.intros_app, name="intros")
app.add_typer(brokering.silos_app, name="silos")


def main() -> None:
    try:
        app()
    except SystemExit as exc:
        if not state.read_only:
            raise
        # Freeing the ONNX session, FAISS threads and every module costs ~0.3 s of a ~1 s
        # query; a read-only command has nothing left to flush but its output.
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
