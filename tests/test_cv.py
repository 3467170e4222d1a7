"""Cross-validated scores against scikit-learn's cross_val_score on the dataset's own folds."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import PredefinedSplit, cross_val_predict, cross_val_score
from sklearn.svm import SVR

from sweeplake.dataset import load_dataset
from sweeplake.rank import leaderboard, open_engine
from tests.conftest import FIXTURES, REPO, sweeplake
from tests.lakeread import parse_csv, records

DATASET = load_dataset(REPO / "data" / "diabetes.json")
CV_COLUMNS = ("cv_r2", "cv_r2_std", "cv_oof_r2")
TRIALS = [
    {"model": "svr", "gamma": 16.39, "c": 40.45, "epsilon": 0.1757},
    {"model": "svr", "gamma": 0.05, "c": 2.5, "epsilon": 0.9},
    {"model": "svr", "gamma": 88.0, "c": 0.3, "epsilon": 0.01},
    {
        "model": "random_forest",
        "n_estimators": 25,
        "max_depth": 6,
        "min_samples_split": 4,
        "min_samples_leaf": 2,
        "max_features": 0.6,
        "seed": 123,
    },
    {
        "model": "random_forest",
        "n_estimators": 12,
        "max_depth": 16,
        "min_samples_split": 2,
        "min_samples_leaf": 1,
        "max_features": 1.0,
        "seed": 7,
    },
]


def sklearn_estimator(trial: dict):
    """Built from the params line alone, as a user would, not by the code under test."""
    if trial["model"] == "svr":
        return SVR(kernel="rbf", gamma=trial["gamma"], C=trial["c"], epsilon=trial["epsilon"])
    params = {k: v for k, v in trial.items() if k not in ("model", "seed")}
    return RandomForestRegressor(**params, random_state=trial["seed"])


def same_trial(trial: dict, hyper: dict) -> bool:
    return all(hyper[k] == v for k, v in trial.items())


@pytest.fixture(scope="module")
def cv_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cv")
    params = folder / "trials.jsonl"
    params.write_text("".join(json.dumps(t) + "\n" for t in TRIALS))
    lake = folder / "lake"
    done = sweeplake("run", "--lake", str(lake), "--params", str(params), "--workers", "2")
    assert done.returncode == 0, done.stderr
    return lake


def rank_csv(lake: Path, *args: str) -> list[dict]:
    done = sweeplake("rank", "--lake", str(lake), "--format", "csv", "--limit", "1000", *args)
    assert done.returncode == 0, done.stderr
    return parse_csv(done.stdout)


def test_cv_scores_equal_cross_val_scores_on_the_datasets_folds(cv_lake: Path) -> None:
    train = DATASET.is_train  # the file is in point_id order, as the folds were drawn
    x, y, split = DATASET.x[train], DATASET.y[train], PredefinedSplit(DATASET.fold[train])
    scores = records(cv_lake, "scores")
    assert len(scores) == len(TRIALS)
    for trial in TRIALS:
        (line,) = [s for s in scores if same_trial(trial, s)]
        fold_r2 = cross_val_score(sklearn_estimator(trial), x, y, cv=split, scoring="r2")
        assert len(fold_r2) == 5
        assert line["cv_r2"] == pytest.approx(fold_r2.mean(), abs=1e-9, rel=0), trial
        assert line["cv_r2_std"] == pytest.approx(np.std(fold_r2), abs=1e-9, rel=0), trial
        pooled = r2_score(y, cross_val_predict(sklearn_estimator(trial), x, y, cv=split))
        assert line["cv_oof_r2"] == pytest.approx(pooled, abs=1e-9, rel=0), trial


def test_out_of_fold_facts_are_cross_val_predicts_own_in_a_table_of_their_own(
    cv_lake: Path,
) -> None:
    train = DATASET.is_train
    x, y, split = DATASET.x[train], DATASET.y[train], PredefinedSplit(DATASET.fold[train])
    folds = dict(zip(DATASET.point_ids[train].tolist(), DATASET.fold[train].tolist(), strict=True))
    hyper = records(cv_lake, "hyper")
    oof = records(cv_lake, "oof")
    assert {k for line in oof for k in line} == {"hyper_id", "point_id", "fold", "y_pred"}
    assert len(records(cv_lake, "fact")) == len(TRIALS) * 442  # the full fits' facts, unmixed
    for trial in TRIALS:
        (h,) = [h for h in hyper if same_trial(trial, h)]
        mine = sorted(
            (o["point_id"], o["fold"], o["y_pred"]) for o in oof if o["hyper_id"] == h["hyper_id"]
        )
        assert [(pid, k) for pid, k, _ in mine] == sorted(folds.items())
        expected = cross_val_predict(sklearn_estimator(trial), x, y, cv=split)
        np.testing.assert_allclose([p for _, _, p in mine], expected, rtol=1e-9, atol=1e-9)
        assert h["cv_ms"] > 0


def test_the_audit_query_computes_the_same_cv_scores_from_the_oof_table(cv_lake: Path) -> None:
    scores = {s["hyper_id"]: s for s in records(cv_lake, "scores")}
    _, rows = leaderboard(open_engine(str(cv_lake), facts=True), sql="rank_runs.sql")
    assert len(rows) == len(TRIALS)
    for row in rows:
        for column in CV_COLUMNS:
            assert row[column] == pytest.approx(scores[row["hyper_id"]][column], abs=1e-12)
    audit = sweeplake("rank", "--lake", str(cv_lake), "--audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "the scores agree" in audit.stdout


def test_rank_by_cv_orders_by_cv_r2_and_shows_test_r2_beside_it(cv_lake: Path) -> None:
    rows = rank_csv(cv_lake, "--by", "cv")
    cv_r2 = [float(r["cv_r2"]) for r in rows]
    assert cv_r2 == sorted(cv_r2, reverse=True)
    assert [int(r["cv_rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert all(r["test_r2"] for r in rows)
    assert sorted(rows, key=lambda r: r["hyper_id"]) == sorted(
        rank_csv(cv_lake), key=lambda r: r["hyper_id"]
    )


def test_a_lake_written_before_cv_ranks_with_null_cv_columns_and_takes_new_batches(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(FIXTURES / "lake-before-cv", lake)
    rows = rank_csv(lake)
    assert len(rows) == 4
    assert all(r[c] == "" for r in rows for c in CV_COLUMNS)
    # Its dataset object holds the same points without folds: not "a different dataset".
    done = sweeplake("run", "--lake", str(lake), "--trials", "2", "--seed", "5", "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert (lake / "data" / "diabetes.json").read_bytes() == DATASET.canonical
    rows = rank_csv(lake)
    assert len(rows) == 6
    assert sum(all(r[c] != "" for c in CV_COLUMNS) for r in rows) == 2
    assert sum(all(r[c] == "" for c in CV_COLUMNS) for r in rows) == 4


def test_cv_0_writes_no_out_of_fold_facts_and_null_cv_scores(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    done = sweeplake("run", "--lake", str(lake), "--trials", "2", "--cv", "0", "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert not (lake / "oof").exists()
    assert all(s[c] is None for s in records(lake, "scores") for c in (*CV_COLUMNS, "cv_ms"))
    assert all(r[c] == "" for r in rank_csv(lake) for c in CV_COLUMNS)


@pytest.mark.parametrize("folds", ["3", "-1"])
def test_cv_other_than_the_datasets_folds_is_bad_input(tmp_path: Path, folds: str) -> None:
    lake = tmp_path / "lake"
    done = sweeplake("run", "--lake", str(lake), "--trials", "1", "--cv", folds)
    assert done.returncode == 2
    expected = f"--cv must be 0 (off) or the 5 folds of the dataset diabetes, got {folds}"
    assert done.stderr.strip() == f"sweeplake: error: {expected}"
    assert not lake.exists()


def test_an_s3_lake_holding_the_dataset_without_folds_gets_it_with_them(aws, bucket, env) -> None:
    old = (FIXTURES / "lake-before-cv" / "data" / "diabetes.json").read_bytes()
    # As the job wrote it before folds were data: with its sha256 in the metadata.
    client = aws.client()
    sha = hashlib.sha256(old).hexdigest()
    client.put_object(Bucket=bucket, Key="data/diabetes.json", Body=old, Metadata={"sha256": sha})
    done = sweeplake("run", "--lake", f"s3://{bucket}", "--trials", "2", "--workers", "1", env=env)
    assert done.returncode == 0, done.stderr
    held = client.get_object(Bucket=bucket, Key="data/diabetes.json")["Body"].read()
    assert held == DATASET.canonical


def test_a_batch_without_its_scores_object_gets_its_cv_scores_from_the_oof_facts(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    done = sweeplake("run", "--lake", str(lake), "--trials", "3", "--seed", "2", "--workers", "1")
    assert done.returncode == 0, done.stderr
    (written,) = lake.glob("scores/dt=*/*.json.gz")
    bare = tmp_path / "bare"
    shutil.copytree(lake, bare)
    (bare / written.relative_to(lake)).unlink()  # as if killed between the hyper and scores puts
    ranked = rank_csv(bare)  # scored by the reader from the facts, cv columns from the oof facts
    assert all(r[c] != "" for r in ranked for c in CV_COLUMNS)
    assert ranked == rank_csv(lake)
    assert sweeplake("rescore", "--lake", str(bare)).returncode == 0
    assert (bare / written.relative_to(lake)).read_bytes() == written.read_bytes()
