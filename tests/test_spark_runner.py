"""`run --runner spark`: the same batch as the local runner, its facts written in parts by Spark
tasks, committed by the driver; a killed Python worker's task retried without loss or
duplicate. Spark runs for real (the session fixture in conftest.py)."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import CACHE, REPO, sweeplake
from lakeread import object_records, records
from sparkworkers import in_thread, kill_jvm_after, python_workers, wait_for

from sweeplake.dataset import load_dataset
from sweeplake.ids import new_id
from sweeplake.lake import LocalLake
from sweeplake.paths import DEFAULT_DATASET
from sweeplake.run import run
from sweeplake.samplers.space import Trial
from sweeplake.spark.runner import fit_on_spark

POINTS = 442
# Far more than any batch here takes, even on a loaded machine: every trial is fitted.
BUDGET = 1800


# What differs between two runs of the same trials: ids, times, the machine.
RUN_KEYS = {"hyper_id", "batch_id", "created_at", "fit_ms", "predict_ms", "cv_ms", "host"}


def by_trial(lake: Path, table: str) -> dict[str, dict[int, float]]:
    """Each trial's predictions by point, keyed by the rest of its hyper record (model,
    parameters, seed, sampler...), since the two runners draw different hyper_ids."""
    trials = {
        h["hyper_id"]: json.dumps({k: v for k, v in h.items() if k not in RUN_KEYS}, sort_keys=True)
        for h in records(lake, "hyper")
    }
    found: dict[str, dict[int, float]] = {}
    for fact in records(lake, table):
        found.setdefault(trials[fact["hyper_id"]], {})[fact["point_id"]] = fact["y_pred"]
    return found


def test_a_spark_run_is_the_local_run_of_the_same_seed(spark, tmp_path: Path) -> None:
    local, on_spark = tmp_path / "local", tmp_path / "spark"
    run(lake=str(local), trials=6, seed=2024, workers=1, budget=BUDGET)
    summary = run(lake=str(on_spark), trials=6, seed=2024, runner="spark", budget=BUDGET)
    assert summary.trials == 6 and summary.failed == 0
    for table in ("fact", "oof"):
        ours, theirs = by_trial(local, table), by_trial(on_spark, table)
        assert ours.keys() == theirs.keys() and len(ours) == 6
        for trial, predictions in ours.items():
            assert predictions.keys() == theirs[trial].keys()
            points = sorted(predictions)
            a = np.array([predictions[p] for p in points])
            b = np.array([theirs[trial][p] for p in points])
            if json.loads(trial)["model"] == "svr":
                np.testing.assert_allclose(b, a, rtol=0, atol=1e-9)
            else:
                assert np.array_equal(a, b)  # forests: the same trees, the same doubles
    # The facts are in parts, one per task, each trial's in one part only; hyper is whole.
    parts = sorted(on_spark.glob("fact/dt=*/*.json.gz"))
    assert len(parts) > 1 and all(".p0" in p.name for p in parts)
    owners = Counter(f["hyper_id"] for p in parts for f in object_records(p))
    assert len(owners) == 6 and set(owners.values()) == {POINTS}  # no trial in two parts
    assert [p.name for p in on_spark.glob("hyper/dt=*/*")] == [f"{summary.batch_id}.json.gz"]
    scores = {s["hyper_id"]: s for s in records(on_spark, "scores")}
    assert len(scores) == 6


def test_a_trial_that_raises_is_a_failed_trial_not_a_failed_task(spark, tmp_path: Path) -> None:
    dataset = load_dataset(DEFAULT_DATASET)
    lake = LocalLake(tmp_path / "lake")
    good = Trial("svr", {"gamma": 1.0, "c": 10.0, "epsilon": 0.1}, 0)
    bad = Trial("svr", {"gamma": -1.0, "c": 10.0, "epsilon": 0.1}, 0)  # scikit-learn refuses it
    batch_id = new_id()
    jobs_before = set(spark.sparkContext.statusTracker().getJobIdsForGroup())
    outcomes = fit_on_spark(
        lake, batch_id, "2026-01-02", dataset, [good, bad, good, bad], {"svr"}, False, 600
    )
    assert sorted(o.ok for o in outcomes) == [False, False, True, True]
    assert all("gamma" in o.error for o in outcomes if not o.ok)
    tracker = spark.sparkContext.statusTracker()
    (job,) = tracker.getJobIdsForGroup(f"sweeplake-{batch_id}")
    assert job not in jobs_before
    stage = tracker.getStageInfo(tracker.getJobInfo(job).stageIds[0])
    assert stage.numFailedTasks == 0  # no task failed, so no good trial was fitted twice
    facts = [f for p in sorted(lake.root.glob("fact/dt=*/*")) for f in object_records(p)]
    assert Counter(f["hyper_id"] for f in facts) == {o.hyper_id: POINTS for o in outcomes if o.ok}


def test_a_killed_python_worker_is_retried_and_every_trial_lands_once(
    spark, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    settings = {"model": "random_forest", "trials": 12, "seed": 5, "cv": 0, "runner": "spark"}
    runner, done = in_thread(lambda: run(lake=str(lake), budget=BUDGET, **settings))
    tracker = spark.sparkContext.statusTracker()

    def fitting() -> list[int]:
        """The Python workers once a task of the batch runs: one of them is fitting its
        trials (a worker whose task has ended, on its way out, may be among them)."""
        stages = [tracker.getStageInfo(s) for s in tracker.getActiveStageIds()]
        running = any(stage is not None and stage.numActiveTasks >= 1 for stage in stages)
        return python_workers() if running else []

    for victim in wait_for(fitting):  # every one: the busy one among them
        os.kill(victim, signal.SIGKILL)
    runner.join(timeout=600)
    assert "error" not in done, done.get("error")
    summary = done["result"]
    (job,) = tracker.getJobIdsForGroup(f"sweeplake-{summary.batch_id}")
    stage = tracker.getStageInfo(tracker.getJobInfo(job).stageIds[0])
    assert stage.numFailedTasks >= 1  # the kill failed a task, and Spark ran it again
    hyper = records(lake, "hyper")
    assert len(hyper) == 12 and len({h["hyper_id"] for h in hyper}) == 12
    assert all(h["status"] == "ok" for h in hyper)
    facts = Counter((f["hyper_id"], f["point_id"]) for f in records(lake, "fact"))
    assert len(facts) == 12 * POINTS and set(facts.values()) == {1}


def test_rank_audit_report_and_promote_read_spark_batches(spark, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    run(lake=str(lake), trials=4, seed=1, workers=1, budget=BUDGET)
    spark_batch = run(lake=str(lake), trials=4, seed=2, runner="spark", budget=BUDGET).batch_id
    # Without its scores object, the batch is scored from its parts: by rank's scores store,
    # then by `rescore`, which writes the object back.
    (scores_object,) = lake.glob(f"scores/dt=*/{spark_batch}.json.gz")
    written = {s["hyper_id"]: s for s in object_records(scores_object)}
    scores_object.unlink()
    audit = sweeplake("rank", "--audit", "--lake", str(lake))
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "8 ranked trials" in audit.stdout
    rescored = sweeplake("rescore", "--lake", str(lake))
    assert rescored.returncode == 0, rescored.stderr
    again = {s["hyper_id"]: s for s in object_records(scores_object)}
    assert again.keys() == written.keys()
    for hyper_id, first in written.items():
        for metric in ("test_r2", "train_r2", "test_rmse", "test_mae", "cv_r2", "cv_oof_r2"):
            assert again[hyper_id][metric] == pytest.approx(first[metric], rel=1e-12), metric
    report = sweeplake("report", "--lake", str(lake), "--out", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr
    spark_trial = next(
        h["hyper_id"] for h in records(lake, "hyper") if h["batch_id"] == spark_batch
    )
    promoted = sweeplake("promote", "--lake", str(lake), "--hyper-id", spark_trial)
    assert promoted.returncode == 0, promoted.stderr
    assert (lake / "models" / spark_trial / "card.json").is_file()


def test_a_spark_run_writes_its_parts_straight_into_an_s3_lake(
    spark, aws, bucket, s3_settings, tmp_path: Path
) -> None:
    uri = f"s3://{bucket}/lake"
    summary = run(lake=uri, trials=4, seed=3, runner="spark", budget=BUDGET)
    listed = aws.client().list_objects_v2(Bucket=bucket, Prefix="lake/")["Contents"]
    keys = [item["Key"] for item in listed if summary.batch_id in item["Key"]]
    # Its pending trials stay on S3 (the job may not delete them): advice, never a result.
    parts = ["fact", "hyper", "oof", "pending", "scores", "timings"]
    assert sorted({k.split("/")[1] for k in keys}) == parts
    assert any(".p0" in k for k in keys if "/fact/" in k)
    assert not list((tmp_path / "spool").glob("*"))  # straight in: nothing waits in the spool
    audit = sweeplake("rank", "--audit", "--lake", uri, env=s3_settings)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "4 ranked trials" in audit.stdout


def test_spark_flags_are_checked_before_any_work(lake: Path) -> None:
    alone = sweeplake("run", "--lake", str(lake), "--spark-master", "local[2]")
    assert alone.returncode == 2 and alone.stderr.count("\n") == 1, alone.stderr
    assert "--runner spark" in alone.stderr
    workers = sweeplake("run", "--lake", str(lake), "--runner", "spark", "--workers", "2")
    assert workers.returncode == 2 and "--workers applies to --runner local" in workers.stderr
    pruned = sweeplake("run", "--lake", str(lake), "--runner", "spark", "--prune")
    assert pruned.returncode == 2 and "--prune applies to --runner local" in pruned.stderr
    unknown = sweeplake("run", "--lake", str(lake), "--runner", "dask")
    assert unknown.returncode == 2 and "local or spark" in unknown.stderr
    assert not lake.exists()


def test_a_jvm_killed_under_a_spark_run_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """kill -9 of Spark's JVM once the batch's tasks are planned (a real fault): one line, exit
    1, no trial recorded as failed, nothing of the batch committed."""
    lake = tmp_path / "lake"
    arguments = ["run", "--runner", "spark", "--trials", "2000", "--model", "svr"]
    arguments += ["--lake", str(lake), "--spark-master", "local[1]"]
    # Logged just before the job that fits the trials.
    rest = kill_jvm_after(arguments, "Spark tasks on", REPO, CACHE, tmp_path)
    assert not list(lake.glob("hyper/*/*")) and not list(lake.glob("scores/*/*")), rest
