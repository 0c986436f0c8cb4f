"""Building on Ray: a local 2-CPU Ray instance chunks and encodes as the local build does."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from copmatch import Settings
from copmatch.embedding.ray_pipeline import RayMissingError, import_ray
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


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RayMissingError) as raised:
        import_ray()
    assert raised.value.hint == "pip install 'copmatch[ray]'"
