"""Query (and build) encoding with onnxruntime + tokenizers: the same vectors, no torch.

Importing torch and sentence-transformers costs seconds and hundreds of MB before the
first query is encoded; onnxruntime loads in a fraction of that. The ONNX graph written by
``copmatch models export`` already ends in mean pooling over the attention mask and L2
normalisation, so its output rows are the model's sentence embeddings.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from copmatch.embedding.encoder import EncoderIdentity
from copmatch.errors import CopmatchError
from copmatch.progress import Advance

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


class OnnxEncoder:
    """An exported model folder (see ``models.py``) as an encoder with ``Embedder``'s interface."""

    def __init__(
        self, folder: Path, manifest: dict[str, Any], variant: str = "fp32", batch_size: int = 16, threads: int = 0
    ) -> None:
        if variant not in manifest.get("variants", {}):
            raise CopmatchError(
                f"{folder} has no {variant} export.",
                hint="Export it with: copmatch models export" + (" --int8" if variant == "int8" else ""),
            )
        self.model_path = Path(folder)  # holds tokenizer.json, so chunking works from it too
        self.manifest = manifest
        self.variant = variant
        self.model_id: str = manifest["model_id"]
        self.batch_size = batch_size
        self.threads = threads  # onnxruntime intra-op threads per call; 0 = its default (one per core)
        self.onnx_path = self.model_path / manifest["variants"][variant]["file"]
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    @property
    def identity(self) -> EncoderIdentity:
        weights = self.manifest["source"]["weights_sha256"]
        if self.variant != "fp32":
            weights = self.manifest["variants"][self.variant]["sha256"]
        return EncoderIdentity(self.model_id, self.variant, weights)

    @property
    def cache_key(self) -> str:
        """fp32 shares the cache with sentence-transformers (same vectors); int8 keeps its own."""
        if self.variant == "fp32":
            return self.model_id
        return f"{self.model_id}#{self.variant}-{self.identity.weights_sha256[:12]}"

    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])

    @property
    def max_tokens(self) -> int:
        return int(self.manifest["max_seq_length"])

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
                # The same window sentence-transformers reads; longer text is cut, as it cuts it.
                tokenizer.enable_truncation(self.max_tokens)
                # tokenizer.json pads to a fixed 128; calls are padded by length group instead.
                tokenizer.no_padding()
                options = onnxruntime.SessionOptions()
                options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
                options.log_severity_level = 3
                if self.threads:
                    options.intra_op_num_threads = self.threads
                # Idle threads must not spin after a run: on 2 cores they starve FAISS and the
                # ranking that follow each query (measured: 2x the end-to-end latency).
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._session = onnxruntime.InferenceSession(
                    str(self.onnx_path), options, providers=["CPUExecutionProvider"]
                )
                self._tokenizer = tokenizer
            return self._session, self._tokenizer

    def start_loading(self) -> None:
        """Load the session on a background thread (``encode`` waits for it).

        Session set-up (~0.3 s) mostly runs outside the GIL, so a cold query overlaps it
        with opening the index instead of paying both in turn.
        """
        if self._session is None:
            # Not a daemon: a process that exits while the session is being built (an error
            # after this call) must wait for it, or onnxruntime aborts the interpreter.
            threading.Thread(target=self._load, name="copmatch-onnx-load").start()

    def warm_up(self) -> None:
        """Load the session now (e.g. at server start) rather than on the first query."""
        self.encode(["warm up"])

    def encode(
        self, texts: Sequence[str], batch_size: int | None = None, progress: Advance | None = None
    ) -> np.ndarray:
        """Encode texts into an (n, dim) float32 matrix of unit vectors."""
        batch_size = batch_size or self.batch_size
        out = np.empty((len(texts), self.dimension), dtype=np.float32)  # (n, dim)
        if len(texts) == 0:
            return out
        session, tokenizer = self._load()
        if len(texts) == 1:  # one query, the common case: no batch tokenisation, no grouping
            ids = tokenizer.encode(texts[0]).ids
            out[:] = self._run(session, [ids], len(ids))
            if progress:
                progress(1)
            return out
        # Windows of similar character length, tokenised at once, then split into model calls
        # by token length: a call costs its padded tokens, so mixing a 10-token query with a
        # 60-token one in one call nearly doubles the work.
        order = np.argsort([len(t) for t in texts], kind="stable")
        window = batch_size * TOKENIZE_WINDOW_BATCHES
        for start in range(0, len(texts), window):
            rows = order[start : start + window]
            encodings = tokenizer.encode_batch([texts[i] for i in rows])
            lengths = np.array([len(e.ids) for e in encodings])
            by_length = np.argsort(lengths, kind="stable")
            for lo, hi in length_groups(lengths[by_length].tolist(), batch_size):
                group = by_length[lo:hi]
                out[rows[group]] = self._run(session, [encodings[i].ids for i in group], int(lengths[group[-1]]))
                if progress:
                    progress(len(group))
        return out

    def _run(self, session: Any, token_ids: list[list[int]], width: int) -> np.ndarray:
        ids = np.zeros((len(token_ids), width), dtype=np.int64)  # (batch, seq), right-padded with [PAD]=0
        mask = np.zeros_like(ids)
        for row, seq in enumerate(token_ids):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return session.run(None, feeds)[0]  # (batch, dim), already pooled and normalised


# Texts tokenised together before being split into calls (bounded, for long builds).
TOKENIZE_WINDOW_BATCHES = 8
# Measured on 2 CPU cores with all-MiniLM-L6-v2: a call costs about 0.18 ms per padded token
# but never less than ~4.5 ms (about 24 tokens' worth), whatever its size.
MIN_CALL_TOKENS = 24
CALL_OVERHEAD_TOKENS = 2


def length_groups(lengths: Sequence[int], max_size: int) -> list[tuple[int, int]]:
    """Split texts sorted by token length into consecutive calls of at most ``max_size``
    with the least padded work (dynamic programming over the split points)."""
    n = len(lengths)
    best = [0.0] + [float("inf")] * n  # best[i]: cost of encoding the first i texts
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        longest = lengths[end - 1]
        for begin in range(max(0, end - max_size), end):
            cost = best[begin] + max(MIN_CALL_TOKENS, (end - begin) * longest) + CALL_OVERHEAD_TOKENS
            if cost < best[end]:
                best[end], cut[end] = cost, begin
    groups = []
    end = n
    while end > 0:
        groups.append((cut[end], end))
        end = cut[end]
    return groups[::-1]
