"""Pending trials: a running batch's trials are seen by other batches' samplers, a dead batch's
expire, and none of them is ever a result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from optuna.trial import TrialState

from sweeplake.dataset import load_dataset
from sweeplake.lake import open_lake
from sweeplake.lake.pending import PREFIX, key_expiry, pending_key, pending_trials
from sweeplake.paths import DEFAULT_DATASET
from sweeplake.samplers.history import ScoresHistory
from sweeplake.samplers.space import load_space
from sweeplake.samplers.tpe import distribution, study_of
from tests.conftest import CACHE, REPO, sweeplake
from tests.lakeread import records
from tests.test_sampler import clean_env, mirror

SPACE = load_space()
SHA256 = load_dataset(DEFAULT_DATASET).sha256


def start_batch(lake: str, env: dict) -> tuple[subprocess.Popen, str]:
    """A random batch far longer than the test, and its id once its pending trials are out."""
    command = [sys.executable, "-m", "sweeplake", "run", "--lake", lake, "--model", "svr"]
    command += ["--trials", "100000", "--budget", "3600", "--workers", "1", "--seed", "5"]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env={**clean_env(), "SWEEPLAKE_CACHE": str(CACHE), **env},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    for line in process.stderr:  # the batch's first line comes once it has announced
        if "trials on" in line:
            return process, line.split("batch ", 1)[1].split(":", 1)[0]
    process.wait()
    raise AssertionError(f"the batch ended before it started fitting: {process.returncode}")


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def pending_objects(lake: Path) -> dict[str, dict]:
    folder = lake / PREFIX
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def test_a_running_batch_is_seen_a_dead_one_expires_and_neither_is_a_result(
    aws, request, tmp_path: Path, monkeypatch
) -> None:
    """On S3, where the job's role may not delete: a committed batch's pending object stays,
    superseded by its scores."""
    env = {"SWEEPLAKE_SPOOL": str(tmp_path / "spool"), **aws.env()}
    lake = f"s3://{aws.new_bucket()}/sweeps"
    tpe = ("run", "--lake", lake, "--model", "svr", "--sampler", "tpe", "--budget", "3600")
    # In rounds of 3 (a thin history), the first ones random (no history to learn from).
    seeded = sweeplake(*tpe, "--trials", "12", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert "pending" not in seeded.stderr

    running, running_id = start_batch(lake, env)
    try:
        seeing = sweeplake(*tpe, "--trials", "4", env=env)
        assert seeing.returncode == 0, seeing.stderr
        assert "(pending in other batches: svr 500)" in seeing.stderr
        again = sweeplake(*tpe, "--trials", "4", env=env)
        # The batch before committed: its pending trials, left on S3, are results now.
        assert "(pending in other batches: svr 500)" in again.stderr, again.stderr
    finally:
        kill(running)  # dead: no commit ever comes

    local = mirror(lake, tmp_path / "mirror", request)
    held = pending_objects(local)
    hypers = records(local, "hyper")
    # Each committed batch's object stays on S3 (superseded by its scores), and the dead one's.
    assert len(held) == len({h["batch_id"] for h in hypers}) + 1
    assert running_id in [p["batch_id"] for p in held.values()]
    (dead,) = [name for name, p in held.items() if p["batch_id"] == running_id]
    announced = held[dead]["trials"]
    assert len(announced) == 500 and {t["model"] for t in announced} == {"svr"}
    assert {t["space_sha256"] for t in announced} == {SPACE.sha256("svr")}

    assert len(hypers) == 20 and running_id not in {h["batch_id"] for h in hypers}
    board = sweeplake("rank", "--lake", lake, "--limit", "100", "--format", "json", env=env)
    assert board.returncode == 0, board.stderr
    assert running_id not in board.stdout and len(json.loads(board.stdout)) == 20

    # Past its expiry the dead batch's trials are listed by no one.
    expires = key_expiry(PREFIX + dead)
    assert expires == held[dead]["expires"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    lake_now = open_lake(lake)
    before, after = (pending_trials(lake_now, SHA256, now=now) for now in (expires - 1, expires))
    assert sum(t.batch_id == running_id for t in before) == 500
    assert running_id not in {t.batch_id for t in after}


def test_an_expired_object_is_discarded_and_pending_trials_run_in_the_study(
    tmp_path: Path, monkeypatch
) -> None:
    """A dead batch's object, long expired, goes when the next batch announces; an unexpired
    one of another batch reaches TPE's study as RUNNING trials."""
    lake = tmp_path / "lake"
    monkeypatch.setenv("SWEEPLAKE_CACHE", str(tmp_path / "cache"))
    seeded = sweeplake("run", "--lake", str(lake), "--model", "svr", "--trials", "12")
    assert seeded.returncode == 0, seeded.stderr
    trials = SPACE.sample(["svr"], 6, seed=3)
    body = {
        "batch_id": "01DEAD",
        "dataset_sha256": SHA256,
        "trials": [
            {"model": "svr", "space_sha256": SPACE.sha256("svr"), "params": t.params}
            for t in trials
        ],
    }
    expired, live = lake / pending_key("01DEAD", 1_000_000_000), lake / pending_key("01LIVE", 4e9)
    for path, batch_id in ((expired, "01DEAD"), (live, "01LIVE")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**body, "batch_id": batch_id}))

    history = ScoresHistory(str(lake), SHA256)
    past = history.past("svr", SPACE.sha256("svr"))
    assert past.pending == [t.params for t in trials]  # the live batch's, not the expired one's
    assert history.past("random_forest", SPACE.sha256("random_forest")).pending == []
    space = {p.name: distribution(p) for p in SPACE.models["svr"]}
    states = [t.state for t in study_of(space, past.trials, 0, past.pending).trials]
    assert states.count(TrialState.RUNNING) == 6 and states.count(TrialState.COMPLETE) == 12

    done = sweeplake("run", "--lake", str(lake), "--model", "svr", "--trials", "2")
    assert done.returncode == 0, done.stderr
    # The expired object went on the way, the new batch's own once it committed.
    assert sorted((lake / PREFIX).iterdir()) == [live]
    assert len(records(lake, "hyper")) == 14
