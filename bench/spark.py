"""`make bench`, Spark section: the Spark runner in local[2] against the local runner.

Both are whole `python -m sweeplake run` processes, spawn to exit, on the same 2,000 SVR trials
with 5-fold CV and the same seed: the Spark figure includes starting its JVM, as a cron start
would pay it. Runs on its own as `python -m bench.spark` (the section alone).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS = (("spark local[2] / local runner trials/s, 2,000 SVR", ">=", 0.5, "{:.2f}x"),)


@dataclass(frozen=True)
class Run:
    runner: str
    trials: int
    seconds: float
    driver_peak_rss: int  # bytes: the sweeplake process alone, not Spark's JVM

    @property
    def rate(self) -> float:
        return self.trials / self.seconds


def timed_run(runner: str, lake: Path, trials: int, seed: int, env: dict[str, str]) -> Run:
    """One run, wall clock from spawn to exit; the driver's peak RSS read from /proc as it runs
    (its JVM is a child process, with memory of its own)."""
    flags = ["--model", "svr", "--trials", str(trials), "--budget", "3600", "--cv", "5"]
    flags += ["--seed", str(seed), "--lake", str(lake), "--runner", runner]
    if runner == "spark":
        flags += ["--spark-master", "local[2]"]
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "sweeplake", "run", *flags],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = 0
    while child.poll() is None:
        peak = max(peak, high_water_mark(child.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if child.returncode:
        sys.exit(f"bench: run --runner {runner} failed: {child.stderr.read().decode()[-800:]}")
    return Run(runner, trials, seconds, peak)


def high_water_mark(pid: int) -> int:
    """VmHWM of a live process, in bytes; 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((ln for ln in status.splitlines() if ln.startswith("VmHWM:")), None)
    return int(line.split()[1]) * 1024 if line else 0


def spark_section(work: Path, trials: int, seed: int) -> tuple[str, tuple[float, ...]]:
    """The section's printed text and its measured values, in TARGETS' order."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}
    env["SWEEPLAKE_CACHE"] = str(work / "cache")
    # Interleaved, twice each: other load on the machine only ever slows a run down.
    runs: dict[str, list[Run]] = {"local": [], "spark": []}
    for n in range(2):
        for runner in runs:
            runs[runner].append(timed_run(runner, work / f"{runner}-{n}", trials, seed, env))
    local, spark = (min(runs[r], key=lambda run: run.seconds) for r in ("local", "spark"))
    lines = [
        f"Spark runner: {trials:,} SVR trials, 5-fold CV, whole processes, best of 2 each:",
        f"  local runner (worker processes)  {local.seconds:7.2f} s  {local.rate:7.1f} trials/s"
        f"  driver peak RSS {local.driver_peak_rss / 2**20:,.0f} MiB",
        f"  spark runner, local[2]           {spark.seconds:7.2f} s  {spark.rate:7.1f} trials/s"
        f"  driver peak RSS {spark.driver_peak_rss / 2**20:,.0f} MiB (JVM not counted)",
    ]
    return "\n".join(lines), (spark.rate / local.rate,)


def main(argv: list[str] | None = None) -> int:
    from bench.bench import targets_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spark-trials", type=int, default=2000, help="SVR trials per runner")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"python -m bench.spark --spark-trials {args.spark_trials} --seed {args.seed}")
    with tempfile.TemporaryDirectory(prefix="sweeplake-bench-spark-") as scratch:
        text, measured = spark_section(Path(scratch), args.spark_trials, args.seed)
    print(text)
    table, passed = targets_table(measured, TARGETS)
    print(table)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
