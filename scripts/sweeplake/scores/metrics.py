"""The one definition of every per-trial metric of the scores layer, in numpy float64.

`sql/rank_runs.sql` computes the same test and train metrics over the facts independently;
`rank --audit` checks that the two agree. A prediction that is missing (NaN here, a null
y_pred in the facts) does not count: the metrics are over the points that have one, and
`points` says how many those are, so that a reader can leave out a trial that does not cover
its dataset.
"""

from __future__ import annotations

import json

import numpy as np

# Metric columns of a scores line, after the hyper record's fields; absent ones are null.
METRICS = ("test_r2", "train_r2", "test_rmse", "test_mae", "test_mape", "points")
# From the trial's out-of-fold predictions; null when it ran without CV.
CV_METRICS = ("cv_r2", "cv_r2_std", "cv_oof_r2", "cv_fold_r2")


def score(y_true: np.ndarray, y_pred: np.ndarray, is_train: np.ndarray) -> dict[str, float | int]:
    """Test and train R² (SST around the mean of the same points), test RMSE, MAE and MAPE,
    points.

    R² is None where its points have no spread (SST = 0) and every test metric is None where
    there is no test point, as SQL's NULLIF and AVG give.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    predicted = ~np.isnan(y_pred)
    test = predicted & ~is_train
    train = predicted & is_train
    test_errors = y_true[test] - y_pred[test]
    test_sse = squares(test_errors)
    count = int(test.sum())
    return {
        "test_r2": finite(r2(y_true[test], y_pred[test])),
        "train_r2": finite(r2(y_true[train], y_pred[train])),
        "test_rmse": finite(float(np.sqrt(test_sse / count))) if count else None,
        "test_mae": finite(float(np.abs(test_errors).mean())) if count else None,
        "test_mape": finite(mape(y_true[test], y_pred[test])),
        "points": int(predicted.sum()),
    }


def finite(value: float | None) -> float | None:
    """None for a value past a double's range (targets near 1e154 square to infinity): JSON,
    and so a scores line, has no infinity or NaN."""
    return value if value is None or np.isfinite(value) else None


def cv_score(y_train: np.ndarray, y_oof: np.ndarray, fold: np.ndarray) -> dict[str, float | None]:
    """cv_r2 and cv_r2_std: the mean and the standard deviation (ddof 0) of each fold's R², as
    cross_val_score's scores and RandomizedSearchCV's mean_test_score and std_test_score are;
    cv_oof_r2: R² of every out-of-fold prediction pooled; cv_fold_r2: each fold's R² in fold
    order, as JSON text (what pruning compares a trial's first folds with). None where a fold's
    R² is None. A pruned trial's are over the folds it got."""
    per_fold = [r2(y_train[fold == k], y_oof[fold == k]) for k in np.unique(fold)]
    known = None not in per_fold
    return {
        "cv_r2": finite(float(np.mean(per_fold))) if known else None,
        "cv_r2_std": finite(float(np.std(per_fold))) if known else None,
        "cv_oof_r2": finite(r2(y_train, y_oof)),
        "cv_fold_r2": json.dumps(per_fold) if known and np.isfinite(per_fold).all() else None,
    }


def mape(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    """Mean absolute percentage error, in percent: the mean of |y_true - y_pred| / |y_true| over
    the points whose target is not 0 (where it has no meaning); None without such a point."""
    nonzero = y_true != 0
    if not nonzero.any():
        return None
    return float(np.mean(np.abs((y_true[nonzero] - y_pred[nonzero]) / y_true[nonzero])) * 100)


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    """1 - SSE/SST, SST around the mean of these same points; None without spread."""
    if len(y_true) == 0:
        return None
    errors = y_true - y_pred
    spread = y_true - y_true.mean()
    sst = squares(spread)
    return None if sst == 0 else 1.0 - squares(errors) / sst


def squares(values: np.ndarray) -> float:
    # numpy's pairwise sum, not BLAS's dot: the same bits on every run, no thread pool.
    return float(np.square(values).sum())
