"""Progress for people: one redrawn line on a terminal, one log line per event under cron."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO, sweeplake
from lakeread import holdout_r2_by_trial, records

from sweeplake.paths import DEFAULT_DATASET

LINE = re.compile(
    r"\r(\d+)/(\d+) trials, (\d+) failed · best test R² (\d\.\d{4}) \((svr|random_forest)\) "
    r"· (\d+) s left\x1b\[K"
)


def run_on_a_terminal(*args: str) -> str:
    """The CLI with its stderr on a pseudo-terminal, as a person at a shell sees it."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "sweeplake", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end closed: the process has exited
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert process.wait(timeout=120) == 0, seen.decode(errors="replace")
    return seen.decode()


def test_a_terminal_sees_one_line_redrawn_with_the_best_score_so_far(lake: Path) -> None:
    seen = run_on_a_terminal(
        "run", "--lake", str(lake), "--trials", "6", "--seed", "3", "--workers", "2",
        "--budget", "600", "--cv", "0",  # without CV the line shows the test R²
    )  # fmt: skip
    drawn = LINE.findall(seen)
    assert drawn, seen
    assert [int(d[1]) for d in drawn] == [6] * len(drawn)
    done = [int(d[0]) for d in drawn]
    assert done == sorted(done) and done[-1] == 6
    assert float(drawn[-1][3]) == round(max(holdout_r2_by_trial(lake, DEFAULT_DATASET).values()), 4)
    assert 0 <= int(drawn[-1][5]) <= 600
    # The line is cleared before the end log line, which then starts a clean line.
    assert "\r\x1b[K" in seen and "6 trials (0 failed)" in seen.rsplit("\r\x1b[K", 1)[1]


def test_under_cron_the_log_is_one_line_per_event_and_says_the_budget_ended_it(lake: Path) -> None:
    done = sweeplake(
        "run", "--lake", str(lake), "--model", "svr", "--trials", "1000000", "--budget", "2",
        "--workers", "2", timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 2, lines
    written = len(records(lake, "hyper"))
    assert f": {written} trials (0 failed)" in lines[1]
    assert lines[1].endswith("; the 2 s budget, not the cap of 1000000, ended it")


def test_a_batch_that_reaches_its_cap_does_not_blame_the_budget(lake: Path) -> None:
    done = sweeplake("run", "--lake", str(lake), "--model", "svr", "--trials", "3")
    assert done.returncode == 0, done.stderr
    end = done.stderr.splitlines()[-1]
    assert ": 3 trials (0 failed)" in end and "budget" not in end
