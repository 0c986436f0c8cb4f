"""Micro-batching of concurrent query encodings into one model call.

A model call on 16 short texts costs little more than on one, so under concurrent load
the server gathers the texts that arrive while the model is busy and encodes them
together. A lone request waits at most ``max_wait_s`` for company.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

EncodeFn = Callable[[Sequence[str]], np.ndarray]


class MicroBatcher:
    """``workers`` threads each take what is waiting and encode it in one call, so with two
    workers one batch is gathered (and encoded) while the other is being encoded."""

    def __init__(self, encode: EncodeFn, max_batch: int = 32, max_wait_s: float = 0.002, workers: int = 1) -> None:
        self._encode = encode
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: queue.Queue[tuple[list[str], Future] | None] = queue.Queue()
        names = [f"copmatch-encoder-{i}" for i in range(max(1, workers))]
        self._threads = [threading.Thread(target=self._run, name=name, daemon=True) for name in names]
        for thread in self._threads:
            thread.start()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts, sharing a model call with whatever else is waiting. Thread-safe."""
        future: Future = Future()
        self._queue.put((list(texts), future))
        return future.result()

    def close(self) -> None:
        self._queue.put(None)  # each worker passes the stop mark on before leaving
        for thread in self._threads:
            thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.put(None)
                return
            pending = [first]
            size = len(first[0])
            # Take what is already waiting; give late arrivals a brief moment.
            while size < self.max_batch:
                try:
                    item = self._queue.get(timeout=self.max_wait_s)
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                pending.append(item)
                size += len(item[0])
            self._encode_pending(pending)

    def _encode_pending(self, pending: list[tuple[list[str], Future]]) -> None:
        texts = [text for texts, _ in pending for text in texts]
        try:
            vectors = self._encode(texts)  # (n_texts, dim)
        except BaseException as exc:  # every waiter must hear about the failure
            for _, future in pending:
                future.set_exception(exc)
            return
        start = 0
        for chunk, future in pending:
            future.set_result(vectors[start : start + len(chunk)])
            start += len(chunk)
