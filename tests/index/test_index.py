"""Chunking, embedding cache and snapshots: real tokenizer, real model, real FAISS files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from copmatch.embedding.chunk_cache import ChunkCache, chunker_key
from copmatch.embedding.chunking import Chunker, load_tokenizer
from copmatch.embedding.encoder import bundled_model_path
from copmatch.errors import IndexMismatchError, IndexMissingError
from copmatch.index import snapshot as snapshot_module
from copmatch.index.dense import DenseIndex, DenseIndexSpec, inner_products
from copmatch.index.snapshot import verify
from tests.support import open_community


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(bundled_model_path())


def test_long_documents_are_chunked_not_truncated(tokenizer):
    words = [f"word{i}" for i in range(900)]
    body = " ".join(words)
    passages = Chunker(tokenizer).split(["A long title about pumps"], [body])
    assert len(passages) > 3
    for p in passages:
        # The model window is 256 word pieces including [CLS] and [SEP].
        assert len(tokenizer.encode(p.text).ids) <= 256
        assert p.text.startswith("A long title about pumps\n")
    covered = " ".join(body[p.start : p.end] for p in passages)
    assert all(w in covered for w in words)  # every word lands in some passage
    # Consecutive windows overlap, so no sentence is lost at a boundary.
    assert all(b.start < a.end for a, b in zip(passages, passages[1:]))


class _CountingTokenizer:
    """The real tokenizer, counting the texts it tokenises."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer, self.texts = tokenizer, 0

    def encode_batch(self, texts, **options):
        self.texts += len(texts)
        return self.tokenizer.encode_batch(texts, **options)


def test_chunk_cache_cuts_as_tokenising_does_without_tokenising_again(tokenizer, tmp_path):
    """A full rebuild at a million documents spent most of its time tokenising bodies it had
    cut before: the chunk cache keeps where each was cut, per (chunker, body, window)."""
    titles = ["A long title about pumps", "Short", "", "A long title about pumps"]
    bodies = [" ".join(f"word{i}" for i in range(900)), "Short body.", "x " * 400, "Short body."]
    expected = Chunker(tokenizer).split(titles, bodies)
    key = chunker_key(bundled_model_path() / "tokenizer.json", 256, 240, 32, 24)
    counting = _CountingTokenizer(tokenizer)
    first = Chunker(counting, cache=ChunkCache(tmp_path / "cache.sqlite", key)).split(titles, bodies)
    tokenised = counting.texts
    again = Chunker(counting, cache=ChunkCache(tmp_path / "cache.sqlite", key)).split(titles, bodies)
    assert first == again == expected
    assert counting.texts - tokenised == len(set(titles))  # only the titles: no body again
    # Another chunker (other settings) never reads these cuts.
    other = chunker_key(bundled_model_path() / "tokenizer.json", 256, 200, 32, 24)
    shorter = Chunker(counting, passage_tokens=200, cache=ChunkCache(tmp_path / "cache.sqlite", other))
    assert shorter.split(titles, bodies) == Chunker(tokenizer, passage_tokens=200).split(titles, bodies)


def test_short_document_is_one_passage(tokenizer):
    passages = Chunker(tokenizer).split(["Title"], ["Short body."])
    assert [p.text for p in passages] == ["Title\nShort body."]


def test_rebuild_without_changes_encodes_nothing(tiny):
    first = tiny.index_status()["manifest"]["counts"]
    report = tiny.build_index(full=True)  # a derived build would not even look them up
    assert report.encoded == 0
    assert report.cached == first["passages"] + 5  # five members have a profile
    assert report.passages == first["passages"]


def test_changed_document_is_the_only_one_reencoded(tiny, tmp_path):
    doc = tmp_path / "doc.jsonl"
    doc.write_text(
        json.dumps(
            {
                "id": "a7",
                "kind": "answer",
                "parent_id": "q4",
                "authors": ["gen"],
                "body": "New text: read the meter, hold the account, escalate after ten days.",
            }
        )
        + "\n"
    )
    tiny.import_jsonl(None, doc)
    assert tiny.build_index().encoded == 1


def test_snapshot_manifest_and_checksums(tiny):
    status = tiny.index_status(check=True)
    manifest = status["manifest"]
    assert manifest["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384
    assert manifest["counts"]["documents"] == 15
    assert manifest["dense"]["passages"]["kind"] == "flat"
    assert status["damaged_files"] == []


def test_damaged_snapshot_is_detected(tiny):
    path = tiny.snapshots.current_path()
    with open(path / "corpus.npz", "ab") as handle:
        handle.write(b"junk")
    assert verify(path) == ["corpus.npz"]


def test_failed_build_leaves_the_old_snapshot_serving(tiny, monkeypatch):
    before = tiny.snapshots.current_version()
    answer = tiny.find_experts("pump vibration", limit=1)

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    # Fail after the FAISS files are written, before the switch.
    monkeypatch.setattr(snapshot_module.SnapshotDir, "commit", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        tiny.build_index()
    monkeypatch.undo()
    assert tiny.snapshots.current_version() == before
    assert not list(tiny.snapshots.root.glob("building-*"))
    assert tiny.store.builds(limit=1)[0]["status"] == "failed"
    # A fresh process serves the old snapshot with the same answer.
    reopened = open_community(tiny.data_dir, tiny.embedder)
    assert reopened.find_experts("pump vibration", limit=1) == answer


def test_query_before_any_build_says_how_to_build(tmp_path, embedder):
    community = open_community(tmp_path, embedder)
    with pytest.raises(IndexMissingError) as info:
        community.find_experts("anything")
    assert "copmatch index build" in info.value.hint


def test_snapshot_from_another_model_is_refused(tiny):
    path = tiny.snapshots.current_path()
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["model_id"] = "some/other-model"
    (path / "manifest.json").write_text(json.dumps(manifest))
    fresh = open_community(tiny.data_dir, tiny.embedder)
    with pytest.raises(IndexMismatchError) as info:
        fresh.find_experts("pumps")
    assert "some/other-model" in info.value.message
    assert "copmatch index build" in info.value.hint


@pytest.mark.parametrize("kind", ["flat", "ivf_sq8"])
def test_dense_index_types_agree_with_exact_search(tmp_path, kind):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:20] + 0.1 * rng.normal(size=(20, 32)).astype(np.float32)
    spec = DenseIndexSpec(kind=kind, ivf_nlist=16, ivf_nprobe=16)  # every list: only SQ8 costs recall
    index = DenseIndex.build(vectors, spec)
    index.save(tmp_path / "i.faiss")
    loaded = DenseIndex.load(tmp_path / "i.faiss", index.spec)
    _, ids = loaded.search(queries, 10)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact)])
    assert recall >= (1.0 if kind == "flat" else 0.9)
    # Restricted to some ids (the index as it stood at a past moment): only those, as exactly.
    allowed = rng.random(len(vectors)) < 0.3
    _, among = loaded.search_among(queries, 10, allowed)
    assert allowed[among[among >= 0]].all()
    masked = np.where(allowed, queries @ vectors.T, -np.inf)
    exact = np.argsort(-masked, axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(among, exact)])
    assert recall >= (1.0 if kind == "flat" else 0.9)


def test_sparse_index_keeps_ids_aligned_with_empty_texts():
    from copmatch.index.sparse import SparseIndex

    assert SparseIndex.build(["", "", ""]).scores("pump").tolist() == [0.0, 0.0, 0.0]
    scores = SparseIndex.build(["", "pump vibration", "", "chlorine"]).scores("pumps")
    assert scores.shape == (4,) and scores[1] > 0 and scores[[0, 2, 3]].tolist() == [0.0, 0.0, 0.0]


def test_inner_products_equal_numpys_to_the_last_bits():
    """FAISS's kernel, which the profile match and the candidates' cosines use, gives numpy's
    products up to float32 rounding, for row counts that are and are not multiples of its blocks."""
    rng = np.random.default_rng(0)
    for n in (0, 1, 5, 1027):
        vectors = rng.standard_normal((n, 384)).astype(np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        query = vectors[0] if n else rng.standard_normal(384).astype(np.float32)
        products = inner_products(vectors, query)
        assert products.dtype == np.float32 and products.shape == (n,)
        np.testing.assert_allclose(products, vectors @ query, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="dimensions"):
        inner_products(np.zeros((3, 384), np.float32), np.zeros(383, np.float32))
