"""Fitting one trial, predicting every point and, with CV, every training point out of fold:
the unit of work a worker runs."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import orjson

from sweeplake.dataset import NO_FOLD, Dataset
from sweeplake.fitting.prune import stops
from sweeplake.models.family import TrialFit
from sweeplake.models.registry import family
from sweeplake.samplers.space import Trial
from sweeplake.scores.metrics import cv_score, r2, score

if TYPE_CHECKING:
    from sweeplake.lake.base import Deflated


@dataclass
class Outcome:
    """What became of a trial: its predictions as NDJSON fact lines and their metrics, or the
    error it raised."""

    hyper_id: str
    trial: Trial
    created_at: str
    fit_ms: float | None
    predict_ms: float | None
    facts: str | Deflated | None  # Deflated: see fitting/workers.py's deflated_lines
    error: str | None
    metrics: dict[str, float | int | None] | None = None
    # With CV: each training point's out-of-fold prediction as NDJSON lines, and their cost.
    oof: str | Deflated | None = None
    cv_ms: float | None = None
    # With --prune: the trial stopped after the folds its oof holds, with no full fit.
    pruned: bool = False

    @property
    def status(self) -> str:
        return "failed" if self.error is not None else "pruned" if self.pruned else "ok"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class TrialInputs:
    """What every trial of a batch reads, computed once per batch, before the workers fork.

    The points are reordered training points first, so that the training rows of any matrix
    over all points are a slice (a view), not a copy; point_ids follow the same order.
    """

    point_ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    is_train: np.ndarray
    # Each training point's fold, in the order above; and each fold's (fit rows, held-out rows)
    # as indices into the training rows, in point order as cross_val_score takes them. No
    # splits: the batch runs without CV.
    train_fold: np.ndarray
    splits: tuple[tuple[np.ndarray, np.ndarray], ...]
    # What the trials of each model family share (ModelFamily.prepare), by family name.
    shared: dict[str, object] = field(default_factory=dict)
    # A time series' points in the same order: their series and each one's past target values
    # (sweeplake.timeseries.history.History); None for a tabular dataset.
    history: object = None

    @property
    def y_train(self) -> np.ndarray:
        return self.y[: np.count_nonzero(self.is_train)]


def prepare(
    dataset: Dataset,
    models: set[str],
    cv: bool = False,
) -> TrialInputs:
    # Training points first, each part in point_id order: the order in which the metrics sum,
    # so that scores computed here and from the facts (rescore) are the same to the bit.
    order = np.lexsort((dataset.point_ids, ~dataset.is_train))
    train = int(dataset.is_train.sum())
    train_fold = dataset.fold[order][:train]
    splits = tuple(
        (np.flatnonzero(train_fold != k), np.flatnonzero(train_fold == k))
        for k in (np.unique(train_fold) if cv else ())
    )
    history = None
    if dataset.timeseries is not None:
        from sweeplake.timeseries.folds import forward_splits, time_keys
        from sweeplake.timeseries.history import History

        history = History.of(dataset, order)
        if cv:
            series, steps = history.series[:train], history.step[:train]
            when = time_keys(dataset.timeseries.time[order][:train])
            splits = forward_splits(series, steps, train_fold, dataset.timeseries.gap, when)
    inputs = TrialInputs(
        dataset.point_ids[order],
        dataset.x[order],
        dataset.y[order],
        dataset.is_train[order],
        train_fold,
        splits,
        history=history,
    )
    for name in sorted(models):
        chosen = family(name)
        chosen.load()  # imported here, once, so that forked workers inherit it
        inputs.shared[name] = chosen.prepare(inputs)
    return inputs


def run_trial(
    inputs: TrialInputs, trial: Trial, hyper_id: str, medians: tuple[float, ...] | None = None
) -> Outcome:
    """Never raises for the trial's own faults: those become a failed Outcome.

    With `medians` (--prune: the median partial score after each rung but the last, from
    fitting/prune.py) the folds come first, one at a time, and a trial below the median after
    one stops there (pruned); a survivor then gets its full fit.
    """
    fit_ms = predict_ms = cv_ms = oof = facts = None
    medians = medians if inputs.splits else None
    pruned = False
    from sklearn import config_context  # here, not at module level: bad input fails fast

    try:
        started = time.perf_counter()
        fitting = family(trial.model).start(inputs, trial)
        metrics: dict = {}
        if medians is None:
            fit_ms, predict_ms, facts, metrics = full_fit(inputs, fitting, hyper_id, started)
        if inputs.splits:
            started = time.perf_counter()
            # Without rungs the parameters passed sklearn's checks in the full fit above; the
            # data was checked on load.
            with config_context(assume_finite=True, skip_parameter_validation=medians is None):
                y_oof, got = out_of_fold(inputs, fitting, medians)
            cv_ms = (time.perf_counter() - started) * 1000
            pruned = got < len(inputs.splits)
            # A time series' steps before its first validation window are never held out; a
            # pruned trial's folds after the last it got are not either.
            labels = np.unique(inputs.train_fold[inputs.train_fold != NO_FOLD])
            rows = np.isin(inputs.train_fold, labels[:got])
            if not np.isfinite(y_oof[rows]).all():
                raise ValueError("a fold's model predicted a value that is not finite")
            train_ids = inputs.point_ids[: len(inputs.y_train)]
            folds = inputs.train_fold[rows]
            oof = encode_facts(hyper_id, train_ids[rows], y_oof[rows], folds)
            metrics.update(cv_score(inputs.y_train[rows], y_oof[rows], folds))
        if medians is not None and not pruned:
            fit_ms, predict_ms, facts, full = full_fit(inputs, fitting, hyper_id)
            metrics.update(full)
        error = None
    except Exception as exc:  # a trial's failure is data, recorded with the batch
        facts = metrics = oof = None
        pruned = False
        error = "".join(traceback.format_exception_only(exc)).strip()
    return Outcome(
        hyper_id, trial, utc_now(), fit_ms, predict_ms, facts, error, metrics, oof, cv_ms, pruned
    )


def full_fit(
    inputs: TrialInputs, fitting: TrialFit, hyper_id: str, started: float | None = None
) -> tuple[float, float, str, dict]:
    """The fit on every training point and its predictions of every point: fit_ms (from
    `started`, by default now), predict_ms, the fact lines and their metrics."""
    from sklearn import config_context

    started = time.perf_counter() if started is None else started
    # Finite by construction: the dataset was checked on load.
    with config_context(assume_finite=True):
        fitting.fit()
        fitted = time.perf_counter()
        y_pred = fitting.predict()
    fit_ms = (fitted - started) * 1000
    predict_ms = (time.perf_counter() - fitted) * 1000
    if not np.isfinite(y_pred).all():
        raise ValueError("the model predicted a value that is not finite")
    facts = encode_facts(hyper_id, inputs.point_ids, y_pred)
    return fit_ms, predict_ms, facts, score(inputs.y, y_pred, inputs.is_train)


def out_of_fold(
    inputs: TrialInputs, fitting: TrialFit, medians: tuple[float, ...] | None = None
) -> tuple[np.ndarray, int]:
    """Each training point predicted by the trial's model (same parameters, same seed) fitted on
    the other folds, and how many folds it got: all of them, unless after one the mean R² of
    the folds so far is below `medians` (the rule in fitting/prune.py)."""
    y_oof = np.full(len(inputs.y_train), np.nan)  # NaN: never validated (NO_FOLD)
    fold_r2: list[float | None] = []
    for split, (_, held_out) in enumerate(inputs.splits):
        y_oof[held_out] = fitting.fold(split)
        if medians is None:
            continue
        fold_r2.append(r2(inputs.y_train[held_out], y_oof[held_out]))
        if None not in fold_r2 and stops(float(np.mean(fold_r2)), split, medians):
            return y_oof, split + 1
    return y_oof, len(inputs.splits)


def encode_facts(
    hyper_id: str, point_ids: np.ndarray, y_pred: np.ndarray, fold: np.ndarray | None = None
) -> str:
    """Fact lines, or with `fold` out-of-fold lines (each point's fold before its y_pred).

    Assembled by list slices, not a loop per line: a trial's facts are 400 to 900 lines, and
    json.dumps per record, or repr per double, costs more than an SVR fit on this data. orjson
    prints each double as the shortest text that reads back to the same double, as repr does
    (exponents aside: 1e-07 is 1e-7)."""
    n = len(y_pred)
    if n == 0:
        return ""
    doubles = np.ascontiguousarray(y_pred, dtype=np.float64)  # a float32 model's, as doubles
    values = orjson.dumps(doubles, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().split(",")
    width = 5 if fold is None else 7
    line = [""] * (width * n)
    line[0::width] = ['}\n{"hyper_id":"'] * n
    line[0] = '{"hyper_id":"'
    line[1::width] = [f'{hyper_id}","point_id":'] * n
    line[2::width] = map(str, point_ids.tolist())
    if fold is not None:
        line[3::width] = [',"fold":'] * n
        line[4::width] = map(str, fold.tolist())
    line[width - 2 :: width] = [',"y_pred":'] * n
    line[width - 1 :: width] = values
    line.append("}\n")
    return "".join(line)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
