"""Fitting one trial, predicting every point and, with CV, every training point out of fold:
the unit of work a worker runs."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial

import numpy as np

from sweeplake.dataset import Dataset
from sweeplake.samplers.space import Trial
from sweeplake.scores.metrics import cv_score, score


@dataclass
class Outcome:
    """What became of a trial: its predictions as NDJSON fact lines and their metrics, or the
    error it raised."""

    hyper_id: str
    trial: Trial
    created_at: str
    fit_ms: float | None
    predict_ms: float | None
    facts: str | None
    error: str | None
    metrics: dict[str, float | int | None] | None = None
    # With CV: each training point's out-of-fold prediction as NDJSON lines, and their cost.
    oof: str | None = None
    cv_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# The largest SVR kernel matrix (every point by every training point) worth precomputing.
KERNEL_LIMIT_BYTES = 64 * 2**20


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
    # Squared distance from every point to every training point, or None when too large: the
    # RBF kernel of any gamma is then one vectorised exp instead of libsvm's pairwise loop.
    sq_distances: np.ndarray | None
    # Scratch space for that kernel, overwritten by each SVR trial: a fresh 1 MB array per trial
    # costs more in page faults than the exp itself. One per process: workers are processes.
    kernel: np.ndarray | None
    # Each training point's fold, in the order above; and each fold's (fit rows, held-out rows)
    # as indices into the training rows, in point order as cross_val_score takes them. No
    # splits: the batch runs without CV.
    train_fold: np.ndarray
    splits: tuple[tuple[np.ndarray, np.ndarray], ...]

    @property
    def y_train(self) -> np.ndarray:
        return self.y[: np.count_nonzero(self.is_train)]


def prepare(
    dataset: Dataset, models: set[str], kernel_limit: int = KERNEL_LIMIT_BYTES, cv: bool = False
) -> TrialInputs:
    for model in models:
        estimator_class(model)  # imported here, once, so that forked workers inherit it
    # Training points first, each part in point_id order: the order in which the metrics sum,
    # so that scores computed here and from the facts (rescore) are the same to the bit.
    order = np.lexsort((dataset.point_ids, ~dataset.is_train))
    x = dataset.x[order]
    train = int(dataset.is_train.sum())
    sq_distances = kernel = None
    if "svr" in models and len(x) * train * 8 <= kernel_limit:
        sq_distances = squared_distances(x, x[:train])
        kernel = np.empty_like(sq_distances)
        precomputed_svr_fit()  # made once, before the workers fork
    y, is_train = dataset.y[order], dataset.is_train[order]
    train_fold = dataset.fold[order][:train]
    splits = tuple(
        (np.flatnonzero(train_fold != k), np.flatnonzero(train_fold == k))
        for k in (np.unique(train_fold) if cv else ())
    )
    return TrialInputs(
        dataset.point_ids[order], x, y, is_train, sq_distances, kernel, train_fold, splits
    )


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact differences squared, not |a|² + |b|² - 2ab, which cancels badly near zero."""
    out = np.zeros((len(a), len(b)))
    for column in range(a.shape[1]):
        out += np.subtract.outer(a[:, column], b[:, column]) ** 2
    return out


def rbf_kernel(inputs: TrialInputs, gamma: float) -> np.ndarray:
    """exp(-gamma * |x - x'|²) from every point to every training point, as libsvm's RBF."""
    np.multiply(inputs.sq_distances, -gamma, out=inputs.kernel)
    return np.exp(inputs.kernel, out=inputs.kernel)


def svr_predict(model, kernel: np.ndarray, fitted_on: np.ndarray | None = None) -> np.ndarray:
    """SVR.predict on a precomputed kernel: sum_i dual_coef_i K(x, sv_i) + intercept.

    libsvm walks the support vectors point by point; with the kernel already in memory this is
    one matrix-vector product, ~10x faster. einsum, not BLAS: no thread pool to oversubscribe.
    `fitted_on`: the kernel's columns the model was fitted on, when not all of them (a fold).
    """
    coef = np.zeros(kernel.shape[1])
    support = model.support_ if fitted_on is None else fitted_on[model.support_]
    coef[support] = model.dual_coef_[0]
    return np.einsum("ij,j->i", kernel, coef) + model.intercept_[0]


def rbf_decision(model, x: np.ndarray) -> np.ndarray:
    """A fitted SVR(kernel="rbf")'s predictions of the rows of x, as svr_predict computes them,
    from its support vectors alone: sum_i dual_coef_i exp(-gamma |x - sv_i|²) + intercept."""
    kernel = np.exp(-model.gamma * squared_distances(x, model.support_vectors_))
    return np.einsum("ij,j->i", kernel, model.dual_coef_[0]) + model.intercept_[0]


def estimator_class(model: str) -> type:
    # Imported on first use: an SVR-only start never pays for sklearn.ensemble.
    if model == "svr":
        from sklearn.svm import SVR

        return SVR
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor


def make_estimator(trial: Trial):
    """The trial's estimator, as a user would build it with sklearn."""
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


def out_of_fold(
    inputs: TrialInputs, trial: Trial, every_point: np.ndarray, precomputed: bool
) -> np.ndarray:
    """Each training point predicted by the trial's model (same parameters, same seed) fitted on
    the other folds. An SVR's folds are slices of the kernel the trial has already computed."""
    train = every_point[: len(inputs.y_train)]
    y_oof = np.empty(len(inputs.y_train))
    for fit_rows, held_out in inputs.splits:
        if precomputed:
            # Rows then columns: ~5x faster than one fancy index with np.ix_.
            block = np.take(np.take(train, fit_rows, axis=0), fit_rows, axis=1)
            model = fit_svr_kernel(block, inputs.y_train[fit_rows], trial.params)
            y_oof[held_out] = svr_predict(model, train[held_out], fitted_on=fit_rows)
        else:
            model = make_estimator(trial).fit(train[fit_rows], inputs.y_train[fit_rows])
            y_oof[held_out] = model.predict(train[held_out])
    return y_oof


@dataclass(frozen=True)
class SvrDual:
    """What svr_predict needs of a fitted SVR: its support vectors' rows, their dual
    coefficients and the intercept, named as on a fitted sklearn SVR."""

    support_: np.ndarray
    dual_coef_: np.ndarray
    intercept_: np.ndarray


def fit_svr_kernel(kernel: np.ndarray, y: np.ndarray, params: dict) -> SvrDual:
    """SVR(kernel="precomputed", C, epsilon).fit(kernel, y), straight into libsvm.

    The same libsvm call with SVR's defaults, as SVR.fit makes it, without the input and
    parameter checks around it, which cost about as much as libsvm itself on this data (half
    of a 5-fold trial's time went to them). Only for what this module built: a C-ordered
    float64 kernel in [0, 1], and parameters that passed SVR's own checks (run_trial makes
    them once per trial, folds included). Its results are checked against sklearn's own SVR
    in tests/test_fit.py (the same doubles) and tests/test_cv.py (cross_val_score within
    1e-9): that is what catches a change in this private interface of a pinned sklearn.
    """
    support, _, _, dual_coef, intercept, *_ = precomputed_svr_fit()(
        kernel, y, C=float(params["c"]), epsilon=float(params["epsilon"])
    )
    if not (np.isfinite(dual_coef).all() and np.isfinite(intercept).all()):
        # SVR.fit's own check, with its own words
        raise ValueError("The dual coefficients or intercepts are not finite.")
    return SvrDual(support, dual_coef, intercept)


@cache
def precomputed_svr_fit() -> Callable:
    """libsvm's fit as SVR(kernel="precomputed") calls it, with SVR's own defaults for what
    fit_svr_kernel does not set (read from SVR, not copied), made once per process."""
    from sklearn.svm import SVR, _libsvm

    p = SVR().get_params()
    _libsvm.set_verbosity_wrap(int(p["verbose"]))  # libsvm's own default prints every fit
    return partial(
        _libsvm.fit,
        svm_type=3,  # epsilon-SVR, as SVR passes it
        kernel="precomputed",
        gamma=0.0,  # unused on a precomputed kernel; SVR passes 0.0 too
        degree=p["degree"],
        coef0=p["coef0"],
        tol=p["tol"],
        cache_size=p["cache_size"],
        shrinking=int(p["shrinking"]),
        max_iter=p["max_iter"],
    )


def run_trial(inputs: TrialInputs, trial: Trial, hyper_id: str) -> Outcome:
    """Never raises for the trial's own faults: those become a failed Outcome."""
    fit_ms = predict_ms = cv_ms = oof = None
    precomputed = trial.model == "svr" and inputs.sq_distances is not None
    from sklearn import config_context  # here, not at module level: bad input fails fast

    try:
        train = len(inputs.y_train)
        started = time.perf_counter()
        if precomputed:
            # SVR.fit's first step, once per trial: sklearn's checks of the parameters.
            make_estimator(trial)._validate_params()
            every_point = rbf_kernel(inputs, trial.params["gamma"])
            model = fit_svr_kernel(every_point[:train], inputs.y_train, trial.params)
            fitted = time.perf_counter()
            y_pred = svr_predict(model, every_point)
        else:
            every_point = inputs.x
            # Finite by construction: the dataset was checked on load.
            with config_context(assume_finite=True):
                model = make_estimator(trial).fit(every_point[:train], inputs.y_train)
                fitted = time.perf_counter()
                y_pred = model.predict(every_point)
        fit_ms = (fitted - started) * 1000
        predict_ms = (time.perf_counter() - fitted) * 1000
        if not np.isfinite(y_pred).all():
            raise ValueError("the model predicted a value that is not finite")
        facts = encode_facts(hyper_id, inputs.point_ids, y_pred)
        metrics = score(inputs.y, y_pred, inputs.is_train)
        if inputs.splits:
            started = time.perf_counter()
            # For forests' folds (an SVR's go straight into libsvm): the parameters passed
            # sklearn's checks in the fit above, and the data was checked on load.
            with config_context(assume_finite=True, skip_parameter_validation=True):
                y_oof = out_of_fold(inputs, trial, every_point, precomputed)
            cv_ms = (time.perf_counter() - started) * 1000
            if not np.isfinite(y_oof).all():
                raise ValueError("a fold's model predicted a value that is not finite")
            train_ids = inputs.point_ids[: len(inputs.y_train)]
            oof = encode_facts(hyper_id, train_ids, y_oof, inputs.train_fold)
            metrics.update(cv_score(inputs.y_train, y_oof, inputs.train_fold))
        error = None
    except Exception as exc:  # a trial's failure is data, recorded with the batch
        facts = metrics = oof = None
        error = "".join(traceback.format_exception_only(exc)).strip()
    return Outcome(
        hyper_id, trial, utc_now(), fit_ms, predict_ms, facts, error, metrics, oof, cv_ms
    )


def encode_facts(
    hyper_id: str, point_ids: np.ndarray, y_pred: np.ndarray, fold: np.ndarray | None = None
) -> str:
    """Fact lines, or with `fold` out-of-fold lines (each point's fold before its y_pred)."""
    # Formatted by hand: json.dumps per record costs more than an SVR fit on this data.
    # repr(float) is the shortest text that reads back to the same double.
    head = '{"hyper_id":"' + hyper_id + '","point_id":'
    if fold is None:
        return "".join(
            f'{head}{pid},"y_pred":{value!r}}}\n'
            for pid, value in zip(point_ids.tolist(), y_pred.tolist(), strict=True)
        )
    return "".join(
        f'{head}{pid},"fold":{k},"y_pred":{value!r}}}\n'
        for pid, k, value in zip(point_ids.tolist(), fold.tolist(), y_pred.tolist(), strict=True)
    )


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
