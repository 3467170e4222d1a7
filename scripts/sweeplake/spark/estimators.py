"""A batch of a model family that Spark fits (ModelFamily.on_spark): each trial's fits are Spark
jobs over the dataset's DataFrame, its facts are written by Spark tasks as Parquet parts, and
its scores are Spark aggregations over those facts. Only the trials' outcomes and metrics, one
small row each, reach the driver.

The trials are fitted one after another; a trial's fits (on every training point, and with CV
one per fold on the other folds' training points) are Spark jobs submitted at once from driver
threads, each spread over every core Spark has. Then one Spark job per table (facts, and with
CV out-of-fold facts) predicts with every fitted model and writes the predictions: each task
streams its partition's rows, as Arrow, into one Parquet part that it puts into the lake under
a key fixed by the batch and the partition (lake/parts.py), so a retried task overwrites its
own part. The driver lists the parts once the jobs have ended and commits only when they are
exactly those written. The scores are Spark aggregations over the same predictions, computed
again rather than cached.

Nothing is cached by this module: the points are read from the dataset by each job that needs
them (an estimator caches its own input while it fits), and the predictions are computed twice
(to write, to score). A cached DataFrame, even on disk, is read back into the heap a columnar
batch at a time; at 10 million points and a 512 MiB executor that is what ran out of memory.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial, reduce
from pathlib import Path

from sweeplake.errors import LakeUnreachable, SparkFailed
from sweeplake.fitting.fit import Outcome, utc_now
from sweeplake.lake import Lake, open_lake
from sweeplake.lake.parts import PARQUET_PREFIXES, parquet_part_key
from sweeplake.models.registry import family
from sweeplake.samplers.space import Trial
from sweeplake.spark.frames import (
    FEATURES,
    LABEL,
    FrameDataset,
    first_line,
    spark_cause,
    spark_errors,
    starved,
)
from sweeplake.spark.runner import check_parts
from sweeplake.spark.scores import fact_scores, oof_scores

log = logging.getLogger("sweeplake.spark")
PREDICTION = "y_pred"
# How many of a trial's fits (the full fit, each fold's) are Spark jobs at the same time.
CONCURRENT_JOBS = 4
# Rows per row group of a Parquet part: what a writing task holds in memory at most.
ROW_GROUP = 500_000
# The columns of the Parquet facts, as sql/create_predict_parquet.sql and
# sql/create_oof_parquet.sql declare them.
FACT_COLUMNS = {
    "fact": ("hyper_id", "point_id", "y_pred"),
    "oof": ("hyper_id", "point_id", "fold", "y_pred"),
}


@dataclass
class Fitted:
    """One trial's fitted models: on every training point, and per fold (with CV)."""

    hyper_id: str
    trial: Trial
    created_at: str
    fit_ms: float
    cv_ms: float | None
    model: object
    folds: dict[int, object]


def fit_frame_batch(
    spark,
    lake: Lake,
    batch_id: str,
    dt: str,
    data: FrameDataset,
    planned: Sequence[tuple[str, Trial]],
    cv: bool,
    deadline: float,
) -> list[Outcome]:
    """Fit the planned trials (hyper_id, trial) until done or until the next would end past
    `deadline` (time.monotonic()), write their facts and score them; the outcomes by hyper_id.
    LakeUnreachable when the facts could not all be written; SparkFailed when scoring them
    failed. Spark's own failures (out of memory, its JVM gone) are raised as Spark raised them,
    for the caller's spark_faults (sweeplake.spark.session) to say in one line."""
    spark.sparkContext.setJobGroup(f"sweeplake-{batch_id}", f"sweeplake batch {batch_id}")
    points = assembled(data)
    fitted, failed = fit_trials(points, data, planned, cv, deadline)
    metrics = write_and_score(lake, batch_id, dt, points, fitted, cv) if fitted else {}
    outcomes = failed + [
        Outcome(
            f.hyper_id, f.trial, f.created_at, f.fit_ms, None, None, None, metrics[f.hyper_id],
            cv_ms=f.cv_ms,
        )
        for f in fitted
    ]  # fmt: skip
    return sorted(outcomes, key=lambda o: o.hyper_id)


def assembled(data: FrameDataset):
    """The points as every estimator reads them: the features as one vector column."""
    from pyspark.ml.feature import VectorAssembler

    vector = VectorAssembler(inputCols=list(data.features), outputCol=FEATURES)
    return vector.transform(data.frame).select("point_id", "is_train", "fold", FEATURES, LABEL)


def estimator(trial: Trial):
    built = family(trial.model).build(trial.params, trial.seed)
    return built.setFeaturesCol(FEATURES).setLabelCol(LABEL).setPredictionCol(PREDICTION)


def fit_trials(
    points, data: FrameDataset, planned: Sequence[tuple[str, Trial]], cv: bool, deadline: float
) -> tuple[list[Fitted], list[Outcome]]:
    """Each trial fitted, or failed with the error it raised: a failed trial fails no other."""
    from pyspark.sql import functions as F

    train = points.where(F.col("is_train"))
    fitted, failed, slowest = [], [], None
    for hyper_id, trial in planned:
        if slowest is not None and time.monotonic() + slowest > deadline:
            log.info("the budget ends the batch after %d trials", len(fitted) + len(failed))
            break
        created_at, started = utc_now(), time.perf_counter()
        try:
            folds = {k: train.where(F.col("fold") != k) for k in (data.folds if cv else ())}
            (model, fit_ms), *by_fold = at_once(
                train.sparkSession, partial(timed_fit, trial), [train, *folds.values()]
            )
            cv_ms = sum(ms for _, ms in by_fold) if cv else None
            models = dict(zip(folds, (m for m, _ in by_fold), strict=True))
            fitted.append(Fitted(hyper_id, trial, created_at, fit_ms, cv_ms, model, models))
        except Exception as exc:  # a trial's failure is data, recorded with the batch
            if starved(exc):  # ... but Spark's own is not the trial's: no fake failed trial
                raise  # the caller's spark_faults says it in one line
            error = "".join(traceback.format_exception_only(exc)).strip()
            failed.append(Outcome(hyper_id, trial, created_at, None, None, None, short(error)))
        spent = time.perf_counter() - started
        slowest = spent if slowest is None else max(slowest, spent)
    return fitted, failed


def timed_fit(trial: Trial, rows) -> tuple[object, float]:
    """The trial's model fitted on `rows`, and the milliseconds the fit took."""
    started = time.perf_counter()
    model = estimator(trial).fit(rows)
    return model, (time.perf_counter() - started) * 1000


def at_once(spark, work, items: list) -> list:
    """work(item) for every item, submitted from CONCURRENT_JOBS driver threads at once, in
    order; the first error raised, once all have ended. A fit on small data is a chain of short
    Spark jobs that leaves cores idle between them; on big data the jobs share the cores."""
    from pyspark import inheritable_thread_target

    # Each thread's jobs in this thread's job group (the batch's), as Spark's own threads are.
    work = inheritable_thread_target(spark)(work)
    with ThreadPoolExecutor(max_workers=min(CONCURRENT_JOBS, len(items))) as pool:
        return list(pool.map(work, items))


def short(error: str) -> str:
    """py4j's errors carry the Java stack trace: the record keeps the message, not the trace."""
    return first_line(Exception(error)) if "\n\tat " in error else error


def predictions(points, fitted: list[Fitted], cv: bool) -> dict[str, object]:
    """By table, every trial's predictions as one DataFrame: each point's (fact), and with CV
    each training point's by the model of the folds it was held out of (oof)."""
    from pyspark.sql import functions as F

    def predicted(model, rows, hyper_id: str):
        return model.transform(rows).select(
            F.lit(hyper_id).alias("hyper_id"), "point_id", "is_train", "fold", PREDICTION, LABEL
        )

    tables = {"fact": [predicted(f.model, points, f.hyper_id) for f in fitted]}
    if cv:
        held = points.where(F.col("is_train"))
        tables["oof"] = [
            predicted(model, held.where(F.col("fold") == k), f.hyper_id)
            for f in fitted
            for k, model in f.folds.items()
        ]
    return {name: reduce(lambda a, b: a.unionByName(b), each) for name, each in tables.items()}


def write_and_score(
    lake: Lake, batch_id: str, dt: str, points, fitted: list[Fitted], cv: bool
) -> dict[str, dict]:
    """Write the fitted trials' facts as Parquet parts, check them in the lake, score them."""
    spark = points.sparkSession
    tables = predictions(points, fitted, cv)
    # As many parts as Spark has cores: a union of every trial's (and fold's) predictions has
    # a partition per trial and partition of the points, and each part is an object to open.
    # Merging partitions costs no memory: a task streams its rows into its part.
    cores = spark.sparkContext.defaultParallelism
    merged = [(name, frame.coalesce(cores)) for name, frame in tables.items()]
    try:
        parts = at_once(spark, partial(write_parts, lake.uri, dt, batch_id), merged)
    except spark_errors() as exc:  # the job failed past Spark's retries
        if starved(exc):
            raise  # Spark's own failure: the caller's spark_faults says it in one line
        raise LakeUnreachable(  # a task could not put its part
            f"batch {batch_id} was NOT written: its Spark job failed ({first_line(exc)})"
        ) from None
    written = set().union(*parts)
    check_parts(lake, batch_id, dt, written, tuple(PARQUET_PREFIXES[t] for t in tables))
    scorers = {"fact": fact_scores, "oof": oof_scores}
    try:
        metrics, *cv_metrics = at_once(spark, lambda t: scorers[t[0]](t[1]), list(tables.items()))
    except spark_errors() as exc:  # the aggregation's job failed: Spark's fault, not the lake's
        raise SparkFailed(
            f"batch {batch_id} was NOT written: scoring it failed ({spark_cause(exc)})"
        ) from None
    for scores in cv_metrics:
        for hyper_id, found in scores.items():
            metrics[hyper_id].update(found)
    return metrics


def write_parts(lake: str, dt: str, batch_id: str, table: tuple[str, object]) -> set[str]:
    """Write one table's facts, a part per task; the keys the tasks wrote."""
    name, frame = table
    writer = PartWriter(lake, name, dt, batch_id)
    rows = frame.select(*FACT_COLUMNS[name]).mapInArrow(writer, "key string").collect()
    return {row["key"] for row in rows}


@dataclass(frozen=True)
class PartWriter:
    """One Spark task's part of a table: its partition's rows, converted to Arrow by Spark, put
    into the lake as one Parquet object under the key of the batch and the partition."""

    lake: str
    table: str
    dt: str
    batch_id: str

    def __call__(self, batches):
        import pyarrow as pa
        from pyspark import TaskContext

        key = parquet_part_key(self.table, self.dt, self.batch_id, TaskContext.get().partitionId())
        with tempfile.TemporaryDirectory(prefix="sweeplake-part-") as folder:
            path = Path(folder) / "part.parquet"
            rows = write_streamed(batches, path)
            if not rows:
                return  # an empty partition writes nothing, and says so by yielding nothing
            with open(path, "rb") as written:
                digest = hashlib.file_digest(written, "sha256")
            open_lake(self.lake).put_file(key, path, digest.hexdigest())
        yield pa.RecordBatch.from_pydict({"key": [key]})


def write_streamed(batches, path: Path) -> int:
    """Arrow record batches into one Parquet file at `path`, a row group per ROW_GROUP rows,
    holding at most one row group in memory; how many rows were written (0: no file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer, held, count, total = None, [], 0, 0
    try:
        for batch in batches:
            if not batch.num_rows:
                continue
            held.append(batch)
            count += batch.num_rows
            if count >= ROW_GROUP:
                writer = writer or pq.ParquetWriter(path, batch.schema, compression="snappy")
                writer.write_table(pa.Table.from_batches(held))
                total, held, count = total + count, [], 0
        if held:
            writer = writer or pq.ParquetWriter(path, held[0].schema, compression="snappy")
            writer.write_table(pa.Table.from_batches(held))
            total += count
    finally:
        if writer is not None:
            writer.close()
    return total
