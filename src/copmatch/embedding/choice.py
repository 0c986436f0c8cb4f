"""Which encoder builds and queries use.

An index build encodes with an ONNX export of the installed model when one exists, else
with sentence-transformers (torch). A snapshot records the ``EncoderIdentity`` it was built
with, and its queries are encoded by an export with that identity, falling back to
sentence-transformers only when the snapshot is fp32 and no matching export exists.
"""

from __future__ import annotations

import logging
from pathlib import Path

from copmatch.embedding.encoder import Embedder, Encoder, EncoderIdentity
from copmatch.embedding.exports import VARIANTS, installed_export, matching_encoder, search_dirs
from copmatch.embedding.onnx_encoder import OnnxEncoder
from copmatch.errors import CopmatchError, IndexMismatchError, ModelMissingError

log = logging.getLogger("copmatch")


def build_encoder(data_dir: Path, model_id: str, variant: str, batch_size: int) -> Encoder:
    """The encoder an index build uses: an export of the installed model, else (fp32) torch."""
    if variant not in VARIANTS:
        raise CopmatchError(f"Unknown encoder variant {variant!r}.", hint=f"Use one of: {', '.join(VARIANTS)}.")
    export = installed_export(data_dir, model_id, variant)
    if export is not None:
        return export.encoder(variant, batch_size)
    if variant == "fp32":
        return Embedder(model_id=model_id, batch_size=batch_size)
    raise ModelMissingError(
        f"No int8 export of {model_id} for the installed model in {search_dirs(data_dir)[0]}.",
        hint="Export it with: copmatch models export --int8",
    )


def query_encoder(data_dir: Path, identity: EncoderIdentity, batch_size: int = 16, threads: int = 0) -> Encoder:
    """The encoder for queries against a snapshot built with ``identity`` (``threads``: ONNX only)."""
    encoder = matching_encoder(data_dir, identity, batch_size, threads)
    if encoder is not None:
        return encoder
    if identity.variant == "fp32":
        fallback = Embedder(model_id=identity.model_id, batch_size=batch_size)
        if fallback.identity == identity:
            log.warning(
                "No ONNX export of %s in %s: queries load torch (several seconds per process). "
                "Run: copmatch models export",
                identity.model_id,
                search_dirs(data_dir)[0],
            )
            return fallback
        raise IndexMismatchError(
            f"The index was built with {identity.describe()}, but the installed model is "
            f"{fallback.identity.describe()}.",
            hint="Rebuild with: copmatch index build",
        )
    raise IndexMismatchError(
        f"The index was built with {identity.describe()}, and no export in {search_dirs(data_dir)} matches it.",
        hint="Rebuild with: copmatch index build (after copmatch models export --int8 if you want int8).",
    )


def describe_encoder(encoder: Encoder) -> str:
    if isinstance(encoder, OnnxEncoder):
        return f"ONNX {encoder.variant} ({encoder.onnx_path.parent})"
    return "sentence-transformers fp32 (torch; for torch-free queries run: copmatch models export)"
