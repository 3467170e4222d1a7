"""The leaderboard against independent oracles: scikit-learn's metrics and the previous system."""

from __future__ import annotations

import csv
import json
import math
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
from sweeplake.models.registry import fitting
from tests.conftest import FIXTURES, REPO, sweeplake
from tests.lakeread import parse_csv, records, sklearn_estimator

PARAMS = (
    "gamma",
    "c",
    "epsilon",
    "n_estimators",
    "max_depth",
    "min_samples_split",
    "min_samples_leaf",
    "max_features",
)
DESIGN_COLUMNS = (
    "rank",
    "hyper_id",
    "model",
    *PARAMS,
    "test_r2",
    "train_r2",
    "test_rmse",
    "test_mae",
    "created_at",
)


@pytest.fixture(scope="module")
def seeded_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("seeded") / "lake"
    result = sweeplake(
        "run", "--lake", str(lake), "--trials", "12", "--seed", "7", "--workers", "2"
    )
    assert result.returncode == 0, result.stderr
    return lake


def rank_csv(lake: Path, limit: int = 100000) -> list[dict]:
    result = sweeplake("rank", "--lake", str(lake), "--format", "csv", "--limit", str(limit))
    assert result.returncode == 0, result.stderr
    return parse_csv(result.stdout)


def test_metrics_equal_scikit_learns_for_every_trial_of_every_model(seeded_lake: Path) -> None:
    dataset = load_dataset(REPO / "data" / "diabetes.json")
    train, test = dataset.is_train, ~dataset.is_train
    hyper = {h["hyper_id"]: h for h in records(seeded_lake, "hyper")}
    rows = rank_csv(seeded_lake)
    assert set(DESIGN_COLUMNS) <= set(rows[0])
    assert {r["model"] for r in rows} == set(fitting(dataset))
    assert len(rows) == 12
    for row in rows:
        h = hyper[row["hyper_id"]]
        model = sklearn_estimator(h["model"], json.loads(h["params"]), h["seed"])
        y_pred = model.fit(dataset.x[train], dataset.y[train]).predict(dataset.x)
        expected = {
            "test_r2": r2_score(dataset.y[test], y_pred[test]),
            "train_r2": r2_score(dataset.y[train], y_pred[train]),
            "test_rmse": math.sqrt(mean_squared_error(dataset.y[test], y_pred[test])),
            "test_mae": mean_absolute_error(dataset.y[test], y_pred[test]),
            "test_mape": mean_absolute_percentage_error(dataset.y[test], y_pred[test]) * 100,
        }
        for metric, value in expected.items():
            assert float(row[metric]) == pytest.approx(value, abs=1e-9, rel=0), (metric, row)


def test_ranks_are_in_order_of_test_r2_overall_and_within_each_model(seeded_lake: Path) -> None:
    rows = rank_csv(seeded_lake)
    r2 = [float(r["test_r2"]) for r in rows]
    assert r2 == sorted(r2, reverse=True)
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    for model in fitting(load_dataset(REPO / "data" / "diabetes.json")):
        mine = [int(r["model_rank"]) for r in rows if r["model"] == model]
        assert mine == list(range(1, len(mine) + 1))


def test_limit_keeps_the_best(seeded_lake: Path) -> None:
    assert rank_csv(seeded_lake, limit=3) == rank_csv(seeded_lake)[:3]


def test_previous_systems_1144_trials_give_back_every_published_r2(tmp_path: Path) -> None:
    with open(FIXTURES / "previous_leaderboard.csv", newline="") as handle:
        published = list(csv.DictReader(handle))
    assert len(published) == 1144
    params = tmp_path / "previous.jsonl"
    params.write_text(
        "".join(
            json.dumps(
                {
                    "model": "svr",
                    "gamma": float(p["gamma"]),
                    "c": float(p["c"]),
                    "epsilon": float(p["epsilon"]),
                }
            )
            + "\n"
            for p in published
        )
    )
    lake = tmp_path / "lake"
    result = sweeplake(
        "run", "--lake", str(lake), "--params", str(params), "--workers", "2", "--budget", "3000"
    )
    assert result.returncode == 0, result.stderr
    ours = {
        (float(r["gamma"]), float(r["c"]), float(r["epsilon"])): float(r["test_r2"])
        for r in rank_csv(lake)
    }
    assert len(ours) == 1144
    worst = max(
        abs(ours[float(p["gamma"]), float(p["c"]), float(p["epsilon"])] - float(p["test_r2"]))
        for p in published
    )
    assert worst < 1e-4


def test_the_same_seed_gives_the_same_trials_and_predictions(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        lake = tmp_path / name
        result = sweeplake(
            "run", "--lake", str(lake), "--trials", "6", "--seed", "11", "--workers", "2"
        )
        assert result.returncode == 0, result.stderr
        hyper = records(lake, "hyper")
        order = {h["hyper_id"]: i for i, h in enumerate(hyper)}
        facts = sorted(records(lake, "fact"), key=lambda f: (order[f["hyper_id"]], f["point_id"]))
        trials = [{k: h[k] for k in ("model", "seed", *PARAMS)} for h in hyper]
        runs.append((trials, [(f["point_id"], f["y_pred"]) for f in facts]))
    assert runs[0] == runs[1]
    assert len(runs[0][1]) == 6 * 442


def test_a_different_seed_gives_different_trials(tmp_path: Path) -> None:
    gammas = []
    for seed in ("1", "2"):
        lake = tmp_path / seed
        assert (
            sweeplake(
                "run", "--lake", str(lake), "--trials", "2", "--seed", seed, "--model", "svr"
            ).returncode
            == 0
        )
        gammas.append([h["gamma"] for h in records(lake, "hyper")])
    assert gammas[0] != gammas[1]


def test_every_ok_trial_has_one_fact_per_point(seeded_lake: Path) -> None:
    facts = records(seeded_lake, "fact")
    per_trial: dict[str, list[int]] = {}
    for f in facts:
        per_trial.setdefault(f["hyper_id"], []).append(f["point_id"])
    hyper = records(seeded_lake, "hyper")
    assert {h["hyper_id"] for h in hyper if h["status"] == "ok"} == set(per_trial)
    for points in per_trial.values():
        assert sorted(points) == list(range(442))
    assert all(np.isfinite(f["y_pred"]) for f in facts)
