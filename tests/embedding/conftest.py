"""Fixtures of the encoder tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def fp32_cache(tiny_built):
    """The session's fp32 vectors of the tiny corpus: ONNX fp32 builds share that cache."""
    return tiny_built / "cache" / "embeddings.sqlite"
