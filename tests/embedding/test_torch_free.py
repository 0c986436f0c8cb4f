"""Torch-free serving: cold CLI queries that never import torch, a fresh data dir that gets its
export at build, and the ONNX session's life in a process (its start, its exit, its threads).

Data dirs here find the fp32 export in the shared models folder (``shared_export``), as every
data dir of a checkout does after `make install`; the fresh data dir gets none and makes its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from copmatch import Settings
from copmatch.embedding.exports import SHARED_MODELS_ENV, exports
from tests.support import DATA, built_tiny

MODEL_ID = Settings().model_id


def test_cli_query_never_imports_torch(shared_export, tmp_path, fp32_cache):
    """The cold path: a fresh `copmatch experts` process, traced with -X importtime."""
    data_dir = tmp_path
    built_tiny(data_dir, cache=fp32_cache).close()
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


def test_process_exiting_while_the_encoder_loads_exits_cleanly(shared_export, tmp_path, fp32_cache):
    """onnxruntime aborts a process torn down mid session-build (exit code 134): commands
    that encode nothing must not start the build, and one started must be waited for."""
    data_dir = tmp_path
    built_tiny(data_dir, cache=fp32_cache).close()
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
def test_serving_encoder_keeps_its_thread_count_across_a_rebuild(shared_export, tmp_path, fp32_cache, threads):
    """The server's query encoder runs calls side by side on its own thread count; the build
    encoder a rebuild creates uses every core at the rebuild's lower priority, and must not
    take its place after the swap (whatever the serving thread count)."""
    settings = Settings(serve_encoder_threads=threads)
    community = built_tiny(tmp_path, settings=settings, cache=fp32_cache)
    community.enable_query_batching()
    assert community.find_experts("pipe corrosion", limit=1)
    assert community.serving.current().encoder.threads == threads
    community.build_index()  # as a rebuild through the API does
    assert community.find_experts("pipe corrosion", limit=1)
    assert community.serving.current().encoder is not community.embedder
    assert community.serving.current().encoder.threads == threads
    community.close()


@pytest.mark.slow
def test_fresh_data_dir_import_and_build_then_cold_query_without_torch(tmp_path, fp32_cache, monkeypatch):
    """The README way, nothing else: `import` + `index build` (which exports the encoder when the
    data dir has none), then a cold `copmatch experts` process that never imports torch."""
    data_dir = tmp_path / "fresh"
    (data_dir / "cache").mkdir(parents=True)
    shutil.copy(fp32_cache, data_dir / "cache" / "embeddings.sqlite")  # vectors only; no export copied
    monkeypatch.setenv(SHARED_MODELS_ENV, "")  # nor a shared one: the build must make its own
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
    assert [e.folder.parent for e in exports(data_dir, MODEL_ID)] == [data_dir / "models"]  # made by the build
    result = copmatch("experts", "pipe corrosion", "--limit", "2", "--json", trace=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["experts"]
    modules = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")}
    assert "onnxruntime" in modules
    assert not {m for m in modules if m.split(".")[0] in {"torch", "sentence_transformers", "transformers", "sklearn"}}
