"""Processes that are not the test's children: who they are and when they are gone."""

from __future__ import annotations

import os
import select
import time
from pathlib import Path


def children(pid: int) -> list[int]:
    """The pids of a process's children, from /proc (Linux)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(child) for child in text.split()]


def wait_gone(pids: list[int], timeout: float = 60.0) -> list[int]:
    """Wait until each process has exited (a pidfd becomes readable then); the ones still
    running after `timeout` seconds."""
    left = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                left.append(pid)
        finally:
            os.close(fd)
    return left


def read_until(stream, text: str) -> list[str]:
    """Lines of a text stream up to and including the first that holds `text` (or its end)."""
    lines = []
    for line in stream:
        lines.append(line)
        if text in line:
            break
    return lines


def wait_for(condition, timeout: float = 60.0):
    """Poll `condition` until it returns something true, which is returned; None at timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if got := condition():
            return got
        time.sleep(0.02)
    return None
