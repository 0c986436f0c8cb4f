"""Chunking and encoding on a Ray cluster, for first builds and big imports.

``copmatch index build --ray [ADDRESS]`` runs the two expensive, embarrassingly parallel
stages of a build on Ray: documents -> passages (a Ray Data job of chunking tasks) and
passage texts -> vectors (encoder actors, fed blocks of texts). Everything else is the
ordinary build on the machine that holds the data dir: the embedding cache is read and
written there, by ``encode_cached`` as in a local build (only texts it lacks reach the
cluster, all of them at once, their vectors committed to the cache as they arrive), and the
snapshot is written and switched there.

One encoder actor per machine holding all its CPUs, its model session running on as many
intra-op threads: what the local build does on one machine (one session on every core), so
N machines encode about N times as fast and one machine about as fast as without Ray. The
actors start once per build, when it first encodes, and serve all its encoding (passages,
profiles, past questions): a Ray Data actor pool would start them again for each of those
jobs, seconds each (measured; benchmarks/ray_build.py). Blocks are runs of texts sorted by
length, as the local encoder sorts them, so a model call pads to alike lengths.

Workers need ``copmatch[ray]`` installed and the same model: each encoder actor builds the
encoder the local build would use (the bundled model through sentence-transformers, or
the ONNX export at the same path) and refuses to run if its identity differs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from copmatch.embedding.chunking import Chunker, Passage
from copmatch.embedding.encoder import Embedder, Encoder, EncoderIdentity
from copmatch.errors import CopmatchError
from copmatch.progress import Advance
from copmatch.settings import Settings

#: Model calls (encoder batches) per block of texts handed to an actor: enough that a call to
#: the actor costs little next to the encoding, few enough that machines finish together.
BATCHES_PER_BLOCK = 16
#: Blocks queued at each encoder actor: the next is already there when one is done.
IN_FLIGHT_PER_ACTOR = 2
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

    def make(self, threads: int) -> Encoder:
        """The encoder, its model running on ``threads`` intra-op threads (the actor's CPUs)."""
        if self.kind == "onnx":
            from copmatch.embedding.onnx_encoder import OnnxEncoder

            folder = Path(self.onnx_folder or "")
            manifest = self.onnx_manifest or {}
            encoder: Encoder = OnnxEncoder(folder, manifest, self.identity.variant, self.batch_size, threads)
        else:
            import torch

            torch.set_num_threads(threads)
            encoder = Embedder(model_id=self.identity.model_id, batch_size=self.batch_size)
        if encoder.identity != self.identity:
            raise CopmatchError(
                f"A Ray worker's encoder is {encoder.identity.describe()}, not {self.identity.describe()}.",
                hint="Install the same copmatch and model package on every worker.",
            )
        return encoder


class EncodeActor:
    """A machine's encoder (a Ray actor): the model loads once, when the build first encodes on
    Ray, and serves every encoding of the build (passages, profiles, past questions)."""

    def __init__(self, recipe: EncoderRecipe, threads: int) -> None:
        self.encoder = recipe.make(threads)
        self.encoder.encode(["load the model"])  # the session loads here, not in the first block

    def ready(self) -> bool:
        return True

    def encode(self, rows: np.ndarray, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return rows, self.encoder.encode(texts)  # (n,), (n, dim)


def actor_layout(ray: Any) -> tuple[int, int]:
    """(encoder actors, CPUs each): one actor per machine holding all its CPUs.

    Every actor asks for the CPUs of the smallest machine, so on machines of one size (the
    usual cluster) there is exactly one per machine; a machine twice the size holds two."""
    cpus = [int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node.get("Alive")]
    cpus = [c for c in cpus if c >= 1]
    if not cpus:
        raise CopmatchError(
            "The Ray cluster has no machine with a CPU to encode on.",
            hint="Start workers with: ray start --address=HEAD_HOST:6379 --num-cpus=$(nproc)",
        )
    each = min(cpus)
    return sum(c // each for c in cpus), each


def arrow_blocks(columns: dict[str, Sequence[Any]], block: int) -> list[Any]:
    """Columns cut into Arrow tables of ``block`` rows: Ray Data's blocks, as they are."""
    import pyarrow as pa

    table = pa.table({name: pa.array(values) for name, values in columns.items()})
    return [table.slice(start, block) for start in range(0, table.num_rows, block)] or [table]


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
        out = np.empty((len(texts), self.dimension), dtype=np.float32)  # (n, dim)
        for rows, vectors in self.encode_stream(texts, batch_size, progress):
            out[rows] = vectors
        return out

    def encode_stream(
        self, texts: Sequence[str], batch_size: int | None = None, progress: Advance | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(positions in ``texts``, their (n, dim) vectors) block by block as the actors make
        them, every text once (the embedding cache commits them as they come)."""
        if len(texts) < self.pipeline.settings.ray_min_texts:
            yield np.arange(len(texts)), self.local.encode(texts, batch_size, progress)
            return
        ray = self.pipeline.ray
        actors = self.pipeline.encoder_actors()
        batch_size = batch_size or self.recipe.batch_size
        # Sorted by length, as the local encoder sorts, so each model call pads to alike lengths.
        order = np.argsort([len(t) for t in texts], kind="stable")
        block = max(batch_size, min(batch_size * BATCHES_PER_BLOCK, math.ceil(len(texts) / len(actors))))
        blocks = iter(range(0, len(texts), block))
        pending: dict[Any, Any] = {}  # result ref -> the actor computing it

        def send(actor: Any) -> None:
            start = next(blocks, None)
            if start is not None:
                rows = order[start : start + block]
                pending[actor.encode.remote(rows, [texts[i] for i in rows])] = actor

        # Two blocks in flight per actor: the next is already there when one is done.
        for actor in actors * IN_FLIGHT_PER_ACTOR:
            send(actor)
        while pending:
            [done], _ = ray.wait(list(pending), num_returns=1)
            send(pending.pop(done))
            rows, vectors = ray.get(done)
            if progress:
                progress(len(rows))
            yield rows, vectors


class RayPipeline:
    """A connection to a Ray cluster offering a build's chunking and encoding stages."""

    def __init__(self, address: str, local: Encoder, settings: Settings) -> None:
        self.ray = connect(address)
        self.settings = settings
        self.encoder = RayEncoder(self, local)
        self._actors: list[Any] = []

    def encoder_actors(self) -> list[Any]:
        """The encoder actors, one per machine (actor_layout), started on first use: chunking
        tasks run before them, on the CPUs they will hold."""
        if not self._actors:
            count, cpus = actor_layout(self.ray)
            remote = self.ray.remote(EncodeActor).options(
                num_cpus=cpus, scheduling_strategy="SPREAD", max_restarts=1, max_task_retries=1
            )
            self._actors = [remote.remote(self.encoder.recipe, cpus) for _ in range(count)]
            try:
                self.ray.get([actor.ready.remote() for actor in self._actors])  # a bad model fails here, once
            except self.ray.exceptions.RayError as exc:
                self.close()
                raise CopmatchError(
                    f"The encoder actors could not start on the Ray cluster: {exc}",
                    hint="Install the same copmatch and model package on every worker, or build without --ray.",
                ) from None
        return self._actors

    def close(self) -> None:
        """Stop the encoder actors (their CPUs go back to the cluster)."""
        for actor in self._actors:
            self.ray.kill(actor)
        self._actors = []

    def __enter__(self) -> RayPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        # A block per CPU, no more than DOCUMENTS_PER_BLOCK: every CPU chunks, none waits for a straggler.
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        block = max(1, min(DOCUMENTS_PER_BLOCK, math.ceil(len(titles) / cpus)))
        blocks = arrow_blocks({"row": np.arange(len(titles)), "title": titles, "body": bodies}, block)
        chunked = ray.data.from_arrow(blocks).map_batches(
            chunk_batch,
            fn_kwargs={
                "model_path": str(embedder.model_path),
                "max_tokens": embedder.max_tokens,
                "passage_tokens": settings.passage_tokens,
                "overlap": settings.passage_overlap_tokens,
                "title": settings.title_tokens,
            },
            batch_size=None,  # a block per task
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
