"""A trial's predictions against scikit-learn's own estimators, fitted the plain way."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.svm import SVR

from sweeplake.dataset import load_dataset
from sweeplake.fitting.fit import prepare, run_trial
from sweeplake.models.svr import fit_svr_kernel, rbf_decision
from sweeplake.paths import DEFAULT_DATASET
from sweeplake.samplers.space import Trial, load_space
from tests.conftest import REPO


@pytest.fixture(scope="module")
def diabetes():
    return load_dataset(DEFAULT_DATASET)


def svr_inputs(diabetes, precomputed: bool):
    """The batch's inputs for SVR trials, with its shared kernel or (as for data too large to
    precompute one) without."""
    inputs = prepare(diabetes, {"svr"})
    if not precomputed:
        inputs.shared["svr"] = None
    return inputs


def predictions(outcome) -> dict[int, float]:
    lines = [json.loads(line) for line in outcome.facts.splitlines()]
    assert {k for line in lines for k in line} == {"hyper_id", "point_id", "y_pred"}
    assert {line["hyper_id"] for line in lines} == {outcome.hyper_id}
    return {line["point_id"]: line["y_pred"] for line in lines}


def plain(diabetes, estimator) -> dict[int, float]:
    train = diabetes.is_train
    y_pred = estimator.fit(diabetes.x[train], diabetes.y[train]).predict(diabetes.x)
    return dict(zip(diabetes.point_ids.tolist(), y_pred.tolist(), strict=True))


def svr(trial) -> SVR:
    p = trial.params
    return SVR(kernel="rbf", gamma=p["gamma"], C=p["c"], epsilon=p["epsilon"])


@pytest.mark.parametrize("precomputed", [True, False], ids=["precomputed kernel", "libsvm kernel"])
def test_svr_predicts_every_point_as_sklearn_rbf_does(diabetes, precomputed):
    inputs = svr_inputs(diabetes, precomputed)
    for index, trial in enumerate(load_space().sample(["svr"], 12, seed=5)):
        got = predictions(run_trial(inputs, trial, f"T{index}"))
        expected = plain(diabetes, svr(trial))
        assert got.keys() == expected.keys()
        ids = sorted(expected)
        # The same model; only the kernel's last bits differ in the order of floating-point sums.
        np.testing.assert_allclose([got[i] for i in ids], [expected[i] for i in ids], rtol=1e-9)


def test_the_served_rbf_decision_is_sklearns_svr_predict(diabetes):
    train = diabetes.is_train
    for trial in load_space().sample(["svr"], 12, seed=9):
        model = svr(trial).fit(diabetes.x[train], diabetes.y[train])
        np.testing.assert_allclose(
            rbf_decision(model, diabetes.x), model.predict(diabetes.x), rtol=1e-9
        )


def test_the_kernel_buffer_carries_nothing_from_one_trial_to_the_next(diabetes):
    inputs = prepare(diabetes, {"svr"})
    first, second = load_space().sample(["svr"], 2, seed=9)
    alone = predictions(run_trial(prepare(diabetes, {"svr"}), second, "B"))
    run_trial(inputs, first, "A")
    assert predictions(run_trial(inputs, second, "B")) == alone


def test_forest_predictions_are_sklearns_bit_for_bit(diabetes):
    trial = load_space().sample(["random_forest"], 1, seed=3)[0]
    got = predictions(run_trial(prepare(diabetes, {"random_forest"}), trial, "F"))
    # Our parameter names are sklearn's own for forests.
    forest = RandomForestRegressor(**trial.params, random_state=trial.seed)
    assert got == plain(diabetes, forest)


def test_fact_lines_keep_every_bit_of_each_double(diabetes):
    # The libsvm path gives sklearn's exact doubles, so equality here means no digit was lost.
    trial = load_space().sample(["svr"], 1, seed=1)[0]
    got = predictions(run_trial(svr_inputs(diabetes, precomputed=False), trial, "P"))
    assert got == plain(diabetes, svr(trial))


@pytest.mark.parametrize("precomputed", [True, False], ids=["precomputed kernel", "libsvm kernel"])
def test_an_svr_trial_sklearn_refuses_fails_on_either_kernel(diabetes, precomputed):
    bad = Trial("svr", {"gamma": -1.0, "c": 10.0, "epsilon": 0.1}, 0)
    outcome = run_trial(svr_inputs(diabetes, precomputed), bad, "G")
    assert not outcome.ok and "gamma" in outcome.error and outcome.facts is None


def test_the_direct_libsvm_fit_is_svrs_own_fit_on_the_same_kernel(diabetes):
    # fit_svr_kernel skips SVR.fit's checks, not its work: the same libsvm call, the same doubles.
    inputs = prepare(diabetes, {"svr"})
    train = len(inputs.y_train)
    for trial in load_space().sample(["svr"], 12, seed=21):
        p = trial.params
        kernel = np.exp(-p["gamma"] * inputs.shared["svr"].sq_distances[:train])
        ours = fit_svr_kernel(kernel, inputs.y_train, p)
        theirs = SVR(kernel="precomputed", C=p["c"], epsilon=p["epsilon"])
        theirs.fit(kernel, inputs.y_train)
        np.testing.assert_array_equal(ours.support_, theirs.support_)
        np.testing.assert_array_equal(ours.dual_coef_, theirs.dual_coef_)
        np.testing.assert_array_equal(ours.intercept_, theirs.intercept_)


def test_fitting_prints_nothing_of_libsvms_own(tmp_path):
    # libsvm prints "optimization finished" on every fit unless told not to; SVR tells it each
    # time, the direct fit must too, in a process where no SVR was ever fitted.
    script = (
        "from sweeplake.dataset import load_dataset\n"
        "from sweeplake.fitting.fit import prepare, run_trial\n"
        "from sweeplake.paths import DEFAULT_DATASET\n"
        "from sweeplake.samplers.space import load_space\n"
        "inputs = prepare(load_dataset(DEFAULT_DATASET), {'svr'}, cv=True)\n"
        "for trial in load_space().sample(['svr'], 3, seed=1):\n"
        "    assert run_trial(inputs, trial, 'T').ok\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert done.stdout == ""
