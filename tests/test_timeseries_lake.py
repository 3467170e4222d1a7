"""Two forests and an LSTM on the shipped stocks, cross-validated on the same forward-chaining
folds: ranked by cv and audited against the facts, viewed per series (RMSE, MAE, MAPE against
scikit-learn), reported over time, and served a series' raw history."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import sweeplake
from lakeread import parse_csv, records
from servers import Served
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    root_mean_squared_error,
)

from sweeplake.timeseries.examples import stocks_csv

LSTM = {
    "model": "lstm", "units": 6, "layers": 1, "window": 6, "dropout": 0.1,
    "learning_rate": 0.01, "epochs": 8, "batch_size": 32, "seed": 3,
}  # fmt: skip
FORESTS = [
    {
        "model": "random_forest",
        "n_estimators": trees,
        "max_depth": depth,
        "min_samples_split": 2,
        "min_samples_leaf": 1,
        "max_features": 1.0,
        "seed": 3,
    }  # fmt: skip
    for trees, depth in ((30, 8), (12, 3))
]


@pytest.fixture(scope="module")
def stocks_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("stocks")
    dataset, lake, params = folder / "stocks.json", folder / "lake", folder / "params.jsonl"
    done = sweeplake("export-data", "--stocks", "--out", str(dataset))
    assert done.returncode == 0, done.stderr
    params.write_text("".join(json.dumps(p) + "\n" for p in (LSTM, *FORESTS)))
    done = sweeplake(
        "run", "--lake", str(lake), "--dataset", str(dataset), "--params", str(params),
        "--workers", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dataset, lake


def test_rank_by_cv_and_the_audit_agree_on_the_same_folds(stocks_lake) -> None:
    _, lake = stocks_lake
    done = sweeplake("rank", "--lake", str(lake), "--by", "cv", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = parse_csv(done.stdout)
    assert sorted(r["model"] for r in rows) == ["lstm", "random_forest", "random_forest"]
    cv = [float(row["cv_r2"]) for row in rows]
    assert cv == sorted(cv, reverse=True)
    audit = sweeplake("rank", "--lake", str(lake), "--audit")
    assert audit.returncode == 0 and "agree" in audit.stdout, audit.stdout + audit.stderr
    oof = pd.DataFrame(records(lake, "oof"))
    folds = {h: set(zip(t["point_id"], t["fold"], strict=True)) for h, t in oof.groupby("hyper_id")}
    assert len(folds) == 3 and len(set(map(frozenset, folds.values()))) == 1


def points_of(dataset_path: Path) -> pd.DataFrame:
    return pd.DataFrame(json.loads(line) for line in dataset_path.read_text().splitlines())


@pytest.mark.parametrize("by", ["test", "cv"])
def test_rank_series_gives_each_series_best_trial_as_sklearn_scores_it(stocks_lake, by) -> None:
    dataset_path, lake = stocks_lake
    points = points_of(dataset_path)
    if by == "test":
        scored = points[~points["is_train"]]
        facts = pd.DataFrame(records(lake, "fact"))
    else:
        scored = points[points["is_train"] & points["fold"].notna()]
        facts = pd.DataFrame(records(lake, "oof"))
    joined = facts.merge(scored[["point_id", "series", "y_true"]], on="point_id")
    want = {}
    for series, one in joined.groupby("series"):
        best = None
        for hyper_id, trial in one.groupby("hyper_id"):
            rmse = root_mean_squared_error(trial["y_true"], trial["y_pred"])
            if best is None or (rmse, hyper_id) < best[:2]:
                mae = mean_absolute_error(trial["y_true"], trial["y_pred"])
                mape = 100 * mean_absolute_percentage_error(trial["y_true"], trial["y_pred"])
                best = (rmse, hyper_id, mae, mape, len(trial))
        want[series] = best
    done = sweeplake("rank", "--lake", str(lake), "--series", "--by", by, "--format", "json")
    assert done.returncode == 0, done.stderr
    got = {row["series"]: row for row in json.loads(done.stdout)}
    assert sorted(got) == sorted(want) and len(want) == 5
    for series, (rmse, hyper_id, mae, mape, count) in want.items():
        row = got[series]
        assert row["hyper_id"] == hyper_id and row["points"] == count
        np.testing.assert_allclose(
            [row[f"{by}_rmse"], row[f"{by}_mae"], row[f"{by}_mape"]], [rmse, mae, mape], rtol=1e-12
        )
        mine = joined[joined["hyper_id"] == hyper_id]
        overall = 100 * mean_absolute_percentage_error(mine["y_true"], mine["y_pred"])
        assert row[f"overall_{by}_mape"] == pytest.approx(overall, rel=1e-12)


def test_the_report_plots_the_series_over_time_and_the_models_side_by_side(
    stocks_lake, tmp_path
) -> None:
    dataset_path, lake = stocks_lake
    out = tmp_path / "report.html"
    done = sweeplake("report", "--lake", str(lake), "--out", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert '<figure id="timeseries-best">' in page and '<figure id="timeseries-models">' in page
    # Each model's best trial by out-of-fold RMSE, named with that RMSE as sklearn has it.
    points = points_of(dataset_path)
    validated = points[points["is_train"] & points["fold"].notna()]
    oof = pd.DataFrame(records(lake, "oof")).merge(validated[["point_id", "y_true"]])
    models = {h["hyper_id"]: h["model"] for h in records(lake, "hyper")}
    best: dict[str, tuple] = {}
    for hyper_id, trial in oof.groupby("hyper_id"):
        rmse = root_mean_squared_error(trial["y_true"], trial["y_pred"])
        model = models[hyper_id]
        best[model] = min(best.get(model, (rmse, hyper_id)), (rmse, hyper_id))
    assert sorted(best) == ["lstm", "random_forest"]
    for model, (rmse, hyper_id) in best.items():
        assert f"{model} {hyper_id}: cv RMSE {rmse:.4g}" in page


def facts_points_and_prices(lake: Path, dataset_path: Path, hyper_id: str):
    """The trial's facts, the dataset's points, and the raw prices with their times parsed."""
    facts = {f["point_id"]: f["y_pred"] for f in records(lake, "fact") if f["hyper_id"] == hyper_id}
    points = [json.loads(line) for line in dataset_path.read_text().splitlines()]
    raw = pd.read_csv(stocks_csv())
    raw["time"] = pd.to_datetime(raw["date"], format="%b %d %Y")
    return facts, points, raw


@pytest.mark.parametrize(("model", "needs"), [("random_forest", 12), ("lstm", 6)])
def test_a_served_model_forecasts_the_next_month_from_raw_history(
    stocks_lake, model: str, needs: int
) -> None:
    dataset_path, lake = stocks_lake
    hyper_id = next(h["hyper_id"] for h in records(lake, "hyper") if h["model"] == model)
    done = sweeplake("promote", "--lake", str(lake), "--hyper-id", hyper_id)
    assert done.returncode == 0, done.stderr  # its refit gave its facts within 1e-9
    card = json.loads((lake / "models" / hyper_id / "card.json").read_text())
    assert card["timeseries"]["columns"] == ["price"] and len(card["timeseries"]["series"]) == 5
    facts, points, raw = facts_points_and_prices(lake, dataset_path, hyper_id)
    served = Served("--lake", str(lake), "--model", hyper_id)
    try:
        with httpx.Client(base_url=served.url, timeout=120) as client:
            for point in [p for p in points if not p["is_train"]][::9]:
                mine = raw[raw["symbol"] == point["series"]].sort_values("time")
                before = mine[mine["time"] < pd.Timestamp(point["time"])]["price"].tolist()
                body = {"series": point["series"], "history": {"price": before[-needs:]}}
                reply = client.post("/forecast", json=body)
                assert reply.status_code == 200, reply.text
                assert reply.json()["series"] == point["series"]
                assert abs(reply.json()["forecast"] - facts[point["point_id"]]) <= 1e-9
            short = f"history.price: {needs - 1} values, too short"
            for body, words in [
                ({"history": {"price": [1.0] * (needs - 1)}}, short),
                ({"history": {"volume": [1.0] * needs}}, "history lacks price"),
                ({"history": {"price": [1.0] * (needs - 1) + ["x"]}}, "must be a finite"),
                ({"history": [1, 2]}, '"history"'),
                ({"history": {"price": [1.0] * needs}, "when": 1}, "unknown keys: when"),
            ]:
                reply = client.post("/forecast", json=body)
                assert reply.status_code == 422 and words in reply.json()["error"], reply.text
            assert client.get("/health").status_code == 200  # still up
    finally:
        log = served.close()
    assert "Traceback" not in log


def test_lstm_on_a_tabular_dataset_is_refused_before_anything_is_written(tmp_path) -> None:
    lake = tmp_path / "lake"
    done = sweeplake("run", "--lake", str(lake), "--model", "lstm", "--trials", "1")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "is not a time series" in done.stderr and not lake.exists()
