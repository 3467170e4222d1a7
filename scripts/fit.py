"""Fitting one trial and predicting every point: the unit of work a worker runs."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from scripts.dataset import Dataset
from scripts.space import Trial


@dataclass
class Outcome:
    """What became of a trial: its predictions as NDJSON fact lines, or the error it raised."""

    hyper_id: str
    trial: Trial
    created_at: str
    fit_ms: float | None
    predict_ms: float | None
    facts: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def estimator_class(model: str) -> type:
    # Imported on first use: an SVR-only start never pays for sklearn.ensemble.
    if model == "svr":
        from sklearn.svm import SVR

        return SVR
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor


def make_estimator(trial: Trial):
    p = trial.params
    estimator = estimator_class(trial.model)
    if trial.model == "svr":
        return estimator(kernel="rbf", gamma=p["gamma"], C=p["c"], epsilon=p["epsilon"])
    return estimator(
        n_estimators=p["n_estimators"],
        max_depth=p["max_depth"],
        min_samples_split=p["min_samples_split"],
        min_samples_leaf=p["min_samples_leaf"],
        max_features=p["max_features"],
        random_state=trial.seed,
        n_jobs=1,
    )


def run_trial(dataset: Dataset, trial: Trial, hyper_id: str) -> Outcome:
    """Never raises for the trial's own faults: those become a failed Outcome."""
    fit_ms = predict_ms = None
    try:
        estimator = make_estimator(trial)
        started = time.perf_counter()
        model = estimator.fit(dataset.x[dataset.is_train], dataset.y[dataset.is_train])
        fitted = time.perf_counter()
        y_pred = model.predict(dataset.x)
        fit_ms = (fitted - started) * 1000
        predict_ms = (time.perf_counter() - fitted) * 1000
        if not np.isfinite(y_pred).all():
            raise ValueError("the model predicted a value that is not finite")
        facts = encode_facts(hyper_id, dataset.point_ids, y_pred)
        error = None
    except Exception as exc:  # a trial's failure is data, recorded with the batch
        facts = None
        error = "".join(traceback.format_exception_only(exc)).strip()
    return Outcome(hyper_id, trial, utc_now(), fit_ms, predict_ms, facts, error)


def encode_facts(hyper_id: str, point_ids: np.ndarray, y_pred: np.ndarray) -> str:
    # Formatted by hand: json.dumps per record costs more than an SVR fit on this data.
    # repr(float) is the shortest text that reads back to the same double.
    head = '{"hyper_id":"' + hyper_id + '","point_id":'
    return "".join(
        f'{head}{pid},"y_pred":{value!r}}}\n'
        for pid, value in zip(point_ids.tolist(), y_pred.tolist(), strict=True)
    )


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
