"""Chunking and encoding as Ray Data pipelines, for first builds and big imports on a cluster.

``copmatch index build --ray [ADDRESS]`` runs the two expensive, embarrassingly parallel
stages of a build on Ray: documents -> passages (chunking tasks) and passage texts ->
vectors (encoder actors, one CPU each, batched). Everything else is the ordinary build on
the machine that holds the data dir: the embedding cache is read and written there, by
``encode_cached`` as in a local build (only texts it lacks reach the cluster), and the
snapshot is written and switched there.

Workers need ``copmatch[ray]`` installed and the same model: each encoder actor builds the
encoder the local build would use (the bundled model through sentence-transformers, or
the ONNX export at the same path) and refuses to run if its identity differs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from copmatch.embedding.chunking import Chunker, Passage
from copmatch.embedding.encoder import Embedder, Encoder, EncoderIdentity
from copmatch.errors import CopmatchError
from copmatch.progress import Advance
from copmatch.settings import Settings

#: Texts per block handed to one actor call (a multiple of the encoder batch).
BATCHES_PER_BLOCK = 8
DOCUMENTS_PER_BLOCK = 2_000
#: Object store of a local Ray instance: the machine is shared with the serving process.
LOCAL_OBJECT_STORE_BYTES = 1 << 30
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


class RayMissingError(CopmatchError):
    pass


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RayMissingError(
            "Building on Ray needs Ray Data, which is not installed.",
            hint="pip install 'copmatch[ray]'",
        ) from None
    return ray


def connect(address: str) -> Any:
    """Join the cluster at ``address``; "auto": the cluster this machine belongs to, else a local one."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    runtime_env = {"env_vars": WORKER_ENV}
    try:
        if address == "auto":
            try:
                ray.init(address="auto", runtime_env=runtime_env, log_to_driver=False)
            except ConnectionError:
                ray.init(
                    num_cpus=os.cpu_count(),
                    object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                    runtime_env=runtime_env,
                    include_dashboard=False,
                    log_to_driver=False,
                )
        else:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise CopmatchError(
            f"Could not join the Ray cluster at {address!r}: {exc}",
            hint="Start it with: ray start --head (see the README), or use --ray alone for a local one.",
        ) from None
    _quiet(ray)
    return ray


def _quiet(ray: Any) -> None:
    """No per-second execution reports on stderr: the build shows its own progress."""
    import logging

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


@dataclass(frozen=True)
class EncoderRecipe:
    """How a worker makes the encoder the local build uses (picklable, paths only)."""

    kind: str  # "sentence-transformers" | "onnx"
    identity: EncoderIdentity
    batch_size: int
    onnx_folder: str | None = None
    onnx_manifest: dict | None = None

    @classmethod
    def of(cls, encoder: Encoder) -> EncoderRecipe:
        from copmatch.embedding.onnx_encoder import OnnxEncoder

        batch_size = int(getattr(encoder, "batch_size", 16))
        if isinstance(encoder, OnnxEncoder):
            return cls("onnx", encoder.identity, batch_size, str(encoder.model_path), encoder.manifest)
        if isinstance(encoder, Embedder):
            return cls("sentence-transformers", encoder.identity, batch_size)
        raise CopmatchError(f"{type(encoder).__name__} cannot be rebuilt on Ray workers.", hint="Build without --ray.")

    def make(self) -> Encoder:
        """The encoder, single-threaded: an actor has one CPU."""
        if self.kind == "onnx":
            from copmatch.embedding.onnx_encoder import OnnxEncoder

            folder = Path(self.onnx_folder or "")
            encoder: Encoder = OnnxEncoder(folder, self.onnx_manifest or {}, self.identity.variant, self.batch_size, 1)
        else:
            import torch

            torch.set_num_threads(1)
            encoder = Embedder(model_id=self.identity.model_id, batch_size=self.batch_size)
        if encoder.identity != self.identity:
            raise CopmatchError(
                f"A Ray worker's encoder is {encoder.identity.describe()}, not {self.identity.describe()}.",
                hint="Install the same copmatch and model package on every worker.",
            )
        return encoder


class EncodeActor:
    """One encoder per actor, loaded once; called on blocks of rows."""

    def __init__(self, recipe: EncoderRecipe) -> None:
        self.encoder = recipe.make()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(t) for t in batch["text"]])  # (n, dim)
        return {"row": batch["row"], "vector": vectors}


def chunk_batch(
    batch: dict[str, np.ndarray], model_path: str, max_tokens: int, passage_tokens: int, overlap: int, title: int
) -> dict[str, np.ndarray]:
    """Passages of one block of documents. A task, not an actor: the tokenizer loads in
    milliseconds, and tasks run on Ray's already started workers (no actor start-up)."""
    from copmatch.embedding.chunking import load_tokenizer
    from copmatch.embedding.encoder import bundled_model_path

    # The build's model folder, or on another machine the bundled model (the same tokenizer).
    folder = Path(model_path) if (Path(model_path) / "tokenizer.json").is_file() else bundled_model_path()
    chunker = Chunker(load_tokenizer(folder), max_tokens, passage_tokens, overlap, title)
    passages = chunker.split([str(t) for t in batch["title"]], [str(b) for b in batch["body"]])
    rows = batch["row"]
    return {
        "row": np.array([rows[p.document_row] for p in passages], dtype=np.int64),
        "seq": np.array([p.seq for p in passages], dtype=np.int64),
        "text": np.array([p.text for p in passages], dtype=object),
        "start": np.array([p.start for p in passages], dtype=np.int64),
        "end": np.array([p.end for p in passages], dtype=np.int64),
    }


class RayEncoder:
    """The build's encoder with ``encode`` run by encoder actors on the cluster (Encoder protocol)."""

    def __init__(self, pipeline: RayPipeline, local: Encoder) -> None:
        self.pipeline = pipeline
        self.local = local
        self.model_path = local.model_path
        self.model_id = local.model_id
        self.recipe = EncoderRecipe.of(local)

    @property
    def identity(self) -> EncoderIdentity:
        return self.local.identity

    @property
    def cache_key(self) -> str:
        return self.local.cache_key

    @property
    def dimension(self) -> int:
        return self.local.dimension

    @property
    def max_tokens(self) -> int:
        return self.local.max_tokens

    def encode(
        self, texts: Sequence[str], batch_size: int | None = None, progress: Advance | None = None
    ) -> np.ndarray:
        if len(texts) < self.pipeline.settings.ray_min_texts:
            return self.local.encode(texts, batch_size, progress)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)  # (n, dim)
        ray = self.pipeline.ray
        batch_size = batch_size or self.recipe.batch_size
        # Sorted by length, as the local encoder sorts, so each model call pads to alike lengths.
        order = np.argsort([len(t) for t in texts], kind="stable")
        actors = self.pipeline.actors
        # Blocks of a few model calls, at least one per actor, at most ~16 per actor for big inputs.
        block = max(batch_size * BATCHES_PER_BLOCK, math.ceil(len(texts) / (actors * 16)))
        block = max(batch_size, min(block, math.ceil(len(texts) / actors)))
        items = [{"row": int(i), "text": texts[i]} for i in order]
        dataset = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / block)))
        encoded = dataset.map_batches(
            EncodeActor,
            fn_constructor_kwargs={"recipe": self.recipe},
            batch_size=block,
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
            batch_format="numpy",
        )
        for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
            out[batch["row"]] = batch["vector"]
            if progress:
                progress(len(batch["row"]))
        return out


class RayPipeline:
    """A connection to a Ray cluster offering a build's chunking and encoding stages."""

    def __init__(self, address: str, local: Encoder, settings: Settings) -> None:
        self.ray = connect(address)
        self.settings = settings
        self.encoder = RayEncoder(self, local)

    @property
    def actors(self) -> int:
        """One actor per CPU of the cluster."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def chunk(self, titles: list[str], bodies: list[str], embedder: Encoder, settings: Settings) -> list[Passage]:
        """Passages of the documents, as the local chunker makes them, in document order."""
        if len(titles) < settings.ray_min_texts:  # not worth a Ray job
            from copmatch.embedding.chunking import load_tokenizer

            tokenizer = load_tokenizer(embedder.model_path)
            chunker = Chunker(
                tokenizer,
                embedder.max_tokens,
                settings.passage_tokens,
                settings.passage_overlap_tokens,
                settings.title_tokens,
            )
            return chunker.split(titles, bodies)
        ray = self.ray
        items = [{"row": i, "title": t, "body": b} for i, (t, b) in enumerate(zip(titles, bodies))]
        blocks = max(1, math.ceil(len(items) / DOCUMENTS_PER_BLOCK))
        chunked = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
            chunk_batch,
            fn_kwargs={
                "model_path": str(embedder.model_path),
                "max_tokens": embedder.max_tokens,
                "passage_tokens": settings.passage_tokens,
                "overlap": settings.passage_overlap_tokens,
                "title": settings.title_tokens,
            },
            batch_size=DOCUMENTS_PER_BLOCK,
            num_cpus=1,
            batch_format="numpy",
        )
        passages = [
            Passage(int(row), int(seq), str(text), int(start), int(end))
            for batch in chunked.iter_batches(batch_size=None, batch_format="numpy")
            for row, seq, text, start, end in zip(
                batch["row"], batch["seq"], batch["text"], batch["start"], batch["end"]
            )
        ]
        passages.sort(key=lambda p: (p.document_row, p.seq))
        return passages
