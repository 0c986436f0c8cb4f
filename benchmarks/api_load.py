"""HTTP API under load: throughput and latency, then again while an index rebuild runs.

    python -m benchmarks.api_load [--clients 16] [--seconds 30] [--rate 60] [--no-compare]

Imports the sample community into a work dir, starts `copmatch serve` on loopback, and
drives concurrent expert queries from a separate process (benchmarks/lib/load_driver.py).
Phase 1, saturating: every client sends its next query as soon as the last is answered,
which measures capacity. Phase 2, paced: ``--rate`` queries/s in all (Poisson arrivals),
latency counted from when each was due; this is the issue's "sustains 60 requests/s at
p95 <= 200 ms". Phase 3: the embedding cache is dropped, a new document is imported, and a
rebuild is started through the admin API under the same paced load; every failed request
is counted and the new document must be found afterwards.
The bare query encoder's throughput (batches of 16 short texts, same process, before
the server starts) is the reference the issue asks the ratio against. With --compare (the
default) the steady phase also runs, first, on the earlier single-call serving configuration
(one encoder call at a time on every core, all waiting queries in it), so the shipped
``serve_*`` settings are compared with it, saturating, in the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import httpx
import typer

from benchmarks.lib.communities import open_built, unlink_shared_cache
from benchmarks.lib.results import HERE, record
from copmatch import Community, Settings
from copmatch.sample import questions

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "api_load"
NEW_DOCUMENT = {
    "id": "bench-new",
    "kind": "practice",
    "title": "Cathodic protection survey of steel mains",
    "body": "Measure pipe-to-soil potentials at every test post with a copper sulphate reference "
    "electrode; readings more positive than -850 mV mean the main is not protected.",
    "authors": ["m001"],
}
NEW_QUERY = "pipe-to-soil potential survey for cathodic protection"


def bare_encoder_rate(community: Community, texts: list[str], batch: int = 16, rounds: int = 5) -> float:
    community.encode_queries(texts[:batch])  # load the model first
    tick = time.perf_counter()
    for _ in range(rounds):
        for start in range(0, len(texts), batch):
            community.encode_queries(texts[start : start + batch])
    return rounds * len(texts) / (time.perf_counter() - tick)


@dataclass(frozen=True)
class ServingConfig:
    workers: int
    threads: int
    max_batch: int
    encoder: str = "fp32"

    def describe(self) -> str:
        threads = "every core" if self.threads == 0 else f"{self.threads} thread(s)"
        calls = f"{self.workers} encoder call(s) at once"
        return f"{self.encoder}: {calls}, {threads} each, <= {self.max_batch} queries per call"

    def options(self) -> list[str]:
        return [
            "--encoder", self.encoder,
            "--encoder-workers", str(self.workers),
            "--encoder-threads", str(self.threads),
            "--encoder-batch", str(self.max_batch),
        ]  # fmt: skip


SINGLE_CALL = ServingConfig(workers=1, threads=0, max_batch=32)


@contextmanager
def running_server(config: ServingConfig) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start_server(port, config.options())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def start_server(port: int, serve_options: list[str] | None = None) -> subprocess.Popen:
    cli = [sys.executable, "-c", "from copmatch.cli import main; main()"]
    process = subprocess.Popen(
        [*cli, "--data-dir", str(WORK), "serve", "--port", str(port), *(serve_options or [])],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("server did not start")


def drive(
    base: str,
    key: str,
    texts: list[str],
    clients: int,
    seconds: float,
    rate: float | None = None,
    until_job: str | None = None,
    admin_key: str | None = None,
) -> dict:
    """Run load_driver.py against ``base``: saturating, or paced at ``rate`` requests/s in all."""
    args = [sys.executable, "-m", "benchmarks.lib.load_driver", base, key]
    args += ["--clients", str(clients), "--seconds", str(seconds)]
    if rate is not None:
        args += ["--rate", str(rate)]
    if until_job:
        args += ["--until-job", until_job, "--admin-key", admin_key or ""]
    out = subprocess.run(args, input=json.dumps(texts), capture_output=True, text=True, check=True, cwd=HERE.parent)
    return json.loads(out.stdout)


@app.command()
def main(
    clients: int = typer.Option(16, help="Concurrent clients."),
    seconds: float = typer.Option(30.0, help="Length of the saturating and of the paced phase."),
    rate: float = typer.Option(60.0, help="Requests/s offered in the paced phases (the issue's target)."),
    compare: bool = typer.Option(True, help="Also saturate the single-call configuration, first."),
    encoder: str = typer.Option("fp32", help="Encoder of the index and queries: fp32 (default) or int8 (opt-in)."),
) -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    # The server answers with the torch-free ONNX encoder, as after `make demo`.
    community = open_built(WORK, settings=Settings(encoder_variant=encoder))
    keys = {role: community.create_key(role)[1] for role in ("member", "admin")}
    texts = [q["text"] for q in questions()]
    texts += [t.split(".")[0] for t in texts]  # short variants too
    bare_rate = bare_encoder_rate(community, texts)
    community.close()

    defaults = Settings()
    shipped = ServingConfig(
        defaults.serve_encoder_workers, defaults.serve_encoder_threads, defaults.serve_max_batch, encoder
    )
    compared = {}
    if compare:  # the earlier default: one call at a time, on every core, with every waiting query
        single_call = replace(SINGLE_CALL, encoder=encoder)
        with running_server(single_call) as base:
            drive(base, keys["member"], texts, clients, 3.0)  # warm-up, not recorded
            compared[single_call] = drive(base, keys["member"], texts, clients, seconds)

    with running_server(shipped) as base:
        drive(base, keys["member"], texts, clients, 3.0)  # warm-up, not recorded
        saturating = drive(base, keys["member"], texts, clients, seconds)
        paced = drive(base, keys["member"], texts, clients, seconds, rate=rate)

        unlink_shared_cache(WORK)  # make the rebuild do real encoding work
        admin = {"X-API-Key": keys["admin"]}
        httpx.post(f"{base}/v1/admin/import", json={"documents": [NEW_DOCUMENT]}, headers=admin, timeout=30)
        before_version = httpx.get(f"{base}/health/ready").json()["index_version"]
        job = httpx.post(f"{base}/v1/admin/index/rebuild", headers=admin, timeout=30).json()
        during = drive(
            base, keys["member"], texts, clients, 900.0, rate=rate, until_job=job["id"], admin_key=keys["admin"]
        )
        final = httpx.get(f"{base}/v1/admin/jobs/{job['id']}", headers=admin).json()
        found = httpx.post(
            f"{base}/v1/experts",
            json={"text": NEW_QUERY, "limit": 3},
            headers={"X-API-Key": keys["member"]},
            timeout=30,
        ).json()

    new_visible = any(ev["document_id"] == NEW_DOCUMENT["id"] for e in found["experts"] for ev in e["evidence"])
    rows = [
        {"phase": "saturating (capacity)", "serving": shipped.describe(), **_row(saturating)},
        {"phase": f"paced at {rate:g} req/s", "serving": shipped.describe(), **_row(paced)},
        {"phase": f"paced at {rate:g} req/s, during a rebuild", "serving": shipped.describe(), **_row(during)},
    ]
    rows += [
        {"phase": "saturating, for comparison", "serving": config.describe(), **_row(stats)}
        for config, stats in compared.items()
    ]
    checks = [
        {"figure": f"paced: requests/s answered (offered {rate:g})", "value": paced["rps"], "target": "-"},
        {
            "figure": "paced: queries answered / queries due",
            "value": f"{paced['requests'] - paced['failed']}/{paced['due']}",
            "target": "all",
        },
        {"figure": "paced: p95 latency from when due (ms)", "value": paced["p95_ms"], "target": "<= 200"},
        {"figure": "saturating: requests/s (capacity)", "value": saturating["rps"], "target": ">= 60"},
        {"figure": "saturating: p95 latency (ms)", "value": saturating["p95_ms"], "target": "-"},
        {
            "figure": "saturating requests/s / bare encoder texts/s",
            "value": saturating["rps"] / bare_rate,
            "target": "-",
        },
        *(
            {
                "figure": f"saturating requests/s, shipped / {config.describe()}",
                "value": saturating["rps"] / stats["rps"],
                "target": "-",
            }
            for config, stats in compared.items()
        ),
        {"figure": "failed requests during rebuild", "value": during["failed"], "target": "0"},
        {"figure": "during rebuild: p95 latency (ms)", "value": during["p95_ms"], "target": "-"},
        {"figure": "rebuild job status", "value": final["status"], "target": "succeeded"},
        {
            "figure": "new snapshot served without restart",
            "value": f"{before_version} -> {found['index_version']}",
            "target": "changed",
        },
        {"figure": "document imported before the rebuild found after it", "value": new_visible, "target": "True"},
    ]
    record(
        "api_load",
        sizes={
            "corpus": "sample community",
            "clients": clients,
            "seconds": seconds,
            "paced_rps": rate,
            "distinct_queries": len(texts),
            "serving": shipped.describe(),
            "encoder": encoder,
            "rebuild_nice": defaults.rebuild_nice,
        },
        timings={
            "saturating": saturating,
            "paced": paced,
            "during_rebuild": during,
            "bare_encoder_texts_per_s": bare_rate,
            "rebuild": final.get("result", {}).get("timings"),
            "compared": {config.describe(): stats for config, stats in compared.items()},
        },
        quality={"failed_during_rebuild": during["failed"], "new_document_visible": new_visible},
        tables={f"Load ({clients} concurrent clients, loopback)": rows, "Checks": checks},
        notes=f"Saturating: each client sends its next query when the last is answered, so latency there is "
        f"about clients / throughput. Paced: {rate:g} queries/s in all, Poisson arrivals, any free client sends "
        "the next one due, and latency counts from when it was due. The rebuild runs under the paced load, "
        f"at niceness +{defaults.rebuild_nice} (rebuild_nice). Bare query encoder: {bare_rate:.0f} short texts/s in "
        "batches of 16, same machine, before the server started. The load driver is a separate process (raw "
        f"asyncio HTTP/1.1, keep-alive) on the same 2 cores. Serving: {shipped.describe()} (the shipped serve_* "
        "settings).",
    )
    for row in rows + checks:
        print(row)


def _row(stats: dict) -> dict:
    return {k: stats[k] for k in ("requests", "failed", "seconds", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms")}


if __name__ == "__main__":
    app()
