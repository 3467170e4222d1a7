"""The scores layer's metrics against scikit-learn's, and the scores object the job writes."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    r2_score,
)

from sweeplake.dataset import load_dataset
from sweeplake.engines.sqlfiles import table_schema
from sweeplake.ids import new_id
from sweeplake.lake import LocalLake
from sweeplake.run import encode_batch, fit_batch, trial_lineage
from sweeplake.samplers.space import Trial, load_space
from sweeplake.scores.metrics import METRICS, score
from tests.conftest import REPO
from tests.lakeread import records

DATASET = load_dataset(REPO / "data" / "diabetes.json")
FOREST = {
    "n_estimators": 12,
    "max_depth": 4,
    "min_samples_split": 2,
    "min_samples_leaf": 3,
    "max_features": 0.5,
}


def sklearn_metrics(y_true: np.ndarray, y_pred: np.ndarray, is_train: np.ndarray) -> dict:
    kept = ~np.isnan(y_pred)
    test, train = kept & ~is_train, kept & is_train
    return {
        "test_r2": r2_score(y_true[test], y_pred[test]),
        "train_r2": r2_score(y_true[train], y_pred[train]),
        "test_rmse": math.sqrt(mean_squared_error(y_true[test], y_pred[test])),
        "test_mae": mean_absolute_error(y_true[test], y_pred[test]),
        "test_mape": mean_absolute_percentage_error(y_true[test], y_pred[test]) * 100,
        "points": int(kept.sum()),
    }


@pytest.mark.parametrize("missing", [0, 1, 25])
def test_metrics_equal_scikit_learns_with_and_without_missing_predictions(missing: int) -> None:
    rng = np.random.default_rng(missing)
    y_pred = DATASET.y + rng.normal(0, 40, len(DATASET.y))
    y_pred[rng.choice(len(y_pred), missing, replace=False)] = np.nan
    ours = score(DATASET.y, y_pred, DATASET.is_train)
    theirs = sklearn_metrics(DATASET.y, y_pred, DATASET.is_train)
    assert list(ours) == list(METRICS)
    assert ours["points"] == len(DATASET.y) - missing
    for name in METRICS:
        assert ours[name] == pytest.approx(theirs[name], rel=1e-12, abs=1e-12), name


def test_no_spread_or_no_test_point_gives_null_not_a_number() -> None:
    flat = np.full(6, 3.0)
    is_train = np.array([True, True, True, False, False, False])
    assert score(flat, flat + 1, is_train)["test_r2"] is None
    no_test = score(flat, np.array([1.0, 2, 3, np.nan, np.nan, np.nan]), is_train)
    assert no_test["test_rmse"] is None and no_test["test_mae"] is None


def test_a_metric_past_a_doubles_range_is_null() -> None:
    y_true = np.array([1e160, 1.0, 2.0, 3.0, 0.0, 1.0])  # its square is past 1.8e308
    is_train = np.array([False, True, True, False, True, False])
    metrics = score(y_true, y_true * 0.5, is_train)
    assert metrics["test_r2"] is None and metrics["test_rmse"] is None
    assert metrics["test_mae"] == pytest.approx(0.5e160 / 3) and metrics["train_r2"] is not None


def test_the_job_writes_one_scores_line_per_trial_after_its_hyper_record(tmp_path: Path) -> None:
    trials = [
        Trial("svr", {"gamma": 0.5, "c": 20.0, "epsilon": 0.1}, 0),
        Trial("svr", {"gamma": -1.0, "c": 20.0, "epsilon": 0.1}, 0),  # scikit-learn refuses it
        Trial("random_forest", FOREST, 3),
    ]
    outcomes, facts = fit_batch(DATASET, trials, {"svr", "random_forest"}, 2, time.monotonic() + 60)
    batch = encode_batch(
        new_id(), DATASET, outcomes, trial_lineage(load_space(), "params", {}), facts
    )
    assert list(batch.objects) == ["fact", "hyper", "scores"]
    LocalLake(tmp_path / "lake").write_batch(batch, DATASET)
    lake = tmp_path / "lake"
    hyper = {r["hyper_id"]: r for r in records(lake, "hyper")}
    scores = records(lake, "scores")
    schema = table_schema("scores")
    assert len(scores) == 3
    by_id = {h: np.full(len(DATASET.y), np.nan) for h in hyper}
    position = {int(p): i for i, p in enumerate(DATASET.point_ids)}
    for fact in records(lake, "fact"):
        by_id[fact["hyper_id"]][position[fact["point_id"]]] = fact["y_pred"]
    [dt] = {p.parent.name.removeprefix("dt=") for p in lake.glob("hyper/dt=*/*.json.gz")}
    for line in scores:
        assert list(line) == [*schema.columns, *schema.partitions]
        trial = hyper[line["hyper_id"]]
        assert {k: line[k] for k in trial} == trial
        assert line["dt"] == dt
        if trial["status"] == "failed":
            assert all(line[name] is None for name in METRICS)
            continue
        expected = sklearn_metrics(DATASET.y, by_id[line["hyper_id"]], DATASET.is_train)
        for name in METRICS:
            assert line[name] == pytest.approx(expected[name], rel=1e-12), name
    assert sorted(line["status"] for line in scores) == ["failed", "ok", "ok"]


def test_the_scores_ddl_holds_every_hyper_column_then_the_metrics() -> None:
    hyper = list(table_schema("hyperparams").columns)
    scores = list(table_schema("scores").columns)
    assert scores[: len(hyper)] == hyper
    assert set(METRICS) <= set(scores[len(hyper) :])
