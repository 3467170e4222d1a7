"""The Lambda runner: one invocation runs one batch into the S3 lake, as `sweeplake run` does.

Settings come from the function's environment (SWEEPLAKE_LAKE, and optionally
SWEEPLAKE_DATASET, SWEEPLAKE_MODEL, SWEEPLAKE_TRIALS, SWEEPLAKE_BUDGET, SWEEPLAKE_WORKERS,
SWEEPLAKE_SAMPLER, SWEEPLAKE_CV, SWEEPLAKE_FAN_OUT).

- Fan-out: with SWEEPLAKE_FAN_OUT=K > 1, a scheduled invocation fits nothing itself: it starts
  K child invocations (asynchronous Invoke of this function), each one batch.
- Retries never duplicate: the batch id, its day and its seed are derived from what a retry
  shares with the first attempt (the EventBridge event's id and time; for a child, its
  parent's and its place among them; else the request id, which Lambda keeps across the
  retries of an asynchronous invocation), so a retry overwrites the same keys.
- No spool: Lambda's disk does not outlive the invocation, so the batch goes straight to S3
  (lake/direct.py). When S3 fails, the invocation fails with one line in the log; Lambda's
  retries, then the on-failure destination, take it from there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sweeplake.errors import BadInput
from sweeplake.ids import encode
from sweeplake.lake.direct import NO_SPOOL
from sweeplake.timings import Start, process_age_ms, process_cpu_s

log = logging.getLogger("sweeplake.lambda")
CHILD = "sweeplake_child"  # the key of a child invocation's event
MAX_FAN_OUT = 100
_cold = True  # the first invocation in this execution environment


class InvocationFailed(Exception):
    """The one line the invocation fails with; the cause was logged."""


@dataclass(frozen=True)
class Unit:
    """What a retried invocation shares with its first attempt, and what follows from it."""

    key: str  # the event's id (or the request id), and for a child its place
    at: datetime  # the event's time

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.key.encode()).digest()

    @property
    def batch_id(self) -> str:
        """A ULID: the event's milliseconds, then 80 bits of the key's digest."""
        ms = int(self.at.timestamp() * 1000)
        return encode((ms << 80) | int.from_bytes(self.digest[:10], "big"))

    @property
    def dt(self) -> str:
        return self.at.strftime("%Y-%m-%d")

    @property
    def seed(self) -> int:
        return int.from_bytes(self.digest[10:14], "big")


def unit_of(event: dict, request_id: str) -> Unit:
    child = event.get(CHILD)
    if isinstance(child, dict):
        return Unit(f"{child['parent']}/{child['index']}", parse_time(child["time"]))
    if isinstance(event.get("id"), str) and isinstance(event.get("time"), str):
        return Unit(event["id"], parse_time(event["time"]))
    return Unit(request_id, datetime.now(UTC))


def parse_time(text: str) -> datetime:
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Settings:
    lake: str
    dataset: Path | None
    model: str | None
    trials: int | None
    budget: float
    workers: int | None
    sampler: str
    cv: int | None
    fan_out: int

    @classmethod
    def from_environment(cls) -> Settings:
        env = os.environ
        lake = env.get("SWEEPLAKE_LAKE", "")
        if not lake.startswith("s3://"):
            raise BadInput(f"SWEEPLAKE_LAKE={lake!r:.80} must be an s3:// lake on Lambda")
        fan_out = number(env, "SWEEPLAKE_FAN_OUT", int) or 1
        if not 1 <= fan_out <= MAX_FAN_OUT:
            raise BadInput(f"SWEEPLAKE_FAN_OUT must be 1 to {MAX_FAN_OUT}, got {fan_out}")
        sampler = env.get("SWEEPLAKE_SAMPLER") or "random"
        if sampler != "random":
            # Caught here, not as an import error three invocations (and two retries) later.
            raise BadInput(
                f"SWEEPLAKE_SAMPLER={sampler!r:.40}: Lambda's package holds the random sampler "
                "only (tpe reads the lake's history with DuckDB and Optuna, which it leaves out)"
            )
        return cls(
            lake=lake,
            dataset=Path(env["SWEEPLAKE_DATASET"]) if env.get("SWEEPLAKE_DATASET") else None,
            model=env.get("SWEEPLAKE_MODEL") or None,
            trials=number(env, "SWEEPLAKE_TRIALS", int),
            budget=number(env, "SWEEPLAKE_BUDGET", float) or 45.0,
            workers=number(env, "SWEEPLAKE_WORKERS", int),
            sampler=sampler,
            cv=number(env, "SWEEPLAKE_CV", int),
            fan_out=fan_out,
        )


def number(env: Mapping[str, str], name: str, kind: type):
    text = env.get(name)
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise BadInput(f"{name}={text!r:.40} must be a number") from None


def handler(event: dict, context) -> dict:
    """The function's entry point (sweeplake.runners.lambda_handler.handler)."""
    global _cold
    entered = time.monotonic()
    cpu_entered = process_cpu_s()
    cold, _cold = _cold, False
    configure_logging()
    try:
        return invoke(event, context, cold, entered, cpu_entered)
    except Exception as exc:  # anything: one log line, then the invocation fails (re-raised) so
        # that Lambda retries it and sends it to the on-failure queue; nothing is swallowed
        from sweeplake.cli import one_line

        line = f"sweeplake: {type(exc).__name__}: {one_line(exc)}"
        log.error("%s", line)
        raise InvocationFailed(line) from None


def invoke(event: dict, context, cold: bool, entered: float, cpu_entered: float) -> dict:
    settings = Settings.from_environment()
    writable_defaults()
    unit = unit_of(event or {}, context.aws_request_id)
    if settings.fan_out > 1 and CHILD not in (event or {}):
        return {"children": fan_out(unit, settings.fan_out, context.invoked_function_arn)}
    from sweeplake.paths import DEFAULT_DATASET
    from sweeplake.run import run

    startup = process_age_ms() if cold else (time.monotonic() - entered) * 1000
    summary = run(
        lake=settings.lake,
        dataset=settings.dataset or DEFAULT_DATASET,
        model=settings.model,
        trials=settings.trials,
        budget=settings.budget,
        workers=settings.workers,
        seed=unit.seed,
        sampler=settings.sampler,
        cv=settings.cv,
        start=Start("lambda", cold, startup, 0.0 if cold else cpu_entered),
        batch_key=(unit.batch_id, unit.dt),
    )
    return {
        "batch_id": summary.batch_id,
        "trials": summary.trials,
        "failed": summary.failed,
        "lake": summary.lake,
    }


def fan_out(unit: Unit, children: int, function: str) -> list[str]:
    """Start the children, asynchronously; each one's event names its parent and place."""
    import boto3

    client = boto3.client("lambda", region_name=function.split(":")[3])  # the function's own
    started = []
    for index in range(children):
        payload = {CHILD: {"parent": unit.key, "index": index, "time": unit.at.isoformat()}}
        client.invoke(
            FunctionName=function, InvocationType="Event", Payload=json.dumps(payload).encode()
        )
        started.append(f"{unit.key}/{index}")
    log.info("started %d child invocations of %s", children, function)
    return started


def writable_defaults() -> None:
    """Lambda's only writable folder is /tmp: the caches go there, and no spool is kept."""
    os.environ["SWEEPLAKE_SPOOL"] = NO_SPOOL
    cache = Path(tempfile.gettempdir()) / "sweeplake-cache"
    os.environ.setdefault("SWEEPLAKE_CACHE", str(cache))
    os.environ.setdefault("MPLCONFIGDIR", str(cache / "matplotlib"))
    # joblib's process pools need /dev/shm, which Lambda lacks; the fits use sweeplake's own.
    os.environ.setdefault("JOBLIB_MULTIPROCESSING", "0")


def configure_logging() -> None:
    """The job's log lines on Lambda's log stream (its runtime sets a handler of its own)."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
