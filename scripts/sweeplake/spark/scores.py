"""Per-trial scores computed by Spark from a batch's facts, with the definitions of
sweeplake.scores.metrics written as Spark aggregations: only one row per trial reaches the
driver.

`score` and `cv_score` there are the definitions; here the same sums over the same points:
R² = 1 - SSE/SST with SST around the mean of those same points (null without spread), RMSE,
MAE and MAPE (percent, over the test points whose target is not 0) over the test points,
`points` the predictions that are not null; cv_r2 and cv_r2_std the mean and population
standard deviation of each fold's R² (null when one is), cv_oof_r2 R² of every out-of-fold
prediction pooled, cv_fold_r2 each fold's R² in fold order as JSON text.
"""

from __future__ import annotations

import json
import math

from sweeplake.scores.metrics import CV_METRICS, METRICS, finite


def fact_scores(facts) -> dict[str, dict]:
    """By hyper_id, the metrics of its facts: a DataFrame of hyper_id, y_pred, y_true,
    is_train (one row per point)."""
    from pyspark.sql import functions as F

    predicted = facts.where(F.col("y_pred").isNotNull())
    means = predicted.groupBy("hyper_id", "is_train").agg(F.avg("y_true").alias("y_mean"))
    joined = predicted.join(F.broadcast(means), ["hyper_id", "is_train"])
    test, train = ~F.col("is_train"), F.col("is_train")
    error = F.col("y_true") - F.col("y_pred")
    spread = F.col("y_true") - F.col("y_mean")

    def total(condition, value):
        return F.sum(F.when(condition, value))

    sums = joined.groupBy("hyper_id").agg(
        total(test, error * error).alias("test_sse"),
        total(test, spread * spread).alias("test_sst"),
        total(train, error * error).alias("train_sse"),
        total(train, spread * spread).alias("train_sst"),
        F.count(F.when(test, 1)).alias("test_points"),
        F.avg(F.when(test, F.abs(error))).alias("test_mae"),
        (F.avg(F.when(test & (F.col("y_true") != 0), F.abs(error / F.col("y_true")))) * 100).alias(
            "test_mape"
        ),
        F.count(F.lit(1)).alias("points"),
    )
    scored = sums.select(
        "hyper_id",
        r2("test_sse", "test_sst").alias("test_r2"),
        r2("train_sse", "train_sst").alias("train_r2"),
        F.when(F.col("test_points") > 0, F.sqrt(F.col("test_sse") / F.col("test_points"))).alias(
            "test_rmse"
        ),
        "test_mae",
        "test_mape",
        "points",
    )
    return collected(scored, METRICS)


def oof_scores(oof) -> dict[str, dict]:
    """By hyper_id, the cv metrics of its out-of-fold facts: a DataFrame of hyper_id, fold,
    y_pred, y_true (one row per training point held out)."""
    from pyspark.sql import functions as F

    predicted = oof.where(F.col("y_pred").isNotNull())
    fold_means = predicted.groupBy("hyper_id", "fold").agg(F.avg("y_true").alias("fold_mean"))
    train_means = predicted.groupBy("hyper_id").agg(F.avg("y_true").alias("train_mean"))
    joined = predicted.join(F.broadcast(fold_means), ["hyper_id", "fold"]).join(
        F.broadcast(train_means), "hyper_id"
    )
    error = F.col("y_true") - F.col("y_pred")
    fold_spread = F.col("y_true") - F.col("fold_mean")
    train_spread = F.col("y_true") - F.col("train_mean")
    per_fold = joined.groupBy("hyper_id", "fold").agg(
        F.sum(error * error).alias("sse"),
        F.sum(fold_spread * fold_spread).alias("fold_sst"),
        F.sum(train_spread * train_spread).alias("sst"),
    )
    per_fold = per_fold.withColumn("fold_r2", r2("sse", "fold_sst"))
    every_fold = F.count(F.col("fold_r2")) == F.count(F.lit(1))
    scored = per_fold.groupBy("hyper_id").agg(
        F.when(every_fold, F.avg("fold_r2")).alias("cv_r2"),
        F.when(every_fold, F.stddev_pop("fold_r2")).alias("cv_r2_std"),
        r2(F.sum("sse"), F.sum("sst")).alias("cv_oof_r2"),
        F.sort_array(F.collect_list(F.struct("fold", "fold_r2"))).alias("fold_r2"),
    )
    return collected(scored, CV_METRICS)


def fold_r2_text(folds) -> str | None:
    """Each fold's R² in fold order as JSON text, as the metrics module writes cv_fold_r2; None
    where one is null or past a double's range."""
    values = [row["fold_r2"] for row in folds]
    known = all(v is not None and math.isfinite(v) for v in values)
    return json.dumps(values) if known else None


def r2(sse, sst):
    """1 - SSE/SST; null where SST is 0 (no spread) or null (no point)."""
    from pyspark.sql import functions as F

    sse = F.col(sse) if isinstance(sse, str) else sse
    sst = F.col(sst) if isinstance(sst, str) else sst
    return F.when(sst != 0, 1 - sse / sst)


def collected(scored, names: tuple[str, ...]) -> dict[str, dict]:
    """One dict per trial, each value past a double's range made null, as the metrics module
    does (JSON has no infinity)."""
    exact = {
        "points": lambda row: row["points"],
        "cv_fold_r2": lambda row: fold_r2_text(row["fold_r2"]),
    }
    return {
        row["hyper_id"]: {
            name: exact[name](row) if name in exact else finite(row[name]) for name in names
        }
        for row in scored.collect()
    }
