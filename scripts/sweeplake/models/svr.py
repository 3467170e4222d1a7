"""Support vector regression with an RBF kernel (scikit-learn's SVR), fitted on a kernel
computed once per batch.

Every trial of a batch uses the squared distances from every point to every training point:
computed once before the workers fork, the RBF kernel of any gamma is then one vectorised exp
instead of libsvm's pairwise loop, and a fold's kernel is a slice of the trial's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial

import numpy as np

from sweeplake.models.family import ModelFamily, TrialFit

log = logging.getLogger("sweeplake.svr")
# The largest SVR kernel matrix (every point by every training point) worth precomputing.
KERNEL_LIMIT_BYTES = 64 * 2**20
# How far the fast path's predictions may be from the public SVR's on the check's problem:
# the same libsvm call gives the same doubles; anything else is a changed interface.
FAST_PATH_TOLERANCE = 1e-9


@dataclass(frozen=True)
class SharedKernel:
    """Squared distance from every point to every training point, and scratch space for the
    kernel, overwritten by each trial: a fresh 1 MB array per trial costs more in page faults
    than the exp itself. One per process: workers are processes."""

    sq_distances: np.ndarray
    kernel: np.ndarray


class SVRFamily(ModelFamily):
    name = "svr"
    warm = True
    title = "SVR (RBF)"
    space = {
        "gamma": {"type": "float", "low": 0.01, "high": 100.0, "log": True, "valid": "(0, 1e6]"},
        "c": {"type": "float", "low": 0.01, "high": 100.0, "log": True, "valid": "(0, 1e4]"},
        "epsilon": {"type": "float", "low": 0.01, "high": 1.0, "log": True, "valid": "[0, 1e6]"},
    }
    score_map = ("c", "gamma")
    labels = {
        "gamma": "gamma, RBF width (1 / squared feature distance)",
        "c": "C, regularisation (unitless)",
        "epsilon": "epsilon, tube width (target units)",
    }

    def build(self, params: dict, seed: int):
        from sklearn.svm import SVR

        return SVR(kernel="rbf", gamma=params["gamma"], C=params["c"], epsilon=params["epsilon"])

    def load(self) -> None:
        from sklearn.svm import SVR  # noqa: F401

    def prepare(self, inputs, kernel_limit: int = KERNEL_LIMIT_BYTES) -> SharedKernel | None:
        train = len(inputs.y_train)
        if len(inputs.x) * train * 8 > kernel_limit or not fast_path_agrees():
            return None  # each trial fits the public SVR(kernel="rbf")
        sq_distances = squared_distances(inputs.x, inputs.x[:train])
        return SharedKernel(sq_distances, np.empty_like(sq_distances))

    def start(self, inputs, trial) -> TrialFit:
        shared = inputs.shared.get(self.name)
        if shared is None:
            return super().start(inputs, trial)
        # SVR.fit's first step, once per trial: sklearn's checks of the parameters.
        self.build(trial.params, trial.seed)._validate_params()
        return KernelFit(self, inputs, trial)

    def predictor(self, estimator) -> Callable[[np.ndarray], np.ndarray]:
        """For an RBF SVR, its decision function in numpy, which skips sklearn's per-call checks
        (the API has checked the rows) and is ~10x faster on one row. Equal to SVR.predict
        within 1e-9: the HTTP tests hold it to the trial's facts."""
        if getattr(estimator, "kernel", None) == "rbf" and not isinstance(estimator.gamma, str):
            return partial(rbf_decision, estimator)
        return estimator.predict


class KernelFit(TrialFit):
    """A trial on the batch's shared kernel: libsvm on precomputed kernels, folds as slices."""

    @property
    def every_point(self) -> np.ndarray:
        """exp(-gamma * |x - x'|²) from every point to every training point, as libsvm's RBF,
        computed on first use into the batch's scratch space."""
        if getattr(self, "_kernel", None) is None:
            shared: SharedKernel = self.inputs.shared[self.family.name]
            np.multiply(shared.sq_distances, -self.trial.params["gamma"], out=shared.kernel)
            self._kernel = np.exp(shared.kernel, out=shared.kernel)
        return self._kernel

    def fit(self) -> None:
        y_train = self.inputs.y_train
        self.model = fit_svr_kernel(self.every_point[: len(y_train)], y_train, self.trial.params)

    def predict(self) -> np.ndarray:
        return svr_predict(self.model, self.every_point)

    def fold(self, split: int) -> np.ndarray:
        fit_rows, held_out = self.inputs.splits[split]
        train = self.every_point[: len(self.inputs.y_train)]
        # Rows then columns: ~5x faster than one fancy index with np.ix_.
        block = np.take(np.take(train, fit_rows, axis=0), fit_rows, axis=1)
        model = fit_svr_kernel(block, self.inputs.y_train[fit_rows], self.trial.params)
        return svr_predict(model, train[held_out], fitted_on=fit_rows)


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact differences squared, not |a|² + |b|² - 2ab, which cancels badly near zero."""
    out = np.zeros((len(a), len(b)))
    for column in range(a.shape[1]):
        out += np.subtract.outer(a[:, column], b[:, column]) ** 2
    return out


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
    float64 kernel in [0, 1], and parameters that passed SVR's own checks (start() makes them
    once per trial, folds included). Its results are checked against sklearn's own SVR in
    tests/test_fit.py (the same doubles) and tests/test_cv.py (cross_val_score within 1e-9):
    that is what catches a change in this private interface of a pinned sklearn.
    """
    support, _, _, dual_coef, intercept, *_ = precomputed_svr_fit()(
        kernel, y, C=float(params["c"]), epsilon=float(params["epsilon"])
    )
    if not (np.isfinite(dual_coef).all() and np.isfinite(intercept).all()):
        # SVR.fit's own check, with its own words
        raise ValueError("The dual coefficients or intercepts are not finite.")
    return SvrDual(support, dual_coef, intercept)


@cache
def fast_path_agrees() -> bool:
    """Whether the direct libsvm fit (a private scikit-learn interface) gives the public
    SVR(kernel="precomputed")'s predictions on a tiny problem: checked once per process, before
    the workers fork. When not, one warning, and SVR trials take the public path: a change in
    scikit-learn slows them down instead of failing every one."""
    import sklearn
    from sklearn.svm import SVR

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(24, 3)), rng.normal(size=24)
    kernel = np.exp(-0.5 * squared_distances(x, x))
    params = {"c": 2.0, "epsilon": 0.1}
    public = SVR(kernel="precomputed", C=params["c"], epsilon=params["epsilon"]).fit(kernel, y)
    expected = public.predict(kernel)
    try:
        got = svr_predict(fit_svr_kernel(kernel, y, params), kernel)
        gap = float(np.max(np.abs(got - expected)))
        reason = None if gap <= FAST_PATH_TOLERANCE else f"predictions differ by {gap:.3g}"
    except Exception as exc:  # any failure of the private interface means: not this path
        reason = f"{type(exc).__name__}: {str(exc)[:120]}"
    if reason is not None:
        log.warning(
            "the fast SVR path disagrees with scikit-learn %s's SVR(kernel='precomputed') (%s): "
            "SVR trials fit the public SVR instead, slower (supported: the range in pyproject)",
            sklearn.__version__,
            reason,
        )
    return reason is None


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


FAMILY = SVRFamily()
