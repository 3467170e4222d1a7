"""`import-data`: any numeric CSV becomes a dataset file that `run --dataset` takes."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

from sweeplake.dataset import load_dataset
from tests.conftest import REPO, sweeplake


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def imported(*args: str) -> None:
    done = sweeplake("import-data", *args)
    assert done.returncode == 0, done.stderr


def test_scikit_learns_diabetes_as_csv_gives_back_our_dataset(tmp_path: Path) -> None:
    bunch = load_diabetes()
    rows = [
        [repr(float(v)) for v in (*x, y)] for x, y in zip(bunch.data, bunch.target, strict=True)
    ]
    source = write_csv(tmp_path / "diabetes.csv", [*bunch.feature_names, "target"], rows)
    imported("--csv", str(source), "--target", "target", "--seed", "44", "--test-size", "0.2")
    ours = load_dataset(tmp_path / "diabetes.json")
    committed = load_dataset(REPO / "data" / "diabetes.json")
    assert ours.name == committed.name == "diabetes"
    assert ours.features == committed.features
    np.testing.assert_array_equal(ours.point_ids, committed.point_ids)
    np.testing.assert_array_equal(ours.is_train, committed.is_train)
    np.testing.assert_array_equal(ours.x, committed.x)
    np.testing.assert_array_equal(ours.y, committed.y)


def test_the_split_is_train_test_splits_and_names_become_sql_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(23, 3)).tolist()
    source = write_csv(tmp_path / "plants.csv", ["Leaf Width (cm)", "2nd", "Yield"], rows)
    out = tmp_path / "sub" / "greenhouse.json"
    imported("--csv", str(source), "--target", "Yield", "--seed", "9", "--test-size", "0.3")
    imported("--csv", str(source), "--target", "Yield", "--seed", "9", "--test-size", "0.3",
             "--out", str(out))  # fmt: skip
    data = load_dataset(out)
    assert data.name == "greenhouse"
    assert load_dataset(tmp_path / "plants.json").name == "plants"
    assert data.features == ("leaf_width_cm", "x_2nd")
    train, test = train_test_split(np.arange(23), test_size=0.3, random_state=9, shuffle=True)
    np.testing.assert_array_equal(np.flatnonzero(data.is_train), np.sort(train))
    assert len(test) == math.ceil(0.3 * 23)
    np.testing.assert_array_equal(data.x, np.array(rows)[:, :2])
    np.testing.assert_array_equal(data.y, np.array(rows)[:, 2])


GOOD = [[float(i), float(i % 3), float(2 * i)] for i in range(12)]


@pytest.mark.parametrize(
    ("header", "rows", "args", "fragment"),
    [
        (["a", "b", "y"], [*GOOD, [1.0, "red", 2.0]], [], "column 'b' holds 'red', not a number"),
        (["a", "b", "y"], [*GOOD, [1.0, "", 2.0]], [], "column 'b' is empty"),
        (["a", "b", "y"], [*GOOD, [1.0, "NaN", 2.0]], [], "holds 'NaN': every value must be"),
        (["a", "b", "y"], [*GOOD, [1.0, "inf", 2.0]], [], "holds 'inf'"),
        (["a", "b", "y"], [*GOOD, [1.0, 2.0]], [], "line 14: 2 fields where the header has 3"),
        (["a", "b", "y"], GOOD[:5], [], "5 rows give 4 train and 1 test points"),
        (["a", "b", "Y"], GOOD, [], "no column 'y' for --target; it has a, b, Y"),
        (["y"], [[1.0]] * 12, [], "no column besides the target"),
        (["a", "a", "y"], GOOD, [], "column 'a' appears more than once"),
        (["A", "a", "y"], GOOD, [], "column 'a' would be named 'a', which is taken"),
        (["a", "b", "y"], GOOD, ["--test-size", "1.5"], "--test-size must be between 0 and 1"),
        (["a", "b", "y"], GOOD, ["--test-size", "0.9"], "12 rows give 1 train and 11 test"),
    ],
)
def test_bad_csv_is_refused_with_one_line_and_nothing_written(
    tmp_path: Path, header: list, rows: list, args: list, fragment: str
) -> None:
    source = write_csv(tmp_path / "bad.csv", header, rows)
    done = sweeplake("import-data", "--csv", str(source), "--target", "y", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("sweeplake: error: ") and done.stderr.count("\n") == 1
    assert fragment in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_an_empty_or_missing_csv_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    done = sweeplake("import-data", "--csv", str(tmp_path / "empty.csv"), "--target", "y")
    assert done.returncode == 2 and "empty; its first line must name the columns" in done.stderr
    done = sweeplake("import-data", "--csv", str(tmp_path / "none.csv"), "--target", "y")
    assert done.returncode == 2 and "cannot read it" in done.stderr
