"""The model families Spark fits (ModelFamily.on_spark): their facts are pyspark.ml's own
estimator fitted by the test, their Parquet facts are read by the lake's readers with every
other batch's, and their scores, aggregated by Spark, are numpy's from those facts. Spark runs
for real (the session fixture in conftest.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sweeplake.dataset import load_dataset
from sweeplake.engines.sqlfiles import table_schema
from sweeplake.errors import BadInput
from sweeplake.models.registry import families
from sweeplake.paths import DEFAULT_DATASET
from sweeplake.run import run
from tests.conftest import CACHE, REPO, sweeplake
from tests.lakeread import object_records, records
from tests.sparkworkers import in_thread, kill_jvm_after, python_workers, wait_for

FAMILY = next(name for name, found in families().items() if found.on_spark)
BUDGET = 1800
# Small forests: each fit is a few Spark jobs, and a trial with CV is six fits.
TRIALS = [
    {
        "model": FAMILY,
        "num_trees": 4,
        "max_depth": 3,
        "max_bins": 16,
        "min_instances_per_node": 2,
        "subsampling_rate": 0.8,
        "feature_subset_strategy": "onethird",
        "seed": 11,
    },
    {
        "model": FAMILY,
        "num_trees": 6,
        "max_depth": 4,
        "max_bins": 32,
        "min_instances_per_node": 1,
        "subsampling_rate": 1.0,
        "feature_subset_strategy": "all",
        "seed": 4_000_000_000,
    },
]
ARROW_TYPES = {"STRING": ("string", "large_string"), "BIGINT": ("int64",), "DOUBLE": ("double",)}


def params_file(folder: Path, trials: list[dict]) -> Path:
    path = folder / "params.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in trials))
    return path


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake holding a local batch and a Spark-runner batch on the diabetes dataset, and a batch
    of the family Spark fits on the same points in Parquet with two folds (each fold is a fit:
    two keep the test short), all with cross-validation."""
    folder = tmp_path_factory.mktemp("spark-models")
    lake = folder / "lake"
    run(lake=str(lake), trials=2, seed=3, workers=1, budget=BUDGET)
    run(lake=str(lake), trials=2, seed=4, runner="spark", budget=BUDGET)
    diabetes = load_dataset(DEFAULT_DATASET)
    write_parquet(diabetes, source(lake), "diabetes2", two_folds(diabetes))
    run(lake=str(lake), dataset=source(lake), params=params_file(folder, TRIALS), budget=BUDGET)
    return lake


def two_folds(dataset) -> np.ndarray:
    return np.where(dataset.is_train, dataset.fold % 2, -1)


def source(lake: Path) -> Path:
    """The Parquet dataset of the lake's batch of the family Spark fits."""
    return lake.parent / "diabetes2.parquet"


def write_parquet(dataset, path: Path, name: str, fold: np.ndarray) -> None:
    """The dataset's points as a Parquet file, in pyarrow: the same doubles, integer folds."""
    import pyarrow as pa

    columns = {
        "dataset": [name] * len(dataset.point_ids),
        "point_id": dataset.point_ids,
        "is_train": dataset.is_train,
        "fold": pa.array(fold, mask=~dataset.is_train),
        **{feature: dataset.x[:, i] for i, feature in enumerate(dataset.features)},
        "y_true": dataset.y,
    }
    pq.write_table(pa.table(columns), path)


def family_trials(lake: Path) -> list[dict]:
    return [h for h in records(lake, "hyper") if h["model"] == FAMILY]


def parquet_facts(lake: Path, table: str) -> dict[str, dict]:
    """Each trial's Parquet facts of `table` (fact_parquet, oof_parquet), read by pyarrow."""
    parts = sorted(lake.glob(f"{table}/dt=*/*.parquet"))
    assert parts and all(".p0" in p.name for p in parts)
    rows = pq.read_table(parts).to_pylist()
    found: dict[str, dict] = {}
    for row in rows:
        found.setdefault(row["hyper_id"], {})[row["point_id"]] = row
    return found


def oracle_frame(spark, path: Path):
    """The dataset as pyspark reads it and as a user would assemble it for pyspark.ml."""
    from pyspark.ml.feature import VectorAssembler

    features = list(load_dataset(DEFAULT_DATASET).features)
    frame = spark.read.parquet(str(path))
    return VectorAssembler(inputCols=features, outputCol="features").transform(frame)


def oracle_forest(params: dict, seed: int):
    from pyspark.ml.regression import RandomForestRegressor

    return RandomForestRegressor(
        featuresCol="features",
        labelCol="y_true",
        numTrees=params["num_trees"],
        maxDepth=params["max_depth"],
        maxBins=params["max_bins"],
        minInstancesPerNode=params["min_instances_per_node"],
        subsamplingRate=params["subsampling_rate"],
        featureSubsetStrategy=params["feature_subset_strategy"],
        seed=seed,
    )


def predicted(model, frame) -> dict[int, float]:
    return {r["point_id"]: r["prediction"] for r in model.transform(frame).collect()}


def test_facts_are_pyspark_random_forests_fitted_directly(spark, lake: Path) -> None:
    trials = family_trials(lake)
    assert len(trials) == 2 and {t["status"] for t in trials} == {"ok"}
    facts, oof = parquet_facts(lake, "fact_parquet"), parquet_facts(lake, "oof_parquet")
    frame = oracle_frame(spark, source(lake))
    train = frame.where("is_train")
    for hyper in trials:
        params = json.loads(hyper["params"])
        expected = predicted(oracle_forest(params, hyper["seed"]).fit(train), frame)
        got = {p: row["y_pred"] for p, row in facts[hyper["hyper_id"]].items()}
        assert len(got) == 442 and got == expected
    # Each fold of the first trial: fitted on the other fold, predicting the held-out points.
    first = trials[0]
    params, held = json.loads(first["params"]), oof[first["hyper_id"]]
    assert sorted(held) == sorted(r["point_id"] for r in train.select("point_id").collect())
    assert {row["fold"] for row in held.values()} == {0, 1}
    for k in (0, 1):
        fitted = oracle_forest(params, first["seed"]).fit(train.where(f"fold != {k}"))
        expected = predicted(fitted, train.where(f"fold = {k}"))
        assert {p: held[p]["y_pred"] for p in expected} == expected
        assert {held[p]["fold"] for p in expected} == {k}


def test_parquet_facts_have_the_columns_and_types_of_their_ddl(lake: Path) -> None:
    for table, folder in (("predict_parquet", "fact_parquet"), ("oof_parquet", "oof_parquet")):
        (part, *_) = sorted(lake.glob(f"{folder}/dt=*/*.parquet"))
        schema = pq.read_schema(part)
        columns = table_schema(table).columns
        assert schema.names == list(columns)
        for name, kind in columns.items():
            assert str(schema.field(name).type) in ARROW_TYPES[kind], (table, name)


def numpy_scores(lake: Path) -> dict[str, dict]:
    """Every family trial's metrics from its Parquet facts (pandas) and the dataset file: the
    definitions of docs/lake.md in numpy and scikit-learn, not sweeplake's code."""
    import pandas as pd
    from sklearn.metrics import mean_absolute_error, r2_score

    points = pd.read_parquet(source(lake)).set_index("point_id")
    facts = pd.read_parquet(sorted(lake.glob("fact_parquet/dt=*/*.parquet")))
    oof = pd.read_parquet(sorted(lake.glob("oof_parquet/dt=*/*.parquet")))
    found = {}
    for hyper_id, mine in facts.groupby("hyper_id"):
        truth = points.loc[mine["point_id"]]
        test = ~truth["is_train"].to_numpy()
        y, p = truth["y_true"].to_numpy(), mine["y_pred"].to_numpy()
        held = oof[oof["hyper_id"] == hyper_id]
        y_held = points.loc[held["point_id"], "y_true"].to_numpy()
        per_fold = [
            r2_score(y_held[held["fold"].to_numpy() == k], held["y_pred"][held["fold"] == k])
            for k in sorted(held["fold"].unique())
        ]
        found[hyper_id] = {
            "test_r2": r2_score(y[test], p[test]),
            "train_r2": r2_score(y[~test], p[~test]),
            "test_rmse": float(np.sqrt(np.mean((y[test] - p[test]) ** 2))),
            "test_mae": mean_absolute_error(y[test], p[test]),
            "test_mape": float(np.mean(np.abs((y[test] - p[test]) / y[test])) * 100),
            "points": len(mine),
            "cv_r2": float(np.mean(per_fold)),
            "cv_r2_std": float(np.std(per_fold)),
            "cv_oof_r2": r2_score(y_held, held["y_pred"]),
            "cv_fold_r2": per_fold,
        }
    return found


def test_scores_aggregated_by_spark_are_numpys_from_the_parquet_facts(lake: Path) -> None:
    expected = numpy_scores(lake)
    scores = {s["hyper_id"]: s for s in records(lake, "scores") if s["model"] == FAMILY}
    assert scores.keys() == expected.keys() and len(scores) == 2
    for hyper_id, metrics in expected.items():
        for name, value in metrics.items():
            got = scores[hyper_id][name]
            got = json.loads(got) if name == "cv_fold_r2" else got  # JSON text in the lake
            assert got == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_rank_audit_report_read_every_kind_of_batch_together(lake: Path, tmp_path: Path) -> None:
    ranked = sweeplake("rank", "--lake", str(lake), "--format", "json")
    assert ranked.returncode == 0, ranked.stderr
    rows = json.loads(ranked.stdout)
    assert len(rows) == 6 and sum(r["model"] == FAMILY for r in rows) == 2
    assert {r["dataset"] for r in rows if r["model"] == FAMILY} == {"diabetes2"}
    audit = sweeplake("rank", "--audit", "--lake", str(lake))
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "6 ranked trials" in audit.stdout
    report = sweeplake("report", "--lake", str(lake), "--out", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr
    assert FAMILY in (tmp_path / "r.html").read_text()
    # Without its scores object, the family's batch is scored from its Parquet facts by the
    # scores store (the audit still agrees), then by `rescore`, which writes the object back.
    copy = tmp_path / "lake"
    shutil.copytree(lake, copy)
    (trial, *_) = family_trials(copy)
    (scores_object,) = copy.glob(f"scores/dt=*/{trial['batch_id']}.json.gz")
    written = {s["hyper_id"]: s for s in object_records(scores_object)}
    scores_object.unlink()
    audit = sweeplake("rank", "--audit", "--lake", str(copy))
    assert audit.returncode == 0 and "6 ranked trials" in audit.stdout, audit.stdout
    assert sweeplake("rescore", "--lake", str(copy)).returncode == 0
    again = {s["hyper_id"]: s for s in object_records(scores_object)}
    assert again.keys() == written.keys()
    for hyper_id, first in written.items():
        for metric in ("test_r2", "train_r2", "test_rmse", "test_mae", "cv_r2", "cv_oof_r2"):
            assert again[hyper_id][metric] == pytest.approx(first[metric], rel=1e-12), metric
    # `clear` takes every batch whole: the Spark runner's JSON parts and the Parquet parts too.
    cleared = sweeplake("clear", "--lake", str(copy), "--yes")
    assert cleared.returncode == 0, cleared.stderr
    left = [p for p in copy.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert sorted(p.relative_to(copy).parts[0] for p in left) == ["data", "data"]


def test_a_killed_python_worker_writing_a_part_is_retried_and_every_fact_lands_once(
    spark, aws, proxy, bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lake is S3 through the proxy, which holds the part's upload unanswered: the Python
    worker that sent it is inside its task until the test kills it, however loaded the machine."""
    settings = {
        **aws.env(proxy.endpoint_url),
        "SWEEPLAKE_SPOOL": str(tmp_path / "spool"),
        "SWEEPLAKE_CACHE": str(tmp_path / "cache"),
    }
    for name, value in settings.items():  # this process's, and its Spark tasks' (forwarded)
        monkeypatch.setenv(name, value)
    params = params_file(tmp_path, TRIALS[:1])

    def part_upload(request: tuple[str, str]) -> bool:
        method, path = request
        return method == "PUT" and "/fact_parquet/" in path

    proxy.hold(part_upload)
    uri = f"s3://{bucket}/lake"
    runner, done = in_thread(lambda: run(lake=uri, params=params, cv=0, budget=BUDGET))

    def held() -> list:  # the part's upload reached the proxy, its worker waits for an answer
        return [request for request in proxy.faulted if part_upload(request)]

    wait_for(held, timeout=600)
    proxy.up()  # Spark's retry of the task puts the part through
    for victim in python_workers():  # the one waiting on its upload among them
        os.kill(victim, signal.SIGKILL)
    runner.join(timeout=600)
    assert "error" not in done, done.get("error")
    tracker = spark.sparkContext.statusTracker()
    jobs = tracker.getJobIdsForGroup(f"sweeplake-{done['result'].batch_id}")
    stages = [s for j in jobs for s in tracker.getJobInfo(j).stageIds]
    assert any(tracker.getStageInfo(s).numFailedTasks >= 1 for s in stages)  # retried
    copy = tmp_path / "copy"  # the lake's objects, read back straight from the server
    client = aws.client()
    for item in client.list_objects_v2(Bucket=bucket, Prefix="lake/")["Contents"]:
        local = copy / item["Key"].removeprefix("lake/")
        local.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, item["Key"], str(local))
    facts = pq.read_table(sorted(copy.glob("fact_parquet/dt=*/*.parquet"))).to_pylist()
    counted = Counter((f["hyper_id"], f["point_id"]) for f in facts)
    assert len(counted) == 442 and set(counted.values()) == {1}
    (hyper,) = records(copy, "hyper")
    assert hyper["status"] == "ok"


def test_promote_refuses_a_trial_spark_fitted_in_one_line(lake: Path) -> None:
    (trial, *_) = family_trials(lake)
    done = sweeplake("promote", "--lake", str(lake), "--hyper-id", trial["hyper_id"])
    errors = [line for line in done.stderr.splitlines() if line.startswith("sweeplake: error:")]
    assert done.returncode == 2 and len(errors) == 1, done.stderr
    assert "--hyper-id" in errors[0] and "pyspark.ml" in errors[0]
    assert not (lake / "models").exists()


def test_the_same_points_in_parquet_are_the_same_dataset_for_spark(spark, tmp_path: Path) -> None:
    from sweeplake.lake import LocalLake
    from sweeplake.spark.frames import identify, read_frame

    diabetes = load_dataset(DEFAULT_DATASET)
    path = tmp_path / "diabetes.parquet"
    write_parquet(diabetes, path, diabetes.name, diabetes.fold)
    lake = LocalLake(tmp_path / "lake")
    data = identify(read_frame(spark, path), str(lake.root), None)
    assert (data.name, data.points, data.train) == ("diabetes", 442, int(diabetes.is_train.sum()))
    assert data.folds == (0, 1, 2, 3, 4) and data.sha256 == diabetes.sha256
    assert lake.get("data/diabetes.json") == diabetes.canonical
    # Held under the same name by another dataset: refused, the lake's object left as it was.
    other = tmp_path / "other.parquet"
    write_parquet(diabetes, other, diabetes.name, two_folds(diabetes))
    held = lake.held_dataset_sha256("data/diabetes.json")
    with pytest.raises(BadInput, match="already holds a different dataset named 'diabetes'"):
        identify(read_frame(spark, other), str(lake.root), held)
    assert lake.get("data/diabetes.json") == diabetes.canonical


def test_bad_datasets_are_refused_by_sparks_checks_before_anything_is_written(
    spark, tmp_path: Path
) -> None:
    points = [json.loads(line) for line in DEFAULT_DATASET.read_text().splitlines()]
    cases = {
        "repeat": (lambda p, i: {**p, "point_id": p["point_id"] // 2}, "point_id values repeat"),
        "fold": (lambda p, i: {**p, "fold": 0}, "a test point's fold must be null"),
        "extra": (lambda p, i: {**p, "bmi2": 1.0} if i == 9 else p, "a line has bmi2 as well"),
        "garbled": (lambda p, i: "{not json" if i == 3 else p, "a line is not a JSON object"),
    }
    for name, (change, message) in cases.items():
        source = tmp_path / f"{name}.json"
        changed = [change(p, i) for i, p in enumerate(points)]
        text = [c if isinstance(c, str) else json.dumps(c) for c in changed]
        source.write_text("".join(line + "\n" for line in text))
        lake = tmp_path / f"lake-{name}"
        params = params_file(tmp_path, TRIALS[:1])
        with pytest.raises(BadInput, match=re.escape(message)):
            run(lake=str(lake), dataset=source, params=params)
        assert not lake.exists()


def test_without_pyspark_the_family_is_one_line_and_exit_2(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "pyspark"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no pyspark here')\n")
    path = os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")])
    lake = tmp_path / "lake"
    done = sweeplake("run", "--lake", str(lake), "--model", FAMILY, env={"PYTHONPATH": path})
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"--model {FAMILY} needs pyspark" in done.stderr
    assert not lake.exists()
    mixed = sweeplake(
        "run", "--lake", str(lake), "--params", str(params_file(tmp_path, [*TRIALS[:1], {
            "model": "svr", "gamma": 1.0, "c": 1.0, "epsilon": 0.1}])),
    )  # fmt: skip
    assert mixed.returncode == 2 and "batches of their own" in mixed.stderr
    assert not lake.exists()


def test_a_spark_fitted_batch_writes_its_parts_into_an_s3_lake(
    spark, aws, bucket, s3_settings, tmp_path: Path
) -> None:
    uri = f"s3://{bucket}/lake"
    summary = run(lake=uri, params=params_file(tmp_path, TRIALS[:1]), cv=0, budget=BUDGET)
    listed = aws.client().list_objects_v2(Bucket=bucket, Prefix="lake/")["Contents"]
    keys = sorted(item["Key"] for item in listed)
    assert "lake/data/diabetes.json" in keys
    mine = [k for k in keys if summary.batch_id in k]
    assert sorted({k.split("/")[1] for k in mine}) == ["fact_parquet", "hyper", "scores", "timings"]
    part = next(k for k in mine if "/fact_parquet/" in k)
    assert ".p0" in part and part.endswith(".parquet")
    body = aws.client().get_object(Bucket=bucket, Key=part)["Body"].read()
    assert body[:4] == b"PAR1"
    audit = sweeplake("rank", "--audit", "--lake", uri, env=s3_settings)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "1 ranked trials" in audit.stdout


def test_spark_starved_of_memory_or_its_jvm_is_a_fault_not_bad_input() -> None:
    from sweeplake.spark.frames import spark_cause, starved

    heap = Exception("An error occurred\nCaused by: java.lang.OutOfMemoryError: Java heap space")
    assert starved(heap) and spark_cause(heap) == "java.lang.OutOfMemoryError: Java heap space"
    assert starved(ConnectionRefusedError(111, "Connection refused"))  # the JVM is gone
    # A connection reset mid-answer, which py4j does not retry: it logs the traceback and
    # raises a bare error, built here by py4j's own code from the error answer it substitutes.
    from py4j.protocol import ERROR, Py4JError, get_return_value

    with pytest.raises(Py4JError) as bare:
        get_return_value(ERROR, None, "o17", "setJobGroup")
    assert starved(bare.value) and spark_cause(bare.value).startswith("its JVM is gone")
    assert not starved(Exception("[PATH_NOT_FOUND] Path does not exist: file:/nowhere"))


JVM_GONE_FIRST = """
import logging, sys
from pyspark import SparkContext
from sweeplake.cli import configure_logging
from sweeplake.errors import SparkFailed
from sweeplake.spark.session import spark_faults, spark_session

configure_logging()
spark = spark_session("local[1]")
SparkContext._gateway.proc.kill()  # the JVM pyspark launched, killed ...
SparkContext._gateway.proc.wait()  # ... and gone before the batch's next call to it
try:
    with spark_faults("batch NOT written"):
        spark.sparkContext.setJobGroup("sweeplake-b", "sweeplake batch b")
except SparkFailed as exc:
    print(f"sweeplake: {exc}", file=sys.stderr)
    sys.exit(1)
"""


def test_a_call_after_the_jvm_died_is_spark_failed_without_py4j_tracebacks(
    tmp_path: Path,
) -> None:
    """The other moment of a JVM's death: between two calls. py4j logs the broken connection
    (with its traceback) and raises; sweeplake says one line, and py4j's records are dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}
    env["SPARK_LOCAL_DIRS"] = str(tmp_path)  # the killed JVM's block manager folders
    done = subprocess.run(
        [sys.executable, "-c", JVM_GONE_FIRST], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("sweeplake:")]
    assert len(said) == 1 and "Spark failed (its JVM is gone" in said[0], done.stderr
    assert "/py4j/" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_py4j_records_are_dropped_at_every_level() -> None:
    """py4j logs a broken connection's traceback at ERROR to the root logger, then raises: the
    record is dropped, the error is what sweeplake reports. sweeplake's own records pass."""
    import logging

    import py4j.java_gateway

    from sweeplake.spark.session import Py4JChatter

    def record(path: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(
            "root", level, path, 1, "Exception while sending command.", (), None
        )

    py4j_file = py4j.java_gateway.__file__
    assert not Py4JChatter().filter(record(py4j_file, logging.ERROR))
    assert not Py4JChatter().filter(record(py4j_file, logging.INFO))
    assert Py4JChatter().filter(record(str(REPO / "scripts/sweeplake/run.py"), logging.ERROR))


def test_a_jvm_killed_mid_batch_is_one_line_and_exit_1_with_nothing_written(
    tmp_path: Path,
) -> None:
    """kill -9 of Spark's JVM under a running batch (a real fault): one line, exit 1, no trial
    recorded as failed, nothing of the batch in the lake."""
    lake = tmp_path / "lake"
    bigger = {**TRIALS[1], "num_trees": 40, "max_depth": 8}  # six fits with CV: seconds of work
    arguments = ["run", "--lake", str(lake), "--params", str(params_file(tmp_path, [bigger]))]
    arguments += ["--spark-master", "local[1]"]
    # The batch's plan is logged just before its fits start.
    rest = kill_jvm_after(arguments, "trials on diabetes", REPO, CACHE, tmp_path)
    assert not list(lake.glob("hyper/*/*")) and not list(lake.glob("scores/*/*")), rest
