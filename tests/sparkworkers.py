"""Spark's Python workers, seen from /proc, for the tests that kill one: a real fault."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def processes() -> dict[int, tuple[int, list[bytes]]]:
    """Every process, from /proc: its parent's pid and its command line."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes().split(b"\0")
            ppid = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone since the listing
        found[int(entry.name)] = (ppid, cmdline)
    return found


def python_workers() -> list[int]:
    """The Python worker processes of this process's Spark executors: the children of the
    pyspark.daemon its own JVM started. Another test process's Spark (pytest-xdist runs test
    files side by side) has workers of its own, which are not this test's to kill or wait for."""
    procs = processes()
    mine = descendants(os.getpid(), procs)
    daemons = {pid for pid, cmdline in mine.items() if b"pyspark.daemon" in cmdline}
    return [pid for pid, (ppid, _) in procs.items() if ppid in daemons]


def descendants(pid: int, procs: dict | None = None) -> dict[int, list[bytes]]:
    """Every process below pid, with its command line (of `procs`, else a fresh listing)."""
    procs = processes() if procs is None else procs
    found, frontier = {}, {pid}
    while frontier:
        below = {child for child, (ppid, _) in procs.items() if ppid in frontier}
        found.update({child: procs[child][1] for child in below})
        frontier = below
    return found


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


def kill_jvm_after(arguments: list[str], cue: str, cwd: Path, cache: Path, scratch: Path) -> str:
    """Run `sweeplake ARGUMENTS` (with the scores cache `cache`), kill -9 its Spark JVM once it
    logs `cue`, and check how it ends: exit 1, one `sweeplake:` line (the last) saying the JVM
    is gone, no traceback of sweeplake's or py4j's (pyspark's accumulator server may still
    print the end of its connection, from a thread of its own). Returns what it printed on
    stderr after the kill. The killed JVM's block manager folders stay under `scratch`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}
    env |= {"SWEEPLAKE_CACHE": str(cache), "SPARK_LOCAL_DIRS": str(scratch)}
    child = subprocess.Popen(
        [sys.executable, "-m", "sweeplake", *arguments], cwd=cwd, env=env,
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    seen = []
    for line in child.stderr:
        seen.append(line)
        if cue in line:
            break
    (jvm,) = [pid for pid, cmdline in descendants(child.pid).items() if b"java" in cmdline[0]]
    os.kill(jvm, signal.SIGKILL)
    rest = child.stderr.read()
    assert child.wait(timeout=300) == 1, "".join(seen) + rest
    said = [line for line in rest.splitlines() if line.startswith("sweeplake:")]
    assert len(said) == 1 and "Spark failed (its JVM is gone" in said[0], rest
    assert rest.splitlines()[-1] == said[0], rest
    assert "/sweeplake/" not in rest and "/py4j/" not in rest, rest
    return rest
