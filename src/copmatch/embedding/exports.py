"""The registry of exported encoders: the bundled model as ONNX (fp32, optionally int8), found by identity.

``copmatch models export`` writes ``<dir>/all-MiniLM-L6-v2-onnx/`` with ``model.onnx``
(fp32), optionally ``model.int8.onnx`` (dynamic per-channel int8), ``tokenizer.json`` and
``manifest.json`` (source model and its weights checksum, export tool versions, file
checksums, and how closely the export reproduced the torch model). Exports are looked up
in the data dir's ``models/`` first, then in one shared models folder: ``$COPMATCH_MODELS_DIR``
when set (empty: none), else the source checkout's top-level ``models/`` (which ``make install``
fills), so that every data dir of a machine can share one export.

Which encoder a build or a query uses is chosen in ``choice.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from copmatch.digests import file_sha256
from copmatch.embedding.encoder import EncoderIdentity, bundled_model_path, weights_sha256
from copmatch.embedding.onnx_encoder import OnnxEncoder

MANIFEST = "manifest.json"
MODELS_DIR = "models"
#: A models folder shared by every data dir (a server hosting several communities, an image).
SHARED_MODELS_ENV = "COPMATCH_MODELS_DIR"
#: Bumped when the export's files change shape; older exports must be re-exported.
EXPORT_FORMAT = 1
VARIANTS = ("fp32", "int8")


@dataclass(frozen=True)
class ExportedModel:
    folder: Path
    manifest: dict[str, Any]

    @property
    def variants(self) -> list[str]:
        return sorted(self.manifest.get("variants", {}))

    def of_installed_model(self) -> bool:
        """Whether this was exported from the installed model's weights (hashed once per process)."""
        return self.manifest["source"]["weights_sha256"] == weights_sha256(bundled_model_path())

    def encoder(self, variant: str, batch_size: int = 16, threads: int = 0) -> OnnxEncoder:
        return OnnxEncoder(self.folder, self.manifest, variant, batch_size, threads)

    def damaged_files(self) -> list[str]:
        """Files whose checksum differs from the manifest (empty when the export is intact)."""
        expected = {name: meta["sha256"] for name, meta in self.manifest.get("files", {}).items()}
        return sorted(n for n, digest in expected.items() if _sha_or_none(self.folder / n) != digest)


def export_folder_name(model_id: str) -> str:
    return model_id.rsplit("/", 1)[-1] + "-onnx"


def shared_models_dir() -> Path | None:
    """``$COPMATCH_MODELS_DIR`` if set (empty: no shared folder), else the source checkout's
    top-level ``models/`` (None for an installed package)."""
    configured = os.environ.get(SHARED_MODELS_ENV)
    if configured is not None:
        return Path(configured) if configured.strip() else None
    root = Path(__file__).resolve().parents[3]
    return root / MODELS_DIR if (root / "pyproject.toml").is_file() else None


def search_dirs(data_dir: Path) -> list[Path]:
    dirs = [Path(data_dir) / MODELS_DIR]
    shared = shared_models_dir()
    return dirs + [shared] if shared is not None else dirs


def exports(data_dir: Path, model_id: str) -> Iterator[ExportedModel]:
    """Readable exports of ``model_id``, data dir first. Reads JSON only: no model is loaded."""
    for parent in search_dirs(data_dir):
        folder = parent / export_folder_name(model_id)
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if manifest.get("format") == EXPORT_FORMAT and manifest.get("model_id") == model_id:
            yield ExportedModel(folder, manifest)


def matching_encoder(
    data_dir: Path, identity: EncoderIdentity, batch_size: int = 16, threads: int = 0
) -> OnnxEncoder | None:
    """An exported encoder whose vectors are the ones ``identity`` names, if any."""
    for export in exports(data_dir, identity.model_id):
        if identity.variant in export.variants:
            encoder = export.encoder(identity.variant, batch_size, threads)
            if encoder.identity == identity:
                return encoder
    return None


def installed_export(data_dir: Path, model_id: str, variant: str) -> ExportedModel | None:
    """An export of the installed model's weights that has ``variant``."""
    for export in exports(data_dir, model_id):
        if variant in export.variants and export.of_installed_model():
            return export
    return None


def status(data_dir: Path, model_id: str, check: bool = False) -> dict[str, Any]:
    """Exports found, their variants and whether they match the installed model."""
    found = []
    for export in exports(data_dir, model_id):
        entry = {
            "folder": str(export.folder),
            "variants": {
                v: {"file": meta["file"], "bytes": export.manifest["files"][meta["file"]]["bytes"]}
                for v, meta in export.manifest["variants"].items()
            },
            "matches_installed_model": export.of_installed_model(),
            "exported_at": export.manifest.get("exported_at"),
            "tools": export.manifest.get("tools", {}),
        }
        if check:
            entry["damaged_files"] = export.damaged_files()
        found.append(entry)
    return {"model_id": model_id, "search_dirs": [str(d) for d in search_dirs(data_dir)], "exports": found}


def _sha_or_none(path: Path) -> str | None:
    try:
        return file_sha256(path)
    except FileNotFoundError:
        return None
