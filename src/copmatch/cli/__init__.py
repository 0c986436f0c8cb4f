"""The ``copmatch`` command line (typer); ``main`` is the console script."""

from copmatch.cli.app import main

__all__ = ["main"]
