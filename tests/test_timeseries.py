"""Time-series datasets from `import-data --time-column`: folds against scikit-learn's
TimeSeriesSplit, features against pandas, and no look-ahead anywhere before the forecast."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import sweeplake
from sklearn.model_selection import TimeSeriesSplit

from sweeplake.dataset import NO_FOLD, load_dataset
from sweeplake.fitting.fit import prepare, run_trial
from sweeplake.samplers.space import Trial
from sweeplake.timeseries.examples import STOCKS, stocks_csv, synthetic_csv

LAGS = (1, 2, 5)
ROLLING = (("volume", "mean", 4), ("value", "median", 3), ("value", "std", 5), ("volume", "max", 2))
FOLDS, GAP = 3, 2


def make_table(path: Path, seed: int = 3) -> Path:
    """Three series of different lengths, rows shuffled, times as ISO dates."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, steps in (("b", 41), ("a", 57), ("c", 35)):
        days = pd.date_range("2021-01-01", periods=steps, freq="D")
        value = 50 + np.cumsum(rng.normal(0, 1, steps))
        volume = rng.uniform(1e5, 1e6, steps)
        rows += [
            [name, d.date().isoformat(), repr(float(v)), repr(float(w)), f"x{i}"]
            for i, (d, v, w) in enumerate(zip(days, value, volume, strict=True))
        ]
    order = rng.permutation(len(rows))
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["symbol", "date", "value", "volume", "note"])
        writer.writerows(rows[i] for i in order)
    return path


def import_args(source: Path, out: Path) -> list[str]:
    rolling = ",".join(f"{c}:{s}:{w}" for c, s, w in ROLLING)
    return [
        "--csv", str(source), "--target", "value", "--time-column", "date",
        "--series-column", "symbol", "--lags", ",".join(map(str, LAGS)), "--rolling", rolling,
        "--gap", str(GAP), "--folds", str(FOLDS), "--test-size", "0.25", "--out", str(out),
    ]  # fmt: skip


def imported(source: Path, out: Path):
    done = sweeplake("import-data", *import_args(source, out))
    assert done.returncode == 0, done.stderr
    return load_dataset(out), done.stderr


@pytest.fixture
def table(tmp_path: Path) -> Path:
    return make_table(tmp_path / "prices.csv")


def pandas_features(source: Path) -> pd.DataFrame:
    """The features as pandas computes them, per series, warm-up rows dropped."""
    frame = pd.read_csv(source).sort_values(["symbol", "date"])
    out = []
    for _, one in frame.groupby("symbol", sort=True):
        features = pd.DataFrame({"symbol": one["symbol"], "date": one["date"]})
        for k in LAGS:
            features[f"value_lag_{k}"] = one["value"].shift(k)
        for column, stat, window in ROLLING:
            past = one[column].shift(1).rolling(window)
            features[f"{column}_{stat}_{window}"] = getattr(past, stat)()
        features["volume_lag_1"] = one["volume"].shift(1)
        features["y"] = one["value"]
        out.append(features.dropna())
    return pd.concat(out, ignore_index=True)


def test_every_feature_equals_pandas_shift_and_rolling(table: Path, tmp_path: Path) -> None:
    dataset, log = imported(table, tmp_path / "prices.json")
    expected = pandas_features(table)
    assert dataset.timeseries is not None
    assert list(dataset.timeseries.series) == expected["symbol"].tolist()
    assert list(dataset.timeseries.time) == [f"{d}T00:00:00" for d in expected["date"]]
    assert dataset.features == tuple(expected.columns[2:-1])
    # Within 1e-12 of the value's size (at least 1): pandas' rolling std is a one-pass online
    # algorithm, numpy's a two-pass one; on a std near 0.1 of values near 50 they part at 2e-13.
    np.testing.assert_allclose(dataset.x, expected.iloc[:, 2:-1].to_numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(dataset.y, expected["y"].to_numpy())
    dropped = 41 + 57 + 35 - len(expected)
    assert f"{dropped} rows dropped for unfilled windows" in log
    assert "non-numeric columns left out: note" in log


def test_folds_and_fits_equal_time_series_split_per_series(table: Path, tmp_path: Path) -> None:
    dataset, _ = imported(table, tmp_path / "prices.json")
    inputs = prepare(dataset, {"random_forest"}, cv=True)
    train_ids = inputs.point_ids[: len(inputs.y_train)]
    series = dict(zip(dataset.point_ids.tolist(), dataset.timeseries.series, strict=True))
    times = dict(zip(dataset.point_ids.tolist(), dataset.timeseries.time, strict=True))
    all_train = set(dataset.point_ids[dataset.is_train].tolist())
    # Each point held out once, and where: the split that predicts it.
    split_of = {}
    for fit, held in inputs.splits:
        for pid in train_ids[held].tolist():
            assert pid not in split_of
            split_of[pid] = frozenset(train_ids[fit].tolist())
    validated = set()
    for name in np.unique(dataset.timeseries.series):
        mine = np.flatnonzero(dataset.timeseries.series == name)
        ids = dataset.point_ids[mine][np.argsort(dataset.point_ids[mine])]
        n = len(ids)
        test = int(np.ceil(0.25 * n))
        train = ids[: n - test]
        assert not dataset.is_train[np.isin(dataset.point_ids, ids[n - test :])].any()
        assert dataset.is_train[np.isin(dataset.point_ids, train)].all()
        for k, (fit, held) in enumerate(TimeSeriesSplit(n_splits=FOLDS, gap=GAP).split(train)):
            assert (dataset.fold[np.isin(dataset.point_ids, train[held])] == k).all()
            validated |= set(train[held].tolist())
            fitted = {split_of[pid] for pid in train[held].tolist()}
            assert len(fitted) == 1  # one model predicts the whole window
            fitted = fitted.pop()
            # In its own series, exactly TimeSeriesSplit's training indices ...
            assert {p for p in fitted if series[p] == name} == set(train[fit].tolist())
            # ... elsewhere, every training point before the cut, and none after.
            cut = times[int(train[held[0] - GAP])]
            others = {p for p in all_train if series[p] != name and times[p] < cut}
            assert {p for p in fitted if series[p] != name} == others
    assert set(split_of) == validated
    never = all_train - validated
    assert never and (dataset.fold[np.isin(dataset.point_ids, list(never))] == NO_FOLD).all()


def forest_oof(dataset) -> dict[int, float]:
    inputs = prepare(dataset, {"random_forest"}, cv=True)
    params = {
        "n_estimators": 15,
        "max_depth": 6,
        "min_samples_split": 2,
        "min_samples_leaf": 1,
        "max_features": 0.8,
    }
    outcome = run_trial(inputs, Trial("random_forest", params, 11), "h" * 32)
    assert outcome.ok, outcome.error
    lines = [json.loads(line) for line in outcome.oof.splitlines()]
    return {line["point_id"]: (line["fold"], line["y_pred"]) for line in lines}


def test_nothing_at_or_before_t_sees_a_value_after_t(table: Path, tmp_path: Path) -> None:
    before, _ = imported(table, tmp_path / "before.json")
    t = "2021-01-30"
    frame = pd.read_csv(table)
    later = frame["date"] > t
    rng = np.random.default_rng(0)
    frame.loc[later, "value"] = frame.loc[later, "value"] * rng.uniform(2, 3, later.sum()) + 7
    frame.loc[later, "volume"] = rng.uniform(1e7, 1e8, later.sum())
    changed = tmp_path / "changed.csv"
    frame.to_csv(changed, index=False, float_format="%.17g")
    after, _ = imported(changed, tmp_path / "after.json")

    time = before.timeseries.time
    early = np.array([s <= f"{t}T00:00:00" for s in time])
    late = ~early
    assert early.sum() > 20 and late.sum() > 20
    np.testing.assert_array_equal(before.point_ids, after.point_ids)
    np.testing.assert_array_equal(before.x[early], after.x[early])
    np.testing.assert_array_equal(before.y[early], after.y[early])
    np.testing.assert_array_equal(before.fold, after.fold)
    np.testing.assert_array_equal(before.is_train, after.is_train)
    assert not np.array_equal(before.x[late], after.x[late])  # the change did reach the data

    oof_before, oof_after = forest_oof(before), forest_oof(after)
    assert set(oof_before) == set(oof_after)
    early_ids = set(before.point_ids[early].tolist()) & set(oof_before)
    assert len(early_ids) >= 6
    assert {i: oof_before[i] for i in early_ids} == {i: oof_after[i] for i in early_ids}
    late_ids = set(oof_before) - early_ids
    assert any(oof_before[i] != oof_after[i] for i in late_ids)


def test_the_shipped_stocks_import_and_say_they_are_a_time_series(tmp_path: Path) -> None:
    out = tmp_path / "stocks.json"
    done = sweeplake("export-data", "--stocks", "--out", str(out))
    assert done.returncode == 0, done.stderr
    dataset = load_dataset(out)
    frame = pd.read_csv(stocks_csv())
    assert set(dataset.timeseries.series) == set(frame["symbol"]) and len(set(frame.symbol)) == 5
    meta = dataset.timeseries.meta
    assert meta["time_column"] == "date" and meta["series_column"] == "symbol"
    assert (meta["folds"], meta["gap"]) == (STOCKS["folds"], STOCKS["gap"])
    assert dataset.folds == STOCKS["folds"]
    # The lake's bytes read back to the same dataset.
    again = tmp_path / "again.json"
    again.write_bytes(dataset.canonical)
    assert load_dataset(again).sha256 == dataset.sha256


def test_synthetic_series_import(tmp_path: Path) -> None:
    source = synthetic_csv(tmp_path / "synthetic.csv", series=4, steps=60, seed=1)
    done = sweeplake(
        "import-data", "--csv", str(source), "--target", "value", "--time-column", "day",
        "--series-column", "series", "--lags", "1,7", "--rolling", "volume:mean:7",
        "--out", str(tmp_path / "synthetic.json"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    dataset = load_dataset(tmp_path / "synthetic.json")
    assert len(dataset.y) == 4 * (60 - 7)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--time-column", "when"], "no column 'when' for --time-column"),
        (["--time-column", "date", "--lags", "1,x"], "'x' is not a whole number"),
        (["--time-column", "date", "--rolling", "volume:avg:3"], "statistic 'avg'"),
        (["--time-column", "date", "--rolling", "volume:mean"], "COLUMN:STAT:WINDOW"),
        (["--time-column", "date", "--rolling", "nope:mean:3"], "no column 'nope'"),
        (["--time-column", "date", "--lags", "40"], "too few for windows"),
        (["--time-column", "date", "--folds", "30"], "cannot hold 30 folds"),
        (["--time-column", "date", "--time-format", "%d/%m/%Y"], "not a time of --time-format"),
        (["--time-column", "date", "--target", "note"], "not a number"),
        (["--time-column", "date"], "has time 2021-01-01T00:00:00 twice"),
        (["--parquet", "x.parquet", "--time-column", "date"], "not allowed with argument"),
    ],
)
def test_bad_time_series_input_is_one_line_and_writes_nothing(
    table: Path, tmp_path: Path, args: list, fragment: str
) -> None:
    if "--series-column" not in args and "twice" not in fragment:
        args = [*args, "--series-column", "symbol"]
    if "--target" not in args:
        args = [*args, "--target", "value"]
    done = sweeplake("import-data", "--csv", str(table), *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("sweeplake: ") and done.stderr.count("\n") == 1, done.stderr
    assert fragment in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prices.csv"]


def test_a_parquet_table_gives_the_dataset_its_csv_gives(table: Path, tmp_path: Path) -> None:
    import duckdb

    parquet = tmp_path / "prices.parquet"
    duckdb.connect().execute(
        f"COPY (SELECT * FROM read_csv('{table}')) TO '{parquet}' (FORMAT parquet)"
    )
    described = duckdb.connect().execute(f"DESCRIBE SELECT * FROM '{parquet}'").fetchall()
    kinds = {row[0]: row[1] for row in described}
    assert kinds["date"] == "DATE" and kinds["value"] == "DOUBLE"  # typed, not text
    from_csv, _ = imported(table, tmp_path / "from_csv.json")
    args = import_args(table, tmp_path / "from_parquet.json")
    args[args.index("--csv") : args.index("--csv") + 2] = ["--parquet", str(parquet)]
    done = sweeplake("import-data", *args)
    assert done.returncode == 0, done.stderr
    from_parquet = load_dataset(tmp_path / "from_parquet.json")
    assert from_parquet.canonical == from_csv.canonical.replace(
        b'"dataset": "from_csv"', b'"dataset": "from_parquet"'
    )
