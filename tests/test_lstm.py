"""The lstm family: windows of each point's past, deterministic fits given the trial's seed,
and no look-ahead in its out-of-fold predictions. Keras starts once per test session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_timeseries import imported, make_table

from sweeplake.dataset import NO_FOLD
from sweeplake.fitting.fit import prepare
from sweeplake.models.lstm import FAMILY
from sweeplake.samplers.space import Trial

PARAMS = {
    "units": 4,
    "layers": 1,
    "window": 4,
    "dropout": 0.1,
    "learning_rate": 0.01,
    "epochs": 3,
    "batch_size": 16,
}


@pytest.fixture(scope="session")
def keras():
    """Keras on JAX, imported once for the whole session (a missing install fails here)."""
    from sweeplake.models.lstm import load_keras

    loaded = load_keras()
    assert loaded.backend.backend() == "jax"
    return loaded


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("prices")
    table = make_table(folder / "prices.csv")
    dataset, _ = imported(table, folder / "prices.json")
    return table, dataset


def every_prediction(dataset, seed: int) -> tuple[np.ndarray, dict[int, float]]:
    inputs = prepare(dataset, {"random_forest"}, cv=True)
    fitting = FAMILY.start(inputs, Trial("lstm", PARAMS, seed))
    fitting.fit()
    y_pred = fitting.predict()
    oof = {}
    train_ids = inputs.point_ids[: len(inputs.y_train)]
    for k, (_, held) in enumerate(inputs.splits):
        oof.update(zip(train_ids[held].tolist(), fitting.fold(k).tolist(), strict=True))
    order = np.argsort(inputs.point_ids)
    return y_pred[order], oof


def test_windows_are_each_points_past_targets_as_pandas_shifts_them(prices) -> None:
    table, dataset = prices
    inputs = prepare(dataset, {"random_forest"}, cv=False)
    windows = inputs.history.windows(np.arange(len(inputs.y)), 7)
    frame = pd.read_csv(table).sort_values(["symbol", "date"])
    by_key = {}
    for name, one in frame.groupby("symbol"):
        past = {k: one["value"].shift(k).bfill() for k in range(1, 8)}  # padded with the first
        for i, date in enumerate(one["date"]):
            by_key[(name, f"{date}T00:00:00")] = [past[k].iloc[i] for k in range(7, 0, -1)]
    where = np.searchsorted(dataset.point_ids, inputs.point_ids)
    keys = zip(dataset.timeseries.series[where], dataset.timeseries.time[where], strict=True)
    np.testing.assert_array_equal(windows, np.array([by_key[key] for key in keys]))


def test_the_same_trial_twice_predicts_the_same_and_another_seed_does_not(keras, prices) -> None:
    from sweeplake.models.lstm import network

    _, dataset = prices
    network.cache_clear()
    first, first_oof = every_prediction(dataset, seed=5)
    network.cache_clear()  # built and compiled anew: nothing carried over
    again, again_oof = every_prediction(dataset, seed=5)
    np.testing.assert_array_equal(first, again)
    assert first_oof == again_oof
    assert set(first_oof) == set(dataset.point_ids[dataset.fold != NO_FOLD].tolist())
    other, _ = every_prediction(dataset, seed=6)
    assert not np.array_equal(first, other)
    assert np.isfinite(first).all()


def test_no_out_of_fold_prediction_at_or_before_t_sees_a_value_after_t(
    keras, prices, tmp_path: Path
) -> None:
    table, before = prices
    t = "2021-01-30"
    frame = pd.read_csv(table)
    later = frame["date"] > t
    frame.loc[later, "value"] = frame.loc[later, "value"] * 3 + 11
    changed = tmp_path / "changed.csv"
    frame.to_csv(changed, index=False, float_format="%.17g")
    after, _ = imported(changed, tmp_path / "after.json")
    _, oof_before = every_prediction(before, seed=9)
    _, oof_after = every_prediction(after, seed=9)
    early = {
        pid
        for pid, time in zip(before.point_ids.tolist(), before.timeseries.time, strict=True)
        if time <= f"{t}T00:00:00" and pid in oof_before
    }
    assert len(early) >= 6
    assert {p: oof_before[p] for p in early} == {p: oof_after[p] for p in early}
    assert any(oof_before[p] != oof_after[p] for p in set(oof_before) - early)


def test_no_other_path_imports_keras_or_jax() -> None:
    """The registry, the CLI's parser, the fitting and time-series modules, and building an
    unfitted LSTM leave the framework unimported: only fitting or using an LSTM loads it."""
    code = """
import sys
from sweeplake.cli import build_parser
from sweeplake.models.registry import families
from sweeplake.timeseries import importer, ranking, report, serving
from sweeplake.fitting.fit import prepare, run_trial
build_parser()
params = {"units": 4, "layers": 1, "window": 3, "dropout": 0.0, "learning_rate": 0.01,
          "epochs": 1, "batch_size": 8}
families()["lstm"].build(params, 1)  # an unfitted LSTM: no framework yet
print(sorted(m for m in ("keras", "jax", "jaxlib") if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
