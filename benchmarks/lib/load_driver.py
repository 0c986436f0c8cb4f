"""Load generator for api_load.py, run as its own process so it does not share the server's GIL.

    python -m benchmarks.lib.load_driver BASE_URL KEY --clients 16 --seconds 30 [--rate 60]
        [--until-job ID --admin-key K]
        < texts.json

Each client holds one keep-alive HTTP/1.1 connection. Two ways to load the server:

- **saturating** (no ``--rate``): every client sends its next expert query as soon as the
  last one is answered, so the figures show the server's capacity. With a fixed number
  of clients, latency there is set by throughput (about clients / requests-per-second).
- **paced** (``--rate R``): queries are scheduled at R per second in all, with Poisson
  arrivals (seeded), and any free client sends the next one due. A query's latency runs
  from when it was *due*, not when it was sent, so a server that falls behind is charged
  for the queue it causes (no coordinated omission). This answers "does it sustain R
  requests/s, and at what latency?".

The load runs for ``--seconds``, or with ``--until-job`` until that rebuild job has
finished (and two seconds after). Prints one JSON object with counts and percentiles.

The driver shares the server's two cores, so it must cost little: requests are written and
responses read on raw asyncio streams (about 0.1 ms of CPU a request, where an httpx client
took about 2.5 ms, a fifth of a core at the rates measured). Only the rare job-status polls
use httpx.
"""

from __future__ import annotations

import argparse
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


class Load:
    """What the clients share: the texts, the schedule of due times, and what was measured."""

    def __init__(self, texts: list[str], rate: float | None, seconds: float | None, seed: int = 0) -> None:
        self.texts = texts
        self.rate = rate
        self.stop = asyncio.Event()
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.sent = 0
        self.start = time.perf_counter()
        self._rng = np.random.default_rng(seed)
        self._schedule: list[float] | None = None
        if rate is not None and seconds is not None:
            # A Poisson process given its count: that many arrivals, uniform over the window.
            # So exactly rate * seconds queries come due, and the answered rate is comparable.
            offsets = np.sort(self._rng.uniform(0.0, seconds, round(rate * seconds)))
            self._schedule = (self.start + offsets).tolist()[::-1]  # popped from the end
        self.scheduled = None if self._schedule is None else len(self._schedule)
        self._next_due = self.start

    async def next_query(self) -> tuple[str, float] | None:
        """The next text to send and the time it is due (now, when saturating); None once
        a fixed schedule has run out."""
        text = self.texts[self.sent % len(self.texts)]
        self.sent += 1
        if self.rate is None:
            return text, time.perf_counter()
        # Clients run on one event loop, so taking the next due time needs no lock.
        if self._schedule is not None:
            if not self._schedule:
                return None
            due = self._schedule.pop()
        else:  # until a job ends: an open-ended Poisson stream
            due = self._next_due
            self._next_due += self._rng.exponential(1.0 / self.rate)
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        return text, due


async def client(connection: Connection, load: Load) -> None:
    while not load.stop.is_set():
        query = await load.next_query()
        if query is None or load.stop.is_set():
            break
        text, due = query
        try:
            status, content = await connection.post_json("/v1/experts", {"text": text, "limit": 5})
            if status != 200:
                load.failures.append(f"{status}: {content[:200].decode(errors='replace')}")
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            load.failures.append(repr(exc))
            await connection.close()
        load.latencies.append(time.perf_counter() - due)
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


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("key")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0, help="length, or the limit with --until-job")
    parser.add_argument("--rate", type=float, default=None, help="requests/s in all (Poisson); default: saturate")
    parser.add_argument("--until-job", default=None, help="load until this rebuild job has finished")
    parser.add_argument("--admin-key", default=None)
    return parser.parse_args(argv)


async def main(argv: list[str]) -> None:
    args = parse_args(argv)
    url = urlsplit(args.base)
    load = Load(json.loads(sys.stdin.read()), args.rate, None if args.until_job else args.seconds)
    start = load.start
    tasks = [
        asyncio.create_task(client(Connection(url.hostname, url.port, args.key), load)) for _ in range(args.clients)
    ]
    if args.until_job:
        await asyncio.wait_for(watch_job(args.base, args.until_job, args.admin_key, load.stop), args.seconds)
    elif args.rate is not None:
        await asyncio.gather(*tasks)  # until every scheduled query is answered
    else:
        await asyncio.sleep(args.seconds)
        load.stop.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    answered = len(load.latencies) - len(load.failures)
    ms = np.array(load.latencies) * 1000
    print(
        json.dumps(
            {
                "mode": "saturating" if args.rate is None else "paced",
                "offered_rps": args.rate,
                "due": load.scheduled,
                "requests": len(load.latencies),
                "failed": len(load.failures),
                "failures": load.failures[:5],
                "seconds": elapsed,
                # Successful answers over the whole run, the last queries' drain included (so a
                # paced run that keeps up shows just under its offered rate).
                "rps": answered / elapsed,
                "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)),
                "p99_ms": float(np.percentile(ms, 99)),
                "max_ms": float(ms.max()),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
