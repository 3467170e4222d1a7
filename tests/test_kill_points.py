"""kill -9 at chosen points of a run: during the fits, while spooling, during the upload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from test_kill import assert_lake_is_whole, kill_group, wide_batch
from test_s3_lake import assert_each_record_once, lake_objects, spooled

from tests.conftest import REPO, sweeplake
from tests.lakeread import records

RUN = ("run", "--trials", "4", "--workers", "1", "--model", "svr")
WAIT_SECONDS = 120  # only an upper bound for a machine stuck for good: each wait ends on its event


def start(*args: str, settings: dict | None = None) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "sweeplake", *args],
        cwd=REPO,
        env={**base, **(settings or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_kill_during_the_fits_writes_nothing_and_the_next_run_carries_on(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    process = start(
        "run", "--lake", str(lake), "--trials", "100000", "--budget", "600", "--workers", "2"
    )
    fitting_workers(process)
    kill_group(process)
    assert not list(lake.glob("*/dt=*/*"))
    assert sweeplake("run", "--lake", str(lake), *RUN[1:]).returncode == 0
    assert assert_lake_is_whole(lake) == 4


def test_kill_while_spooling_leaves_no_entry_to_ship(aws, bucket, env, tmp_path: Path) -> None:
    spool = Path(env["SWEEPLAKE_SPOOL"])
    lake = f"s3://{bucket}/sweeps"
    dataset, params = wide_batch(tmp_path)
    caught = False
    for _ in range(5):
        process = start(
            "run", "--lake", lake, "--dataset", str(dataset), "--params", str(params), settings=env
        )
        while process.poll() is None and not caught:
            if spool.exists() and any(p.name.startswith(".new-") for p in spool.iterdir()):
                os.killpg(process.pid, signal.SIGKILL)
                caught = True
        process.wait()
        if caught:
            break
    assert caught, "the spool's staging folder was never seen in five runs"
    assert spooled(env) == [] or all(name.startswith(".") for name in spooled(env))
    done = sweeplake("run", "--lake", lake, *RUN[1:], env=env)
    assert done.returncode == 0, done.stderr
    objects = lake_objects(aws.client(), bucket)
    assert_each_record_once(objects, trials=4)


def test_kill_during_the_upload_ships_the_batch_once_on_the_next_run(
    aws, bucket, env, proxy
) -> None:
    lake = f"s3://{bucket}/sweeps"
    victim: list[subprocess.Popen] = []

    def kill_at_the_hyper_put(request: tuple[str, str]) -> bool:
        method, path = request
        if method == "PUT" and "/hyper/" in path:
            os.killpg(victim[0].pid, signal.SIGKILL)  # before S3 has answered the hyper put
            return True
        return False

    proxy.cut_after(kill_at_the_hyper_put)
    victim.append(start("run", "--lake", lake, *RUN[1:], settings=env))
    victim[0].wait(timeout=120)
    assert victim[0].returncode == -signal.SIGKILL
    assert len([n for n in spooled(env) if not n.startswith(".")]) == 1
    proxy.up()
    done = sweeplake("run", "--lake", lake, *RUN[1:], env=env)
    assert done.returncode == 0, done.stderr
    assert [n for n in spooled(env) if not n.startswith(".")] == []
    assert_each_record_once(lake_objects(aws.client(), bucket), trials=8)


def children(pid: int) -> list[int]:
    """The processes whose parent is pid, from /proc (field 4 of stat is the parent)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of pid in clock ticks (fields 14 and 15 of /proc/pid/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0  # gone since it was listed
    return int(fields[11]) + int(fields[12])


def fitting_workers(process: subprocess.Popen, ticks: int = 5) -> list[int]:
    """Wait until a worker process of the run has spent `ticks` of CPU (a fork's own start-up
    takes far less), so it is fitting and holds queued trials; returns the busy workers.

    Waits for the event, however long a loaded machine takes to get there.
    """
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        busy = [pid for pid in children(process.pid) if cpu_ticks(pid) >= ticks]
        if busy:
            return busy
        time.sleep(0.01)
    raise AssertionError(f"no worker started fitting (exit status {process.poll()})")


def test_a_worker_killed_mid_batch_fails_its_trials_and_the_rest_ships(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    process = start(
        "run",
        "--lake",
        str(lake),
        "--trials",
        "100000",
        "--budget",
        "6",
        "--workers",
        "2",
        "--model",
        "svr",
    )
    os.kill(fitting_workers(process)[0], signal.SIGKILL)
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 0, rest
    assert "1 worker process(es) died; the batch goes on" in rest
    hyper = records(lake, "hyper")
    failed = [h for h in hyper if h["status"] == "failed"]
    assert 1 <= len(failed) <= 2 < len(hyper)  # the dead worker's queued trials, no more
    assert all("worker process" in h["error"] for h in failed)
    assert assert_lake_is_whole(lake) == len(hyper) - len(failed)


def test_a_trial_still_running_past_the_budget_is_stopped_and_recorded(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dataset = tmp_path / "noise.json"
    dataset.write_text(
        "".join(
            json.dumps(
                {
                    "point_id": i,
                    "is_train": i % 5 > 0,
                    "a": float(a),
                    "b": float(b),
                    "y_true": float(y),
                }
            )
            + "\n"
            for i, (a, b, y) in enumerate(rng.normal(size=(20000, 3)))
        )
    )  # noise: every tree grows to 16,000 leaves, and 2,000 of them take minutes
    endless = {
        "model": "random_forest",
        "n_estimators": 2000,
        "max_depth": 1000,
        "min_samples_split": 2,
        "min_samples_leaf": 1,
        "max_features": 1.0,
    }
    params = tmp_path / "endless.jsonl"
    params.write_text("".join(json.dumps({**endless, "seed": s}) + "\n" for s in range(2)))
    lake = tmp_path / "lake"
    started = time.monotonic()
    done = sweeplake(
        "run",
        "--lake",
        str(lake),
        "--dataset",
        str(dataset),
        "--params",
        str(params),
        "--budget",
        "2",
        "--workers",
        "2",
    )
    assert done.returncode == 4, done.stderr  # every trial failed: a distinct status
    assert time.monotonic() - started < 120  # the fits alone would take many minutes
    assert "still running 10 s past the budget: stopped" in done.stderr
    hyper = records(lake, "hyper")
    assert [h["status"] for h in hyper] == ["failed", "failed"]
    assert all("still running when the batch's time was up" in h["error"] for h in hyper)
