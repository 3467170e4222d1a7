"""What `rank` prints: a dataset column, --limit per dataset, a --dataset filter, every trial
in csv and json unless limited, a header even on an empty lake, values not rounded away."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import sweeplake
from tests.lakeread import parse_csv

DIABETES_TRIALS = 12
TOY_TRIALS = 2


def write_params(path: Path, gammas: list[float]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"model": "svr", "gamma": g, "c": 10.0, "epsilon": 0.1}) + "\n"
            for g in gammas
        )
    )
    return path


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake holding 12 SVR trials on diabetes (gamma 18.0013 and 18.000001 among them) and 2
    on a toy set."""
    folder = tmp_path_factory.mktemp("two")
    lake = folder / "lake"
    gammas = [18.0013, 18.000001, *np.geomspace(0.05, 90, DIABETES_TRIALS - 2).tolist()]
    done = sweeplake(
        "run", "--lake", str(lake), "--params", str(write_params(folder / "d.jsonl", gammas))
    )
    assert done.returncode == 0, done.stderr
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 2)).tolist()
    rows = ["u,v,y", *(f"{a!r},{b!r},{a * 3 - b + float(rng.normal()) * 0.1!r}" for a, b in x)]
    (folder / "toy.csv").write_text("\n".join(rows) + "\n")
    made = sweeplake("import-data", "--csv", str(folder / "toy.csv"), "--target", "y")
    assert made.returncode == 0, made.stderr
    params = write_params(folder / "t.jsonl", [0.5, 5.0])
    done = sweeplake(
        "run", "--lake", str(lake), "--dataset", str(folder / "toy.json"), "--params", str(params)
    )
    assert done.returncode == 0, done.stderr
    return lake


def rank(lake: Path, *args: str) -> str:
    done = sweeplake("rank", "--lake", str(lake), *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def table(lake: Path, *args: str) -> list[dict]:
    """The table's rows, cut at the columns' left edges (the params cell holds spaces)."""
    lines = rank(lake, *args).splitlines()
    names = lines[0].split()
    starts = [lines[0].index(name) for name in names]
    cuts = list(zip(starts, [*starts[1:], None], strict=True))
    return [
        {n: line[a:b].strip() for n, (a, b) in zip(names, cuts, strict=True)} for line in lines[1:]
    ]


def test_csv_and_json_print_every_trial_unless_limited(two_datasets: Path) -> None:
    every = parse_csv(rank(two_datasets, "--format", "csv"))
    assert len(every) == DIABETES_TRIALS + TOY_TRIALS
    assert len(json.loads(rank(two_datasets, "--format", "json"))) == len(every)
    limited = parse_csv(rank(two_datasets, "--format", "csv", "--limit", "3"))
    assert [r["hyper_id"] for r in limited] == [
        r["hyper_id"] for r in every if r["dataset"] == "diabetes"
    ][:3] + [r["hyper_id"] for r in every if r["dataset"] == "toy"]


def test_the_table_shows_each_datasets_best_under_its_own_name(two_datasets: Path) -> None:
    every = parse_csv(rank(two_datasets, "--format", "csv"))
    shown = table(two_datasets)
    assert [r["dataset"] for r in shown] == ["diabetes"] * 10 + ["toy"] * TOY_TRIALS
    firsts = {r["dataset"]: r["hyper_id"] for r in shown if r["rank"] == "1"}
    best = {
        d: max((r for r in every if r["dataset"] == d), key=lambda r: float(r["test_r2"]))[
            "hyper_id"
        ]
        for d in ("diabetes", "toy")
    }
    assert firsts == best


def test_limit_counts_within_each_dataset(two_datasets: Path) -> None:
    shown = table(two_datasets, "--limit", "1")
    assert [(r["rank"], r["dataset"]) for r in shown] == [("1", "diabetes"), ("1", "toy")]


def test_dataset_keeps_one_dataset_and_stays_data(two_datasets: Path) -> None:
    assert {r["dataset"] for r in table(two_datasets, "--dataset", "toy")} == {"toy"}
    csv_rows = parse_csv(rank(two_datasets, "--format", "csv", "--dataset", "toy"))
    assert len(csv_rows) == TOY_TRIALS
    odd = "toy' OR '1'='1"
    assert rank(two_datasets, "--dataset", odd).startswith("no ranked trials of dataset")
    assert parse_csv(rank(two_datasets, "--format", "csv", "--dataset", odd)) == []


def test_parameters_keep_their_significant_digits(two_datasets: Path) -> None:
    shown = table(two_datasets, "--dataset", "diabetes")
    params = {r["params"] for r in shown}
    assert "gamma=18.0013 c=10 epsilon=0.1" in params
    assert "gamma=18.0000 c=10 epsilon=0.1" in params  # not 18, which it is not
    every = parse_csv(rank(two_datasets, "--format", "csv", "--dataset", "diabetes"))
    for row in shown:
        gamma = float(row["params"].split()[0].removeprefix("gamma="))
        exact = float(next(r["gamma"] for r in every if r["hyper_id"] == row["hyper_id"]))
        assert gamma == pytest.approx(exact, rel=5e-6)


def test_an_empty_lake_still_prints_the_csv_header(two_datasets: Path, tmp_path: Path) -> None:
    empty = tmp_path / "lake"
    empty.mkdir()
    header = rank(empty, "--format", "csv")
    assert header == rank(two_datasets, "--format", "csv").splitlines(keepends=True)[0]
    assert json.loads(rank(empty, "--format", "json")) == []
