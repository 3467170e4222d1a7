"""The API's part of `make bench`: a real server, 8 concurrent keep-alive clients on loopback.

The server is `python -m scripts serve` in its own process serving a promoted SVR; each client
is a thread with one HTTP/1.1 connection (the standard library's http.client: the lightest real
client, so the clients take as little as possible of the cores the server needs). Every client
sends the same bounded number of requests; latency is measured per request, at the client.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from scripts.paths import DEFAULT_DATASET

CLIENTS = 8
FEATURE_KEYS = ("dataset", "point_id", "is_train", "y_true")


@dataclass(frozen=True)
class Load:
    name: str
    requests: int
    seconds: float
    latencies: list[float]  # seconds, one per request

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rows(count: int) -> list[dict]:
    points = [json.loads(line) for line in DEFAULT_DATASET.read_text().splitlines()]
    chosen = (points * (count // len(points) + 1))[:count]
    return [{k: v for k, v in p.items() if k not in FEATURE_KEYS} for p in chosen]


def hammer(url: str, name: str, body: bytes, per_client: int) -> Load:
    """CLIENTS threads, each sending per_client POSTs of `body` back to back on one connection."""
    address = urlsplit(url)
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    failures: list[str] = []
    ready = threading.Barrier(CLIENTS + 1)
    headers = {"Content-Type": "application/json"}

    def client(mine: list[float]) -> None:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        ready.wait()
        for _ in range(per_client):
            started = time.perf_counter()
            connection.request("POST", "/predict", body, headers)
            reply = connection.getresponse()
            reply.read()
            mine.append(time.perf_counter() - started)
            if reply.status != 200:
                failures.append(f"HTTP {reply.status}")
        connection.close()

    threads = [threading.Thread(target=client, args=(mine,)) for mine in latencies]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, first: {failures[0]}")
    every = [s for mine in latencies for s in mine]
    return Load(name, len(every), seconds, every)


def measure(url: str, single: int, batched: int) -> list[Load]:
    """Single-row then 100-row requests, after a warm-up of each."""
    one, hundred = json.dumps(rows(1)).encode(), json.dumps(rows(100)).encode()
    hammer(url, "warm-up", one, 25)
    hammer(url, "warm-up", hundred, 5)
    return [
        hammer(url, "POST /predict, 1 row", one, single // CLIENTS),
        hammer(url, "POST /predict, 100 rows", hundred, batched // CLIENTS),
    ]


def table(loads: list[Load]) -> str:
    head = ("request", "requests", "seconds", "req/s", "rows/s", "p50 ms", "p99 ms")
    lines = [head]
    for load in loads:
        per = 100 if "100" in load.name else 1
        lines.append(
            (
                load.name,
                f"{load.requests:,}",
                f"{load.seconds:.2f}",
                f"{load.rate:,.0f}",
                f"{load.rate * per:,.0f}",
                f"{load.percentile(50) * 1000:.2f}",
                f"{load.percentile(99) * 1000:.2f}",
            )
        )
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in lines
    )

