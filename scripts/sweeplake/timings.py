"""Where a batch's time goes: one line per batch under `timings/`, read by `report`.

`cpu_ms` is the user and system CPU time of the process that ran the batch and of its workers,
up to this record: from the process's start for a command (its imports included; in a fork of a
warm process, from the fork), from the invocation on Lambda. Spark's executors and Lambda's
children are not in it, nor is the client of a warm process (about 0.1 CPU-seconds).

The phases follow one start: `startup` (the process starting and importing, up to the run),
`prepare` (checks, the dataset, the lake's answers, sampling), `fitting` (the fits' wall time;
`fit`, `predict` and `cv` sum the trials' own times across workers), `encode` (the batch's
records) and `write` (into the lake, or spooled and shipped). The object is written after the
batch, since the write is one of its phases; it describes the batch and is no part of it, so a
failure to write it is logged and fails nothing.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from dataclasses import dataclass, field

from sweeplake import __version__
from sweeplake.lake import Lake, gzip_text
from sweeplake.procinfo import process_age_ms

log = logging.getLogger("sweeplake.timings")
PREFIX = "timings"
PHASES = ("startup", "prepare", "fitting", "encode", "write")


@dataclass(frozen=True)
class Start:
    """How the process that runs the batch began: the runner, whether its start was cold (on
    Lambda, the first invocation of a fresh environment; with `run --warm`, a start that found
    no warm process; None where that means nothing), the milliseconds from the process starting
    to the run, and the CPU-seconds the process had used where the batch's count begins (0: from
    the process's start, its imports included)."""

    runner: str = "cli"
    cold: bool | None = None
    startup_ms: float | None = None
    cpu_s: float = 0.0  # the process's CPU-seconds (process_cpu_s) where the batch's begin


def process_cpu_s() -> float:
    """User and system CPU-seconds of this process and of its children it has waited for (the
    batch's workers, once joined)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# Set by `run --warm` (sweeplake/warm.py): in a fork of a warm process, the client's age when
# it handed over, in milliseconds; in a --warm start that found none, started_cold.
client_age_ms: float | None = None
started_cold: bool | None = None


def command_start() -> Start:
    if client_age_ms is not None:  # a fork of a warm process: from the client's start
        return Start("cli", False, client_age_ms + (process_age_ms() or 0.0))
    return Start("cli", started_cold, process_age_ms())


@dataclass
class PhaseClock:
    """Laps of a monotonic clock, one per phase, in milliseconds."""

    start: Start
    phases: dict[str, float] = field(default_factory=dict)
    _last: float = field(default_factory=time.monotonic)

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.phases[phase] = (now - self._last) * 1000
        self._last = now

    def record(self, batch_id: str, dt: str, host: str, outcomes: list) -> dict:
        phases = {"startup": self.start.startup_ms, **self.phases}
        return {
            "batch_id": batch_id,
            "host": host,
            "runner": self.start.runner,
            "cold": self.start.cold,
            "trials": len(outcomes),
            **{f"{p}_ms": phases.get(p) for p in PHASES},
            **{f"{p}_ms": sum(getattr(o, f"{p}_ms") or 0.0 for o in outcomes) for p in TRIAL},
            "wall_ms": sum(v for v in phases.values() if v is not None),
            "cpu_ms": (process_cpu_s() - self.start.cpu_s) * 1000,
            "version": __version__,
            "dt": dt,
        }


TRIAL = ("fit", "predict", "cv")


def timings_key(dt: str, batch_id: str) -> str:
    return f"{PREFIX}/dt={dt}/{batch_id}.json.gz"


def write_timings(lake: Lake, record: dict) -> None:
    """Put the batch's timings; a failure is logged: the batch itself is already in the lake."""
    body = {k: v for k, v in record.items() if k != "dt"}  # dt is the partition, in the key
    try:
        lake.put(timings_key(record["dt"], record["batch_id"]), gzip_text(json.dumps(body) + "\n"))
    except Exception as exc:  # noqa: BLE001 (any failure here must leave the batch as it is)
        log.warning("timings of batch %s not written: %s", record["batch_id"], exc)
