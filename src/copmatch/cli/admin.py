"""Admin commands: imports, API keys, the HTTP server, the settings list."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from copmatch.cli import render
from copmatch.cli.common import open_community, print_json, state
from copmatch.errors import CopmatchError
from copmatch.settings import Settings
from copmatch.store.sources import NATIVE_SOURCE

import_app = typer.Typer(help="Import members and documents into the store.", no_args_is_help=True)


@import_app.command("jsonl")
def import_jsonl(
    members: Annotated[Path | None, typer.Option(help="Members JSONL file.")] = None,
    documents: Annotated[Path | None, typer.Option(help="Documents JSONL file.")] = None,
    source: Annotated[
        str, typer.Option(help="The source these records belong to; another source's ids are never overwritten.")
    ] = NATIVE_SOURCE,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import native JSONL members and/or documents (all or nothing)."""
    if members is None and documents is None:
        raise CopmatchError("Nothing to import.", hint="Pass --members FILE and/or --documents FILE.")
    with render.progress_bars() as bars:
        summary = open_community().import_jsonl(members, documents, progress=bars, source=source)
    _show_summary(summary, as_json)


@import_app.command("stackexchange")
def import_stackexchange(
    dump_dir: Annotated[Path, typer.Argument(help="Folder with Posts.xml (and Users.xml if present).")],
    source: Annotated[
        str | None,
        typer.Option(help="Name of this dump's source (default: the folder's name); colliding ids get NAME: first."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import a StackExchange data dump: questions, answers, their owners."""
    with render.progress_bars() as bars:
        summary = open_community().import_stackexchange(dump_dir, progress=bars, source=source)
    _show_summary(summary, as_json)


def _show_summary(summary: Any, as_json: bool) -> None:
    if as_json:
        print_json(asdict(summary))
    else:
        render.console.print(render.key_value_table("Imported", asdict(summary)))


documents_app = typer.Typer(help="Manage imported documents.", no_args_is_help=True)


@documents_app.command("delete")
def documents_delete(
    ids: Annotated[list[str] | None, typer.Argument(help="Document ids to delete.")] = None,
    from_file: Annotated[Path | None, typer.Option("--from", help="A file of document ids, one a line.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete documents and their contributions (all or nothing); the next index build drops them."""
    wanted = list(ids or [])
    if from_file is not None:
        if not from_file.is_file():
            raise CopmatchError(f"{from_file} is not a file.", hint="Pass a file of document ids, one a line.")
        wanted += [line.strip() for line in from_file.read_text().splitlines() if line.strip()]
    if not wanted:
        raise CopmatchError("No document ids given.", hint="Pass ids, or --from FILE with one id a line.")
    deleted = open_community().delete_documents(wanted)
    if as_json:
        print_json({"deleted": deleted})
        return
    render.console.print(f"Deleted {deleted} document(s). Run copmatch index build to drop them from results.")


keys_app = typer.Typer(help="API keys for the HTTP server (stored hashed).", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="member, broker or admin (each includes the ones before).")],
    member: Annotated[str | None, typer.Option(help="The member this key belongs to.")] = None,
    label: Annotated[str | None, typer.Option(help="A note to recognise the key by.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an API key. The key is printed once and never stored in clear."""
    key, secret = open_community().create_key(role, member, label)
    if as_json:
        print_json({"id": key.id, "role": key.role, "member_id": key.member_id, "key": secret})
        return
    render.console.print(f"Key {key.id} ({key.role}) — copy it now, it is not shown again:")
    render.console.print(secret, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List API keys (ids, roles, members; never the keys themselves)."""
    keys = open_community().list_keys()
    if as_json:
        print_json(keys)
        return
    render.console.print(render.rows_table("API keys", keys))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from keys list).")]) -> None:
    """Revoke an API key; requests with it get 401 from then on."""
    open_community().revoke_key(key_id)
    render.console.print(f"Revoked key {key_id}.", markup=False)


def show_settings(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List every ranking and index setting with its default and meaning."""
    rows = Settings.describe()
    if as_json:
        print_json([{"name": n, "default": d, "help": h} for n, d, h in rows])
        return
    table = render.key_value_table("Settings", {n: Text.assemble(f"{d}  ", (h, "dim")) for n, d, h in rows})
    render.console.print(table)


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind; loopback unless you mean to expose it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    encoder_workers: Annotated[
        int | None, typer.Option(min=1, max=8, help="Query-encoder calls at once (setting serve_encoder_workers).")
    ] = None,
    encoder_threads: Annotated[
        int | None, typer.Option(min=0, max=64, help="Threads per encoder call, 0 = per core (serve_encoder_threads).")
    ] = None,
    encoder_batch: Annotated[
        int | None, typer.Option(min=1, max=256, help="Most queries per encoder call (setting serve_max_batch).")
    ] = None,
    encoder: Annotated[
        str, typer.Option(help="Encoder of rebuilds started through the API: fp32, or int8 (as index build --encoder).")
    ] = "fp32",
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from copmatch.api import create_app

    overrides = {
        "serve_encoder_workers": encoder_workers,
        "serve_encoder_threads": encoder_threads,
        "serve_max_batch": encoder_batch,
    }
    settings = Settings(encoder_variant=encoder).with_overrides(**{k: v for k, v in overrides.items() if v is not None})
    render.err_console.print(
        f"copmatch API on http://{host}:{port} (data dir {state.data_dir.resolve()})", markup=False
    )
    uvicorn.run(create_app(state.data_dir, settings), host=host, port=port, log_level="warning")
