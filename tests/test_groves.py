"""Forests grown as groves (`run --groves K`), against scikit-learn: the groves' trees assembled
into one RandomForestRegressor predict every point (and every held-out fold) within 1e-9 of the
SQL view sql/create_forest_predict.sql run by DuckDB over the lake, of the trial's facts and of
its scores; promote stores that assembled forest; a trial missing a grove is not committed."""

from __future__ import annotations

import io
import json
from copy import deepcopy
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import sweeplake
from lakeread import cv_r2_by_trial, records, sklearn_estimator
from servers import Served
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
from test_api import POINTS, rows_of

from sweeplake.dataset import load_dataset
from sweeplake.engines.duckdb import DuckDBEngine
from sweeplake.engines.sqlfiles import read_sql
from sweeplake.paths import DEFAULT_DATASET

TOLERANCE = 1e-9
FORESTS = [  # 10 trees in 4 or 7 groves are uneven splits; 13 in 2 too
    {"n_estimators": 10, "max_depth": 5, "min_samples_split": 2, "min_samples_leaf": 1},
    {"n_estimators": 13, "max_depth": 3, "min_samples_split": 6, "min_samples_leaf": 3},
]


def params_file(folder: Path) -> Path:
    path = folder / "forests.json"
    lines = [
        json.dumps({"model": "random_forest", **p, "max_features": 0.6, "seed": 40 + n})
        for n, p in enumerate(FORESTS)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module", params=[1, 2, 4, 7])
def grown(request, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    groves = request.param
    folder = tmp_path_factory.mktemp(f"groves-{groves}")
    lake = folder / "lake"
    done = sweeplake(
        "run", "--lake", str(lake), "--params", str(params_file(folder)),
        "--groves", str(groves), "--workers", "2", "--budget", "600",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return groves, lake


def oracle_groves(trees: int, groves: int, seed: int) -> list[tuple[int, int]]:
    """Each grove's (trees, seed): numpy's even split, and numpy's SeedSequence of the trial's
    seed and the grove's number."""
    sizes = [len(part) for part in np.array_split(np.arange(trees), min(groves, trees))]
    return [
        (size, int(np.random.SeedSequence([seed, g]).generate_state(1)[0]))
        for g, size in enumerate(sizes)
    ]


def assembled(hyper: dict, x: np.ndarray, y: np.ndarray, groves: int) -> RandomForestRegressor:
    """The groves fitted straight with scikit-learn, their trees put into one forest."""
    params = json.loads(hyper["params"])
    shared = {k: v for k, v in params.items() if k not in ("n_estimators", "groves")}
    fitted = [
        sklearn_estimator("random_forest", {**shared, "n_estimators": trees}, seed).fit(x, y)
        for trees, seed in oracle_groves(params["n_estimators"], groves, hyper["seed"])
    ]
    forest = deepcopy(fitted[0])
    forest.estimators_ = [tree for grove in fitted for tree in grove.estimators_]
    forest.n_estimators = len(forest.estimators_)
    return forest


def view_rows(lake: Path) -> dict[tuple[str, int, int | None], float]:
    engine = DuckDBEngine(lake)
    engine.connection.execute(read_sql("create_forest_predict.sql"))
    _, rows = engine.query("SELECT hyper_id, point_id, fold, y_pred FROM forest_predict")
    return {(h, p, f): y for h, p, f, y in rows}


def test_the_assembled_forest_predicts_the_view_the_facts_and_the_scores(grown) -> None:
    groves, lake = grown
    data = load_dataset(DEFAULT_DATASET)
    # The job's order: training points first, each part in point_id order.
    order = np.lexsort((data.point_ids, ~data.is_train))
    x, y, ids, fold = data.x[order], data.y[order], data.point_ids[order], data.fold[order]
    train = int(data.is_train.sum())
    hypers = records(lake, "hyper")
    assert len(hypers) == len(FORESTS) and all(h["status"] == "ok" for h in hypers)
    view = view_rows(lake)
    facts = {(f["hyper_id"], f["point_id"]): f["y_pred"] for f in records(lake, "fact")}
    oof = {(f["hyper_id"], f["point_id"]): f["y_pred"] for f in records(lake, "oof")}
    scores = {s["hyper_id"]: s for s in records(lake, "scores")}
    cv_oracle = cv_r2_by_trial(lake, DEFAULT_DATASET)
    tagged = records(lake, "grove")
    for hyper in hypers:
        hyper_id, params = hyper["hyper_id"], json.loads(hyper["params"])
        expected = oracle_groves(params["n_estimators"], groves, hyper["seed"])
        assert params["groves"] == len(expected)
        mine = [g for g in tagged if g["hyper_id"] == hyper_id and g["fold"] is None]
        assert sorted({(g["grove"], g["trees"]) for g in mine}) == [
            (n, trees) for n, (trees, _) in enumerate(expected)
        ]
        forest = assembled(hyper, x[:train], y[:train], groves)
        predicted = forest.predict(x)
        for point, value in zip(ids.tolist(), predicted.tolist(), strict=True):
            assert abs(view[hyper_id, point, None] - value) <= TOLERANCE
            assert abs(facts[hyper_id, point] - value) <= TOLERANCE
        test = ~data.is_train[order]
        assert abs(scores[hyper_id]["test_r2"] - r2_score(y[test], predicted[test])) <= TOLERANCE
        assert abs(scores[hyper_id]["train_r2"] - r2_score(y[:train], predicted[:train])) <= (
            TOLERANCE
        )
        for k in np.unique(fold[:train]):
            rows = np.flatnonzero(fold[:train] != k)
            held = np.flatnonzero(fold[:train] == k)
            folded = assembled(hyper, x[:train][rows], y[:train][rows], groves).predict(
                x[:train][held]
            )
            for point, value in zip(ids[:train][held].tolist(), folded.tolist(), strict=True):
                assert abs(view[hyper_id, point, int(k)] - value) <= TOLERANCE
                assert abs(oof[hyper_id, point] - value) <= TOLERANCE
        assert abs(scores[hyper_id]["cv_r2"] - cv_oracle[hyper_id]) <= TOLERANCE


def test_promote_stores_the_assembled_forest_and_serve_serves_it(grown, tmp_path: Path) -> None:
    groves, lake = grown
    from skops.io import load

    hyper = next(h for h in records(lake, "hyper") if json.loads(h["params"])["n_estimators"] == 10)
    env = {"SWEEPLAKE_CACHE": str(tmp_path / "cache")}
    done = sweeplake("promote", "--lake", str(lake), "--hyper-id", hyper["hyper_id"], env=env)
    assert done.returncode == 0, done.stderr
    stored = (lake / "models" / hyper["hyper_id"] / "model.skops").read_bytes()
    model = load(io.BytesIO(stored), trusted=["sklearn.tree._tree.Tree"])
    data = load_dataset(DEFAULT_DATASET)
    order = np.lexsort((data.point_ids, ~data.is_train))
    train = int(data.is_train.sum())
    forest = assembled(hyper, data.x[order][:train], data.y[order][:train], groves)
    assert type(model) is RandomForestRegressor and model.n_estimators == 10
    assert np.max(np.abs(model.predict(data.x) - forest.predict(data.x))) <= TOLERANCE
    if groves != 4:
        return  # served from one lake: the 4 groves of 10 trees, an uneven split
    served = Served("--lake", str(lake), "--model", hyper["hyper_id"])
    try:
        with httpx.Client(base_url=served.url) as client:
            reply = client.post("/predict", json=rows_of(POINTS))
    finally:
        assert "Traceback" not in served.close()
    assert reply.status_code == 200, reply.text
    by_point = dict(zip(data.point_ids.tolist(), forest.predict(data.x).tolist(), strict=True))
    expected = [by_point[p["point_id"]] for p in POINTS]
    assert np.max(np.abs(np.array(reply.json()["predictions"]) - expected)) <= TOLERANCE


def test_a_forest_missing_a_grove_is_not_committed(tmp_path: Path) -> None:
    """One worker and a budget that ends during the first grove: no other grove starts."""
    lake = tmp_path / "lake"
    done = sweeplake(
        "run", "--lake", str(lake), "--params", str(params_file(tmp_path)), "--groves", "4",
        "--workers", "1", "--budget", "0.001", "--cv", "0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3 of its 4 groves did not arrive: not committed" in done.stderr
    assert records(lake, "hyper") == [] and records(lake, "fact") == []
    assert records(lake, "grove") == []


@pytest.mark.parametrize("groves", ["0", "65", "x"])
def test_bad_groves_are_one_line_and_exit_2(tmp_path: Path, groves: str) -> None:
    done = sweeplake("run", "--lake", str(tmp_path / "lake"), "--groves", groves)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("sweeplake: error: ") and "--groves" in line
    assert not (tmp_path / "lake").exists()
