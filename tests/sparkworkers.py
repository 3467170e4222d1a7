"""Spark's Python workers, seen from /proc, for the tests that kill one: a real fault."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def python_workers() -> list[int]:
    """The Python worker processes of Spark's executors: the children of pyspark.daemon."""
    procs = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes().split(b"\0")
            ppid = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone since the listing
        procs[int(entry.name)] = (ppid, b"pyspark.daemon" in cmdline)
    daemons = {pid for pid, (_, daemon) in procs.items() if daemon}
    return [pid for pid, (ppid, _) in procs.items() if ppid in daemons]


def wait_for(condition, timeout: float = 120.0):
    """Poll until condition() is truthy; its value, or a failure naming what never happened."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    pytest.fail(f"{condition.__name__} did not happen within {timeout:g} s")


def no_worker_left() -> bool:  # an earlier job's worker, exiting, is not the next batch's
    return not python_workers()


def in_thread(work: Callable[[], object]) -> tuple[threading.Thread, dict]:
    """work() started in a thread of its own, once no Python worker is left from an earlier
    job; the dict gets its "result", or the "error" it raised, when it ends."""
    done: dict = {}

    def target() -> None:
        try:
            done["result"] = work()
        except BaseException as exc:  # noqa: BLE001  (handed to the test's thread)
            done["error"] = exc

    wait_for(no_worker_left)
    thread = threading.Thread(target=target)
    thread.start()
    return thread, done
