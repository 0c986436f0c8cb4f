"""Load generator for api_load.py, run as its own process so it does not share the server's GIL.

    python load_driver.py BASE_URL KEY CLIENTS SECONDS [JOB_ID ADMIN_KEY]  < texts.json

Each client holds one keep-alive HTTP/1.1 connection and sends expert queries back to back
for SECONDS (or, given JOB_ID, until that rebuild job has finished). Prints one JSON object
with counts and latency percentiles.

The driver shares the server's two cores, so it must cost little: requests are written and
responses read on raw asyncio streams (about 0.1 ms of CPU a request, where an httpx client
took about 2.5 ms, a fifth of a core at the rates measured). Only the rare job-status polls
use httpx.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

import httpx
import numpy as np


class Connection:
    """One keep-alive connection speaking just enough HTTP/1.1 for JSON requests."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port, self.key = host, port, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, body: dict) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nX-API-Key: {self.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        content = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def client(
    connection: Connection,
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
            status, content = await connection.post_json("/v1/experts", body)
            if status != 200:
                failures.append(f"{status}: {content[:200].decode(errors='replace')}")
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            failures.append(repr(exc))
            await connection.close()
        latencies.append(time.perf_counter() - tick)
        i += 1
    await connection.close()


async def watch_job(base: str, job_id: str, admin_key: str, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
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
    url = urlsplit(base)
    latencies: list[float] = []
    failures: list[str] = []
    stop = asyncio.Event()
    start = time.perf_counter()
    tasks = [
        asyncio.create_task(client(Connection(url.hostname, url.port, key), texts, i, stop, latencies, failures))
        for i in range(clients)
    ]
    if job_id:
        await asyncio.wait_for(watch_job(base, job_id, admin_key, stop), timeout=seconds)
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
