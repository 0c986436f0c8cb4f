"""The ``copmatch`` command line: parse, make one library call, format the result."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from . import render
from .cli_brokering import register as register_brokering
from .community import Community
from .errors import CopmatchError
from .experts import ExpertQuery
from .ingest.queries import read_queries
from .models import describe_encoder
from .settings import DATA_DIR_ENV, DEFAULT_DATA_DIR, Settings


class _Group(TyperGroup):
    """Turns a CopmatchError anywhere below into message + hint on stderr and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CopmatchError as exc:
            render.err_console.print(f"[bold red]error:[/bold red] {exc.message}", highlight=False, soft_wrap=True)
            if exc.hint:
                render.err_console.print(f"[bold]hint:[/bold] {exc.hint}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Group,
    help="copmatch: who knows about X, related practice, and who should meet, for communities of practice.",
    no_args_is_help=True,
    add_completion=False,
)
import_app = typer.Typer(help="Import members and documents into the store.", no_args_is_help=True)
index_app = typer.Typer(help="Build and inspect the search indexes.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(index_app, name="index")

BATCH_CHUNK = 64  # queries encoded per model call in --batch mode


class State:
    data_dir: Path = DEFAULT_DATA_DIR
    #: Set by read-only commands: main() may then skip interpreter teardown.
    read_only: bool = False


state = State()


@app.callback()
def main_options(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", envvar=DATA_DIR_ENV, help="Folder holding the database and indexes.")
    ] = DEFAULT_DATA_DIR,
) -> None:
    state.data_dir = data_dir


def _community() -> Community:
    return Community.open(state.data_dir, Settings())


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


@import_app.command("jsonl")
def import_jsonl(
    members: Annotated[Path | None, typer.Option(help="Members JSONL file.")] = None,
    documents: Annotated[Path | None, typer.Option(help="Documents JSONL file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import native JSONL members and/or documents (all or nothing)."""
    if members is None and documents is None:
        raise CopmatchError("Nothing to import.", hint="Pass --members FILE and/or --documents FILE.")
    with render.progress_bars() as bars:
        summary = _community().import_jsonl(members, documents, progress=bars)
    _show_summary(summary, as_json)


@import_app.command("stackexchange")
def import_stackexchange(
    dump_dir: Annotated[Path, typer.Argument(help="Folder with Posts.xml (and Users.xml if present).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import a StackExchange data dump: questions, answers, their owners."""
    with render.progress_bars() as bars:
        summary = _community().import_stackexchange(dump_dir, progress=bars)
    _show_summary(summary, as_json)


def _show_summary(summary: Any, as_json: bool) -> None:
    if as_json:
        _print_json(asdict(summary))
    else:
        render.console.print(render.key_value_table("Imported", asdict(summary)))


@index_app.command("build")
def index_build(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    encoder: Annotated[
        str, typer.Option(help="fp32, or int8 (faster, slightly less exact; needs: copmatch models export --int8).")
    ] = "fp32",
) -> None:
    """Build a new index snapshot from the store and switch to it atomically."""
    community = Community.open(state.data_dir, Settings(encoder_variant=encoder))
    with render.progress_bars() as bars:
        report = community.build_index(progress=bars)
    if as_json:
        _print_json({**asdict(report), "passages_per_s": report.passages_per_s})
        return
    render.console.print(
        render.key_value_table(
            f"Index {report.version}",
            {
                "documents": report.documents,
                "passages": report.passages,
                "members": report.members,
                "encoded (new or changed)": report.encoded,
                "reused from cache": report.cached,
                "time": f"{report.timings['total_s']:.2f} s ({report.passages_per_s:.0f} passages/s)",
                "encoder": describe_encoder(community.embedder),
                "path": report.path,
            },
        )
    )


@index_app.command("status")
def index_status(
    check: Annotated[bool, typer.Option(help="Verify every file's checksum against the manifest.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show the snapshot being served, recent builds and store counts."""
    status = _community().index_status(check=check)
    if as_json:
        _print_json(status)
        return
    manifest = status.get("manifest", {})
    rows = {
        "current snapshot": status["current"] or "none (run: copmatch index build)",
        **{f"store {k}": v for k, v in status["store"].items()},
    }
    if manifest:
        rows |= {
            "model": manifest["model_id"],
            "dimension": manifest["dimension"],
            **{f"indexed {k}": v for k, v in manifest["counts"].items()},
            "dense index": manifest["dense"]["passages"]["kind"],
            "encoder": manifest.get("encoder", {}).get("variant", "fp32 (unrecorded)"),
            "path": status["path"],
        }
    if check:
        rows["checksums"] = "ok" if not status["damaged_files"] else f"DAMAGED: {status['damaged_files']}"
    render.console.print(render.key_value_table("Index status", rows))


@app.command()
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
    community = _community()
    if batch is not None:
        queries = read_queries(batch, limit)
        for start in range(0, len(queries), BATCH_CHUNK):
            chunk = queries[start : start + BATCH_CHUNK]
            for query, found in zip(chunk, community.find_experts_batch(chunk)):
                _print_json({"id": query.id, "experts": [e.to_dict() for e in found]})
        return
    if text is None:
        raise CopmatchError(
            "No query given.", hint='Pass the text, e.g. copmatch experts "pump vibration", or --batch QUERIES.jsonl.'
        )
    found = community.find_experts_batch([ExpertQuery(text, limit, exclude or (), candidate)])[0]
    if as_json:
        _print_json({"query": text, "experts": [e.to_dict() for e in found]})
    else:
        render.console.print(render.experts_table(text, found))


@app.command()
def demo(limit: Annotated[int, typer.Option(help="Experts shown per question.")] = 5) -> None:
    """Import the bundled sample community, index it, and answer its showcase questions."""
    from .demo import run_demo

    community = _community()
    render.console.print(f"Sample community -> {state.data_dir.resolve()}")
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
    render.console.print(f'Try your own: copmatch --data-dir {state.data_dir} experts "your question"')


@app.command("settings")
def show_settings(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List every ranking and index setting with its default and meaning."""
    rows = Settings.describe()
    if as_json:
        _print_json([{"name": n, "default": d, "help": h} for n, d, h in rows])
        return
    render.console.print(render.key_value_table("Settings", {n: f"{d}  [dim]{h}[/dim]" for n, d, h in rows}))


models_app = typer.Typer(help="ONNX exports of the embedding model: fast, torch-free queries.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("export")
def models_export(
    int8: Annotated[bool, typer.Option("--int8", help="Also write the int8 (per-channel) quantized model.")] = False,
    out: Annotated[Path | None, typer.Option(help="Folder to export into (default: DATA_DIR/models).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the export manifest as JSON.")] = False,
) -> None:
    """Export the bundled model as ONNX with its tokenizer and a manifest (needs torch once)."""
    exported = _community().export_encoder(int8=int8, out_dir=out)
    if as_json:
        _print_json({"folder": str(exported.folder), **exported.manifest})
        return
    variants = exported.manifest["variants"]
    rows = {v: f"{m['file']} (min cosine to torch {m['min_cosine_vs_torch']:.4f})" for v, m in variants.items()}
    render.console.print(render.key_value_table(f"Exported to {exported.folder}", rows))


@models_app.command("status")
def models_status(
    check: Annotated[bool, typer.Option(help="Verify every exported file's checksum.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the ONNX exports found and whether they match the installed model."""
    status = _community().encoder_status(check=check)
    if as_json:
        _print_json(status)
        return
    rows = {"searched": ", ".join(status["search_dirs"])}
    for export in status["exports"]:
        state_ = "matches the installed model" if export["matches_installed_model"] else "STALE: re-export"
        if check:
            state_ += "; files ok" if not export["damaged_files"] else f"; DAMAGED: {export['damaged_files']}"
        rows[export["folder"]] = f"{', '.join(export['variants'])} — {state_}"
    if not status["exports"]:
        rows["exports"] = "none (run: copmatch models export); queries fall back to torch"
    render.console.print(render.key_value_table("Encoder exports", rows))


keys_app = typer.Typer(help="API keys for the HTTP server (stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="member, broker or admin (each includes the ones before).")],
    member: Annotated[str | None, typer.Option(help="The member this key belongs to.")] = None,
    label: Annotated[str | None, typer.Option(help="A note to recognise the key by.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an API key. The key is printed once and never stored in clear."""
    from .keys import create_key

    key, secret = create_key(_community().store, role, member, label)
    if as_json:
        _print_json({"id": key.id, "role": key.role, "member_id": key.member_id, "key": secret})
        return
    render.console.print(f"Key {key.id} ({key.role}) — copy it now, it is not shown again:")
    render.console.print(secret, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List API keys (ids, roles, members; never the keys themselves)."""
    keys = _community().store.api_keys()
    if as_json:
        _print_json(keys)
        return
    render.console.print(render.rows_table("API keys", keys))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from keys list).")]) -> None:
    """Revoke an API key; requests with it get 401 from then on."""
    from .keys import revoke_key

    revoke_key(_community().store, key_id)
    render.console.print(f"Revoked key {key_id}.")


@app.command()
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

    from .api import create_app

    overrides = {
        "serve_encoder_workers": encoder_workers,
        "serve_encoder_threads": encoder_threads,
        "serve_max_batch": encoder_batch,
    }
    settings = Settings(encoder_variant=encoder).with_overrides(**{k: v for k, v in overrides.items() if v is not None})
    render.err_console.print(f"copmatch API on http://{host}:{port} (data dir {state.data_dir.resolve()})")
    uvicorn.run(create_app(state.data_dir, settings), host=host, port=port, log_level="warning")


# practices, health, intros …, silos … (knowledge brokering) live in their own module.
register_brokering(app, _community)


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
