"""What a process knows of itself at its very start, from the standard library alone: a
`run --warm` client reads it before handing over, and imports nothing else of sweeplake."""

from __future__ import annotations

import logging
import os


def process_age_ms() -> float | None:
    """Milliseconds since this process started, from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/self/stat") as stat:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/uptime") as uptime_file:
            uptime = float(uptime_file.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK")) * 1000


def configure_logging() -> None:
    """The job's log on stderr: one timestamped line per event."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )
    # botocore's INFO lines (where it found credentials, which endpoint) are not the job's events.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # its font cache is no event of ours
