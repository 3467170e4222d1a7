"""A run killed at any moment leaves nothing in the lake that a reader can see half of."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, sweeplake
from tests.lakeread import parse_csv, records
from tests.processes import children, read_until, wait_for, wait_gone


def start_run(lake: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sweeplake", "run", "--lake", str(lake), *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def assert_lake_is_whole(lake: Path) -> int:
    """Every visible object reads whole; every ok trial has all its facts; returns ok trials."""
    if not lake.exists():
        return 0
    for path in lake.glob("*/dt=*/*.json.gz"):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            json.loads(line)
    facts: dict[str, int] = {}
    for fact in records(lake, "fact"):
        facts[fact["hyper_id"]] = facts.get(fact["hyper_id"], 0) + 1
    ok = [h["hyper_id"] for h in records(lake, "hyper") if h["status"] == "ok"]
    points = {p.name: len(p.read_text().splitlines()) for p in lake.glob("data/*.json")}
    assert all(facts.get(hyper_id) in points.values() for hyper_id in ok)
    result = sweeplake("rank", "--lake", str(lake), "--format", "csv", "--limit", "1000000")
    assert result.returncode == 0, result.stderr
    assert len(parse_csv(result.stdout)) == len(ok)
    return len(ok)


def test_kill_at_any_moment_then_carry_on(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for delay in (0.2, 0.7, 1.4, 2.2, 3.1, 4.0):
        process = start_run(lake, "--trials", "100000", "--budget", "3", "--model", "svr")
        time.sleep(delay)
        kill_group(process)
        assert_lake_is_whole(lake)
    assert sweeplake("run", "--lake", str(lake), "--trials", "4", "--workers", "1").returncode == 0
    assert assert_lake_is_whole(lake) >= 4


def test_a_run_killed_alone_takes_its_workers_with_it(tmp_path: Path) -> None:
    """kill -9 of the run process only (cron's timeout, an OOM kill): its workers find their
    pipes closed and exit, instead of waiting for work for ever, and quietly: the stderr they
    share is the run's, whose last line a kill must leave to whoever reports it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sweeplake", "run", "--lake", str(tmp_path / "lake")]
        + ["--trials", "100000", "--budget", "120", "--model", "svr", "--workers", "2"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "100000 trials on" in read_until(process.stderr, "trials on")[-1]
    workers = wait_for(lambda: len(found := children(process.pid)) == 2 and found)
    assert workers, "the run never had its two workers"
    process.kill()
    process.wait()
    assert wait_gone(workers) == []
    left = process.stderr.read()  # its end of file: every writer (the workers too) is gone
    assert "Traceback" not in left and "Error" not in left, left[-600:]


def wide_batch(folder: Path) -> tuple[Path, Path]:
    """Many points and cheap trials: a fact object of a million lines, a long write to catch."""
    dataset = folder / "wide.json"
    dataset.write_text(
        "".join(
            json.dumps({"point_id": i, "is_train": i % 5 > 0, "x": i % 97, "y_true": i % 13}) + "\n"
            for i in range(20000)
        )
    )
    forest = {
        "model": "random_forest",
        "n_estimators": 2,
        "max_depth": 2,
        "min_samples_split": 2,
        "min_samples_leaf": 1,
        "max_features": 1.0,
    }
    params = folder / "params.jsonl"
    params.write_text("".join(json.dumps({**forest, "seed": s}) + "\n" for s in range(50)))
    return dataset, params


def stopped(pid: int) -> bool:
    """The process is stopped (SIGSTOP has taken effect): its state in /proc is T."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def test_a_reader_never_sees_an_object_being_written(tmp_path: Path) -> None:
    """Freeze the writer while its temporary file exists: readers see no object at all yet."""
    dataset, params = wide_batch(tmp_path)
    lake = tmp_path / "lake"
    caught = False
    for _ in range(5):
        process = start_run(lake, "--dataset", str(dataset), "--params", str(params))
        while process.poll() is None and not caught:
            partial = [p for p in lake.glob("fact/dt=*/.*.tmp")]
            if partial:
                os.killpg(process.pid, signal.SIGSTOP)
                wait_for(lambda pid=process.pid: stopped(pid))
                # Frozen with its temporary file in place; else it renamed the file between
                # the listing and the stop (a loaded machine): not mid-write, so run again.
                caught = all(p.exists() for p in partial)
                if not caught:
                    os.killpg(process.pid, signal.SIGCONT)
                    break
        if caught:
            assert not list(lake.glob("fact/dt=*/*.json.gz"))
            assert assert_lake_is_whole(lake) == 0
            kill_group(process)
            break
        process.wait()
        for path in lake.glob("*/dt=*/*.json.gz"):
            path.unlink()
    assert caught, "the writer's temporary file was never seen in five runs"
    assert [p.name.startswith(".") for p in lake.glob("fact/dt=*/*")] == [True]
    assert assert_lake_is_whole(lake) == 0
