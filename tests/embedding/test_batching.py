"""Micro-batching: concurrent callers get exactly the vectors a direct call gives them."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from copmatch.embedding.batching import MicroBatcher


def fake_encode(calls: list[int]):
    def encode(texts):
        calls.append(len(texts))
        return np.array([[len(t), sum(map(ord, t))] for t in texts], dtype=np.float32)

    return encode


@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_callers_share_calls_and_get_their_own_rows(workers):
    calls: list[int] = []
    batcher = MicroBatcher(fake_encode(calls), max_batch=64, max_wait_s=0.05, workers=workers)
    texts = [[f"query {i}", f"other {i} text"] for i in range(24)]
    results: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        results[i] = batcher.encode(texts[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close()
    direct = fake_encode([])
    for i, chunk in enumerate(texts):
        np.testing.assert_array_equal(results[i], direct(chunk))
    assert sum(calls) == 48 and len(calls) < 24  # some calls were shared


def test_encoder_failure_reaches_every_waiter():
    def broken(texts):
        raise RuntimeError("model crashed")

    batcher = MicroBatcher(broken)
    with pytest.raises(RuntimeError, match="model crashed"):
        batcher.encode(["x"])
    batcher.close()


def test_real_model_through_the_batcher_matches_direct(embedder):
    batcher = MicroBatcher(embedder.encode)
    texts = ["pump vibration", "chlorine residual at dead ends"]
    np.testing.assert_allclose(batcher.encode(texts), embedder.encode(texts), atol=1e-5)
    batcher.close()


def test_close_stops_every_worker():
    batcher = MicroBatcher(fake_encode([]), workers=3)
    assert batcher.encode(["x"]).shape == (1, 2)
    batcher.close()
    assert not any(thread.is_alive() for thread in batcher._threads)
