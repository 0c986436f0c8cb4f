"""Load generator for api_load.py, run as its own process so it does not share the server's GIL.

    python load_driver.py BASE_URL KEY CLIENTS SECONDS [JOB_ID ADMIN_KEY]  < texts.json

Each client sends expert queries back to back for SECONDS (or, given JOB_ID, until that
rebuild job has finished). Prints one JSON object with counts and latency percentiles.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx
import numpy as np


async def client(
    http: httpx.AsyncClient,
    texts: list[str],
    offset: int,
    stop: asyncio.Event,
    latencies: list[float],
    failures: list[str],
) -> None:
    i = offset
    while not stop.is_set():
        body = {"text": texts[i % len(texts)], "limit": 5}
        tick = time.perf_counter()
        try:
            response = await http.post("/v1/experts", json=body)
            if response.status_code != 200:
                failures.append(f"{response.status_code}: {response.text[:200]}")
        except httpx.HTTPError as exc:
            failures.append(repr(exc))
        latencies.append(time.perf_counter() - tick)
        i += 1


async def watch_job(http: httpx.AsyncClient, job_id: str, admin_key: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        response = await http.get(f"/v1/admin/jobs/{job_id}", headers={"X-API-Key": admin_key})
        if response.json().get("status") != "running":
            await asyncio.sleep(2.0)  # keep loading across the swap and just after it
            stop.set()
            return
        await asyncio.sleep(0.25)


async def main() -> None:
    base, key, clients, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    job_id, admin_key = (sys.argv[5], sys.argv[6]) if len(sys.argv) > 6 else (None, None)
    texts = json.loads(sys.stdin.read())
    latencies: list[float] = []
    failures: list[str] = []
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=30, limits=limits) as http:
        start = time.perf_counter()
        tasks = [asyncio.create_task(client(http, texts, i, stop, latencies, failures)) for i in range(clients)]
        if job_id:
            watcher = asyncio.create_task(watch_job(http, job_id, admin_key, stop))
            await asyncio.wait_for(watcher, timeout=seconds)
        else:
            await asyncio.sleep(seconds)
            stop.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "failed": len(failures),
                "failures": failures[:5],
                "seconds": elapsed,
                "rps": len(latencies) / elapsed,
                "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)),
                "p99_ms": float(np.percentile(ms, 99)),
                "max_ms": float(ms.max()),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
