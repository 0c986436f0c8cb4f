"""Index types by size and the torch/scipy-free query path: each checked against its slow oracle."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from copmatch import Settings
from copmatch.index.dense import DenseIndex, DenseIndexSpec, choose_spec
from copmatch.index.sparse import SparseIndex, tokenize
from copmatch.sample import documents_path
from tests.support import DATA, open_community


def clustered_unit_vectors(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    vectors = centers[rng.integers(0, clusters, n)] + 0.6 * rng.normal(size=(n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def recall_at_10(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)]))


def test_choose_spec_switches_to_ivf_above_the_threshold():
    assert choose_spec(200_000, 200_000).kind == "flat"
    spec = choose_spec(1_000_000, 200_000, ivf_lists_per_sqrt=2.0, ivf_nprobe=32)
    assert (spec.kind, spec.ivf_nlist, spec.ivf_nprobe) == ("ivf_sq8", 2000, 32)
    # A small collection forced onto IVF never gets more lists than k-means can place.
    small = choose_spec(400, 10)
    assert small.kind == "ivf_sq8" and 1 <= small.ivf_nlist <= 10 and small.ivf_nprobe <= small.ivf_nlist


def test_ivf_sq8_recall_against_exact_search(tmp_path):
    data = clustered_unit_vectors(20_100, 64, clusters=200, seed=0)
    vectors, queries = data[:20_000], data[20_000:]  # queries from the same clusters, not in the index
    spec = choose_spec(len(vectors), exact_max=1000)
    DenseIndex.build(vectors, spec).save(tmp_path / "ivf.faiss")
    loaded = DenseIndex.load(tmp_path / "ivf.faiss", DenseIndexSpec(**json.loads(json.dumps(spec.to_dict()))))
    scores, ids = loaded.search(queries, 10)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]  # (n_queries, 10), the oracle
    assert recall_at_10(ids, exact) >= 0.95
    # Scores are SQ8 approximations of the cosine, close enough to rank by.
    true = np.take_along_axis(queries @ vectors.T, ids, axis=1)
    assert np.abs(scores - true).max() < 0.02
    assert loaded.size == len(vectors) and loaded.index.nprobe == spec.ivf_nprobe


def test_ivf_build_is_reproducible():
    vectors = clustered_unit_vectors(5_000, 32, clusters=50, seed=1)
    spec = choose_spec(len(vectors), exact_max=100)
    first = DenseIndex.build(vectors, spec).search(vectors[:20], 10)[1]
    second = DenseIndex.build(vectors, spec).search(vectors[:20], 10)[1]
    assert np.array_equal(first, second)


def test_community_above_the_threshold_serves_from_ivf(tmp_path, embedder, tiny_built):
    """The same interface end to end: a forced IVF index finds the tiny corpus's experts."""
    shutil.copytree(tiny_built / "cache", tmp_path / "cache")
    settings = Settings(exact_index_max=10)
    community = open_community(tmp_path, embedder, settings)
    community.import_jsonl(DATA / "members.jsonl", DATA / "documents.jsonl")
    community.build_index()
    dense = community.index_status()["manifest"]["dense"]["passages"]
    assert dense["kind"] == "ivf_sq8" and dense["ivf_nlist"] >= 1 and dense["ivf_nprobe"] >= 1
    flat = open_community(tiny_built, embedder)
    for query in ("pipe corrosion", "pump vibration", "chlorine residual"):
        ivf_top = [e.member_id for e in community.find_experts(query, limit=3)]
        flat_top = [e.member_id for e in flat.find_experts(query, limit=3)]
        assert ivf_top == flat_top, query
    flat.close()


def test_exact_scan_retrieves_what_faiss_flat_finds(embedder, tiny_built):
    """Small snapshots skip FAISS for a numpy scan; it must find the same neighbours and
    give every candidate its exact cosine."""
    community = open_community(tiny_built, embedder)
    searcher, _ = community.current_searcher()
    assert searcher.dense_spec.kind == "flat"
    assert community.find_experts("pipe corrosion", limit=3)
    assert searcher._dense is None  # the scan never needed FAISS's copy of the vectors
    k = 5
    for text in ("pipe corrosion", "pump vibration", "chlorine residual"):
        vector = community.encode_queries([text])[0]
        found = searcher.retrieve(vector, text, dense_top_k=k, sparse_top_k=0)
        scores, ids = searcher.dense.search(vector[None, :], k)
        assert set(found.ids.tolist()) == set(ids[0].tolist())
        np.testing.assert_allclose(np.sort(found.cos)[::-1], scores[0], atol=1e-5)
    community.close()


def test_profile_cosines_skip_members_without_a_profile(embedder, tiny_built):
    """Only members with a bio or skills are multiplied; the others' cosine is 0, as a zero vector's."""
    from copmatch.ranking.history import query_cosines

    community = open_community(tiny_built, embedder)
    searcher, _ = community.current_searcher()
    assert 0 < len(searcher._profiled) < searcher.corpus.n_members  # the fixture has members without one
    for text in ("pipe corrosion", "pump vibration after a bearing change"):
        windows = community.encode_queries([text, text + " and chlorine residual"])
        for how in ("max", "mean", "centroid"):
            expected = query_cosines(windows, searcher.profile_vectors, how)
            np.testing.assert_allclose(searcher.profile_cosines(windows, how), expected, rtol=0, atol=1e-6)
    community.close()


QUERIES = [
    "pump vibration after a bearing change",
    "the the and of",  # only stopwords
    "",
    "Weißbier ümlaut café 日本酒",
    "SCADA SCADA alarms",  # a repeated term counts twice, as in bm25s
    "running runs ran",
    "x",
    "don't 'quoted' PH7 dosing",
]


@pytest.mark.parametrize("query", QUERIES)
def test_bm25_from_term_counts_matches_bm25s(tmp_path, query):
    import bm25s

    from copmatch.index.sparse import EMPTY_TOKEN

    texts = [json.loads(line)["body"] for line in documents_path().read_text().splitlines()] + ["", "x"]
    built = SparseIndex.build(texts)
    built.save(tmp_path / "bm25")
    loaded = SparseIndex.load(tmp_path / "bm25", len(texts))
    assert loaded.counts is None  # the query side reads only the scores, never bm25s
    oracle = bm25s.BM25()  # bm25s itself, on its own tokens
    oracle.index([row or [EMPTY_TOKEN] for row in tokenize(texts)], show_progress=False)
    tokens = tokenize([query])[0]
    expected = oracle.get_scores(tokens) if tokens else np.zeros(len(texts))
    np.testing.assert_array_equal(loaded.scores(query), expected)  # the same float32 sums, in the same order
    np.testing.assert_array_equal(loaded.scores(query), built.scores(query))


def test_bm25_postings_read_from_disk_equal_loaded_ones(tmp_path):
    texts = [json.loads(line)["body"] for line in documents_path().read_text().splitlines()]
    SparseIndex.build(texts).save(tmp_path / "bm25")
    loaded = SparseIndex.load(tmp_path / "bm25", len(texts))
    on_disk = SparseIndex.load(tmp_path / "bm25", len(texts), in_memory_max_bytes=0)
    for query in QUERIES:
        np.testing.assert_array_equal(on_disk.scores(query), loaded.scores(query))


@pytest.mark.parametrize("k", [0, 1, 3, 10, 10_000])
def test_bm25_search_returns_the_k_best_of_every_score(tmp_path, k):
    # Repeated short texts make ties; the best-k set must hold the k largest scores whatever
    # the narrowing threshold (the rarest term with k postings) happened to be.
    texts = [json.loads(line)["body"] for line in documents_path().read_text().splitlines()] * 3 + ["", "x"]
    SparseIndex.build(texts).save(tmp_path / "bm25")
    index = SparseIndex.load(tmp_path / "bm25", len(texts), in_memory_max_bytes=0)
    for query in [*QUERIES, "pump pump valve bearing alarm dosing"]:
        every = index.scores(query)
        found = index.search(query, k)
        positive = np.flatnonzero(every > 0)
        assert len(found.best) == min(k, len(positive))
        assert np.all(every[found.best] > 0) and np.all(np.diff(found.best) > 0)
        expected = np.sort(every[positive])[::-1][: len(found.best)]
        np.testing.assert_array_equal(np.sort(every[found.best])[::-1], expected)
        np.testing.assert_array_equal(found.scores_of(np.arange(len(texts))), every)


def test_tokenize_is_unchanged_by_the_reader():
    assert tokenize(["Pumps vibrating"]) == [["pump", "vibrat"]]


def test_row_reader_reads_what_the_array_holds(tmp_path):
    from copmatch.index.vectors import RowReader, open_vectors

    array = np.random.default_rng(2).normal(size=(5_000, 24)).astype(np.float32)
    np.save(tmp_path / "v.npy", array)
    assert isinstance(open_vectors(tmp_path / "v.npy"), np.ndarray)  # small: simply loaded
    reader = open_vectors(tmp_path / "v.npy", in_memory_max_bytes=0)
    assert isinstance(reader, RowReader) and reader.shape == array.shape and len(reader) == 5_000
    rng = np.random.default_rng(3)
    for ids in (rng.integers(0, 5_000, 300), np.arange(100, 140), np.array([7, 7, 3, -1]), np.array([], int)):
        np.testing.assert_array_equal(reader[ids], array[ids])
    np.testing.assert_array_equal(reader[10:20], array[10:20])
    np.testing.assert_array_equal(reader[4], array[4])
    np.testing.assert_array_equal(np.asarray(reader, dtype=np.float32), array)
    with pytest.raises(IndexError):
        reader[np.array([5_000])]


TRICKY = [
    "",
    "the and of a",  # stopwords only: the empty token
    "x y z",  # single letters are no words
    "Don’t “quote” me — it’s 5°C… • £3 €4 «ok» 2×2\u00a0nbsp",  # typographic punctuation, fast path
    "Weißbier ümlaut café 日本酒 naïve",  # word characters beyond ASCII
    "x⁴ e=mc² \u212aelvin İstanbul ǅ",  # superscripts, a Kelvin sign and an İ that lowercase oddly
    "snake_case __init__ a_b PH7 3.14 e-mail foo.bar@baz",
    "a" * 300 + " supercalifragilistic",
    "tab\tnew\nline\rreturn\x00nul\x0bvt",
]


def test_vectorised_tokeniser_gives_bm25s_tokens(monkeypatch):
    """Every row's terms, in order, are bm25s.tokenize's; also when two words share a hash
    key (forced here by a degenerate base) and the chunk falls back to the words themselves."""
    from copmatch.index import term_counts
    from copmatch.index.sparse import EMPTY_TOKEN

    texts = [json.loads(line)["body"] for line in documents_path().read_text().splitlines()] + TRICKY
    expected = [row or [EMPTY_TOKEN] for row in tokenize(texts)]

    def tokens(tokeniser: term_counts.Tokeniser) -> list[list[str]]:
        rows, terms = tokeniser.term_ids(texts)
        names = {i: t for t, i in tokeniser.vocab.items()}
        out: list[list[str]] = [[] for _ in texts]
        for row, term in zip(rows.tolist(), terms.tolist()):
            out[row].append(names[term])
        return out

    assert tokens(term_counts.Tokeniser()) == expected
    monkeypatch.setattr(term_counts, "_HASH_BASES", (0, 0x9E3779B97F4A7C15))  # key = first byte only
    assert tokens(term_counts.Tokeniser()) == expected
