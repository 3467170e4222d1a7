"""The API's part of `make bench`: a real server, 8 concurrent keep-alive clients on loopback.

The server is `python -m sweeplake serve` in its own process serving a promoted SVR; each client
is a thread with one HTTP/1.1 connection (the standard library's http.client: the lightest real
client, so the clients take as little as possible of the cores the server needs). Every client
sends the same bounded number of requests; latency is measured per request, at the client.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

from bench.scale import REPO, lake_env
from sweeplake.paths import DEFAULT_DATASET
from tests.servers import Served

CLIENTS = 8
FEATURE_KEYS = ("dataset", "point_id", "is_train", "fold", "y_true")


@dataclass(frozen=True)
class Load:
    name: str
    rows: int  # per request
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


def hammer(url: str, count: int, per_client: int) -> Load:
    """CLIENTS threads, each sending per_client POSTs of `count` rows back to back on one
    connection."""
    body = json.dumps(rows(count)).encode()
    address = urlsplit(url)
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    failures: list[str] = []
    ready = threading.Barrier(CLIENTS + 1)
    headers = {"Content-Type": "application/json"}

    def client(mine: list[float]) -> None:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        ready.wait()
        try:
            for _ in range(per_client):
                started = time.perf_counter()
                connection.request("POST", "/predict", body, headers)
                reply = connection.getresponse()
                reply.read()
                mine.append(time.perf_counter() - started)
                if reply.status != 200:
                    failures.append(f"HTTP {reply.status}")
        except OSError as exc:
            failures.append(repr(exc))
        finally:
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
    name = f"POST /predict, {count} row{'s' if count > 1 else ''}"
    return Load(name, count, len(every), seconds, every)


def served_loads(work: Path, single: int, batched: int) -> tuple[str, list[Load]]:
    """The best of a 40-trial SVR batch, promoted and served; its card's id and the loads."""
    lake, env = work / "api-lake", lake_env(work / "api-cache")
    for args in (("run", "--model", "svr", "--seed", "0"), ("promote",)):
        command = [sys.executable, "-m", "sweeplake", *args, "--lake", str(lake)]
        subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    served = Served("--lake", str(lake), env={"SWEEPLAKE_CACHE": env["SWEEPLAKE_CACHE"]})
    try:
        hyper_id = json.loads(urlopen(f"{served.url}/model", timeout=30).read())["hyper_id"]
        return hyper_id, measure(served.url, single, batched)
    finally:
        served.close()


def measure(url: str, single: int, batched: int) -> list[Load]:
    """Single-row then 100-row requests, each after a warm-up."""
    hammer(url, 1, 25)
    single_row = hammer(url, 1, single // CLIENTS)
    hammer(url, 100, 3)
    return [single_row, hammer(url, 100, batched // CLIENTS)]


def table_rows(loads: list[Load]) -> list[tuple[str, ...]]:
    rows = [("request", "requests", "seconds", "req/s", "rows/s", "p50 ms", "p99 ms")]
    for load in loads:
        rows.append(
            (
                load.name,
                f"{load.requests:,}",
                f"{load.seconds:.2f}",
                f"{load.rate:,.0f}",
                f"{load.rate * load.rows:,.0f}",
                f"{load.percentile(50) * 1000:.2f}",
                f"{load.percentile(99) * 1000:.2f}",
            )
        )
    return rows
