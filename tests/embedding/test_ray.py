"""Building on Ray: a local 2-CPU Ray instance chunks and encodes as the local build does."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from copmatch import Settings
from copmatch.embedding.cache import EmbeddingCache, encode_cached, text_hash
from copmatch.embedding.ray_pipeline import RayMissingError, RayPipeline, actor_layout, import_ray
from copmatch.index.snapshot import PASSAGE_VECTORS
from copmatch.ranking.retrieval import Searcher
from tests.support import open_community

# One pytest-xdist worker runs this module (its module fixture starts one local Ray instance).
pytestmark = pytest.mark.xdist_group("embedding.test_ray")


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, object_store_memory=256 << 20, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_build_gives_the_local_vectors(local_ray, tiny_built, tmp_path, embedder):
    path = tmp_path / "on-ray"
    shutil.copytree(tiny_built, path)
    shutil.rmtree(path / "cache")  # nothing cached: every passage and profile is encoded on Ray
    # The 24 passages go to encoder actors; the 5 profiles stay local (below ray_min_texts).
    community = open_community(path, embedder, Settings(ray_min_texts=10))
    local = community.snapshots.current_path()
    report = community.build_index(full=True, ray_address="auto")
    assert report.encoded == report.passages + 5  # five members have a profile
    assert community.snapshots.current_path() != local
    np.testing.assert_allclose(np.load(report.path / PASSAGE_VECTORS), np.load(local / PASSAGE_VECTORS), atol=1e-5)
    model = embedder.model_id
    ray_texts, local_texts = Searcher.open(report.path, model), Searcher.open(local, model)
    ids = list(range(report.passages))
    assert ray_texts.passage_texts(ids) == local_texts.passage_texts(ids)
    community.close()


@pytest.mark.slow
def test_one_encoder_actor_per_machine_serves_every_encoding(local_ray, embedder, tmp_path):
    assert actor_layout(local_ray) == (1, 2)  # one machine: one actor holding both CPUs
    texts = [f"Passage {i}: " + "how long should a stout age in the bottle " * (i % 9 + 1) for i in range(60)]
    with RayPipeline("auto", embedder, Settings(ray_min_texts=1)) as pipeline:
        cache = EmbeddingCache(tmp_path / "embeddings.sqlite", embedder.cache_key)
        # Runs of 16 committed as they come back, all from one stream of blocks.
        vectors, encoded = encode_cached(pipeline.encoder, cache, texts, commit_every=16)
        actors = pipeline.encoder_actors()
        again = pipeline.encoder.encode(texts[:7])
        assert pipeline.encoder_actors() == actors and len(actors) == 1  # started once, reused
        assert encoded == len(texts)
        assert len(cache.get_many([text_hash(t) for t in texts], embedder.dimension)) == len(texts)
        cache.close()
    assert not pipeline._actors  # closing gives the CPUs back
    np.testing.assert_allclose(vectors, embedder.encode(texts), atol=1e-5)
    np.testing.assert_allclose(again, vectors[:7], atol=1e-5)


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RayMissingError) as raised:
        import_ray()
    assert raised.value.hint == "pip install 'copmatch[ray]'"
