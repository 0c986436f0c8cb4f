"""What every command shares: the data dir the user chose, opening it, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from copmatch.community import Community
from copmatch.settings import DEFAULT_DATA_DIR, Settings


class State:
    data_dir: Path = DEFAULT_DATA_DIR
    #: Set by read-only commands: main() may then skip interpreter teardown.
    read_only: bool = False


state = State()

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def open_community(settings: Settings | None = None) -> Community:
    """The data dir given by --data-dir (or $COPMATCH_DATA_DIR)."""
    return Community.open(state.data_dir, settings or Settings())


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
