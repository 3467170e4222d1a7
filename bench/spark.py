"""`make bench`, Spark section: the Spark runner in local[2] against the local runner, and a
sweep of the model family Spark fits on a generated dataset larger than the memory Spark is
given.

The runners are whole `python -m sweeplake run` processes, spawn to exit, on the same 2,000 SVR
trials with 5-fold CV and the same seed: the Spark figure includes starting its JVM, as a cron
start would pay it. The forest sweep is one such process too, on `--forest-rows` points (10
million by default, about 1 GiB of doubles) with Spark's JVM given 512 MiB: its figure is the
driver's Python peak RSS (target under 1 GiB: the rows never enter it), with the rows fitted per
second and the wall time. Runs on its own as `python -m bench.spark` (the section alone).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS = (("spark local[2] / local runner trials/s, {spark_trials:,} SVR", ">=", 0.5, "{:.2f}x"),)
FOREST_TARGETS = (("driver Python peak RSS, Spark-fitted forests, MiB", "<=", 1024.0, "{:.0f}"),)
# What Spark's one JVM (driver and executor, in local mode) may use: below the data's size.
SPARK_MEMORY = "512m"
FEATURES = 10
# The forests swept: small, so that a sweep of a 10-million-point dataset ends within the bench.
FOREST_PARAMS = {
    "num_trees": 10,
    "max_depth": 6,
    "max_bins": 32,
    "min_instances_per_node": 20,
    "subsampling_rate": 0.5,
    "feature_subset_strategy": "onethird",
}


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
    seconds, peak = watched(flags, env, f"run --runner {runner}")
    return Run(runner, trials, seconds, peak)


def watched(flags: list[str], env: dict[str, str], what: str) -> tuple[float, int]:
    """`sweeplake run FLAGS` in a process of its own: its wall time from spawn to exit and its
    peak RSS (bytes), read from /proc as it runs."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(
            [sys.executable, "-m", "sweeplake", "run", *flags],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,  # a file, not a pipe: Spark's warnings never fill it and stall it
        )
        peak = 0
        while child.poll() is None:
            peak = max(peak, high_water_mark(child.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        if child.returncode:
            errors.seek(0)
            sys.exit(f"bench: {what} failed: {errors.read().decode()[-800:]}")
    return seconds, peak


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


def generate_dataset(path: Path, rows: int) -> int:
    """A Parquet dataset of `rows` points, written by DuckDB in a stream (never whole in this
    process): FEATURES uniform features from hashes of the point id, a target that mixes them
    non-linearly, one point in five a test point, five folds. Its size in bytes, as doubles."""
    import duckdb

    def uniform(salt: str) -> str:
        return f"(hash(point_id, '{salt}') % 1000000) / 1e6"

    features = ", ".join(f"{uniform(f'x{k}')} AS x{k}" for k in range(FEATURES))
    names = ", ".join(f"x{k}" for k in range(FEATURES))
    target = "10 * x0 + 5 * x1 * x2 - 3 * x3 + sin(6 * x4) + (x5 > 0.5)::DOUBLE + x6 * x7"
    noise = f"({uniform('noise')} - 0.5)"
    split = "hash(point_id, 'split') % 5 != 0"
    connection = duckdb.connect()
    try:
        connection.execute("SET memory_limit = '512MB'")
        connection.execute(
            f"COPY (SELECT 'generated' AS dataset, point_id, is_train, "
            f"CASE WHEN is_train THEN (hash(point_id, 'fold') % 5)::BIGINT END AS fold, "
            f"{names}, {target} + {noise} AS y_true FROM (SELECT point_id, {split} AS is_train, "
            f"{features} FROM (SELECT range AS point_id FROM range({rows})) AS ids) AS x) "
            f"TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 100000)"
        )
    finally:
        connection.close()
    return rows * (FEATURES + 3) * 8


def forest_section(work: Path, rows: int, trials: int) -> tuple[str, tuple[float, ...]]:
    """A sweep of the family Spark fits, `trials` forests on `rows` generated points without CV,
    Spark's memory SPARK_MEMORY: the section's text and the driver's Python peak RSS in MiB."""
    source = work / "generated.parquet"
    made = time.perf_counter()
    size = generate_dataset(source, rows)
    made = time.perf_counter() - made
    params = work / "forests.jsonl"
    params.write_text(
        "".join(
            json.dumps({"model": "spark_random_forest", **FOREST_PARAMS, "seed": seed}) + "\n"
            for seed in range(trials)
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}
    env["SWEEPLAKE_CACHE"] = str(work / "cache")
    # The JVM pyspark launches reads its memory from here, before any session exists.
    memory = f"--driver-memory {SPARK_MEMORY} --conf spark.executor.memory={SPARK_MEMORY}"
    env["PYSPARK_SUBMIT_ARGS"] = f"{memory} pyspark-shell"
    flags = ["--params", str(params), "--dataset", str(source), "--lake", str(work / "lake")]
    flags += ["--cv", "0", "--budget", "36000", "--spark-master", "local[2]"]
    seconds, peak = watched(flags, env, "the Spark-fitted forest sweep")
    lines = [
        f"Spark-fitted forests: {trials} trials ({FOREST_PARAMS['num_trees']} trees, depth "
        f"{FOREST_PARAMS['max_depth']}), no CV, on {rows:,} generated points ({FEATURES} "
        f"features, {size / 2**30:.2f} GiB as doubles, generated in {made:.0f} s), Spark's "
        f"JVM given {SPARK_MEMORY}, local[2]:",
        f"  wall {seconds:.1f} s (JVM start, checks, the lake's data object, fits, facts, "
        f"scores)  {rows * trials / seconds:,.0f} rows/s (points x trials / wall)",
        f"  driver Python peak RSS {peak / 2**20:,.0f} MiB (the JVM not counted)",
    ]
    return "\n".join(lines), (peak / 2**20,)


def main(argv: list[str] | None = None) -> int:
    from bench.bench import targets_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spark-trials", type=int, default=2000, help="SVR trials per runner")
    parser.add_argument("--forest-rows", type=int, default=10_000_000, help="generated points")
    parser.add_argument("--spark-forests", type=int, default=2, help="Spark-fitted forests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only-forests", action="store_true", help="the forest sweep alone, not the runners"
    )
    args = parser.parse_args(argv)
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items())
    print(f"python -m bench.spark {flags}")
    measured, targets = (), ()
    with tempfile.TemporaryDirectory(prefix="sweeplake-bench-spark-") as scratch:
        work = Path(scratch)
        if not args.only_forests:
            (work / "runners").mkdir()
            text, measured = spark_section(work / "runners", args.spark_trials, args.seed)
            targets = TARGETS
            print(text)
        (work / "forests").mkdir()
        text, forests = forest_section(work / "forests", args.forest_rows, args.spark_forests)
        print(text)
    table, passed = targets_table(
        measured + forests, targets + FOREST_TARGETS, {"spark_trials": args.spark_trials}
    )
    print(table)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
