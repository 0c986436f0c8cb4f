"""Index and encoder commands: build and inspect snapshots, export the model to ONNX."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from copmatch.cli import render
from copmatch.cli.common import open_community, print_json
from copmatch.embedding.choice import describe_encoder
from copmatch.errors import IndexCorruptError
from copmatch.settings import Settings

index_app = typer.Typer(help="Build and inspect the search indexes.", no_args_is_help=True)


@index_app.command("build")
def index_build(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    encoder: Annotated[
        str, typer.Option(help="fp32, or int8 (faster, slightly less exact; needs: copmatch models export --int8).")
    ] = "fp32",
    full: Annotated[
        bool,
        typer.Option("--full", help="Rebuild everything from the store instead of deriving from the last snapshot."),
    ] = False,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain",
            help="A full build that also trains the IVF lists and the community's ranker afresh (else kept while "
            "they fit the data: learned_refit_share, ivf_retrain_ratio).",
        ),
    ] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Chunk and encode on a Ray cluster: its ADDRESS (host:6379), or none for the cluster this "
            "machine joined (else a local one). Needs: pip install 'copmatch[ray]'.",
        ),
    ] = None,
) -> None:
    """Build a new index snapshot and switch to it atomically.

    Only documents added, changed or deleted since the last snapshot are re-chunked and
    encoded; the rest is carried over from it (--full rebuilds everything)."""
    community = open_community(Settings(encoder_variant=encoder))
    with render.progress_bars() as bars:
        report = community.build_index(progress=bars, full=full, ray_address=ray, retrain=retrain)
    if as_json:
        print_json({**asdict(report), "passages_per_s": report.passages_per_s})
        return
    render.console.print(
        render.key_value_table(
            f"Index {report.version}",
            {
                "build": report.mode,
                "documents": report.documents,
                "documents re-chunked": report.changed_documents,
                "passages": report.passages,
                "members": report.members,
                "encoded (new or changed)": report.encoded,
                "reused from cache": report.cached,
                "time": f"{report.timings['total_s']:.2f} s ({report.passages_per_s:.0f} passages/s)",
                "encoder": describe_encoder(community.embedder),
                "ranker": describe_ranker(community.index_status()["manifest"].get("ranker", {})),
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
    status = open_community().index_status(check=check)
    damage = status["damage"]
    if as_json:
        print_json(status)
        _exit_if_damaged(damage)
        return
    manifest = status.get("manifest", {})
    rows = {
        "current snapshot": status["current"] or "none (run: copmatch index build)",
        **{f"store {k}": v for k, v in status["store"].items()},
    }
    if manifest:
        rows |= {
            "model": manifest.get("model_id"),
            "dimension": manifest.get("dimension"),
            **{f"indexed {k}": v for k, v in (manifest.get("counts") or {}).items()},
            "dense index": (manifest.get("dense") or {}).get("passages", {}).get("kind"),
            "encoder": manifest.get("encoder", {}).get("variant", "fp32 (unrecorded)"),
            "ranker": describe_ranker(manifest.get("ranker", {})),
            "path": status["path"],
        }
    serving = status.get("serving")
    if serving:
        rows["serving"] = serving["version"] or f"nothing: {serving['error']}"
        if serving.get("warning"):
            rows["warning"] = serving["warning"]
    if check or damage:
        rows["integrity"] = "ok" if not damage else "DAMAGED: " + "; ".join(damage)
    render.console.print(render.key_value_table("Index status", rows))
    _exit_if_damaged(damage)


def _exit_if_damaged(damage: list[str]) -> None:
    if damage:
        raise IndexCorruptError(
            f"The current index snapshot is damaged ({len(damage)} problem(s)).",
            hint="Rebuild with: copmatch index build",
        )


def describe_ranker(report: dict) -> str:
    """One line on what ranks this community's experts and why (services/training.py)."""
    if not report:
        return "default formula (snapshot predates learned rankers)"
    line = f"{report.get('serving')}: {report.get('why')}"
    valid = report.get("validation_ndcg10")
    if valid:
        held_out = report.get("validation_questions")
        scores = ", ".join(f"{name} {value:.3f}" for name, value in valid.items())
        line += f" (trained on {report.get('questions')} past questions; held-out latest {held_out}: nDCG@10 {scores})"
    if report.get("why_kept"):
        line += f"; {report['why_kept']}"
    return line


models_app = typer.Typer(help="ONNX exports of the embedding model: fast, torch-free queries.", no_args_is_help=True)


@models_app.command("export")
def models_export(
    int8: Annotated[bool, typer.Option("--int8", help="Also write the int8 (per-channel) quantized model.")] = False,
    out: Annotated[Path | None, typer.Option(help="Folder to export into (default: DATA_DIR/models).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the export manifest as JSON.")] = False,
) -> None:
    """Export the bundled model as ONNX with its tokenizer and a manifest (needs torch once)."""
    exported = open_community().export_encoder(int8=int8, out_dir=out)
    if as_json:
        print_json({"folder": str(exported.folder), **exported.manifest})
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
    status = open_community().encoder_status(check=check)
    if as_json:
        print_json(status)
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
