"""The fixed dataset: exported byte for byte, equal to the previous system's, checked on load."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.model_selection import KFold, train_test_split

from sweeplake.dataset import export_diabetes, load_dataset
from sweeplake.errors import BadInput
from tests.conftest import FIXTURES, REPO, sweeplake

COMMITTED = REPO / "data" / "diabetes.json"
# The dataset object a lake got before folds were data: the same points, no `fold` key.
WITHOUT_FOLDS = FIXTURES / "lake-before-cv" / "data" / "diabetes.json"


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_is_byte_identical_to_the_committed_file(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert sweeplake("export-data", "--out", str(first)).returncode == 0
    export_diabetes(second)
    assert first.read_bytes() == second.read_bytes() == COMMITTED.read_bytes()


def test_export_holds_the_previous_systems_points_split_and_values() -> None:
    ours = read_lines(COMMITTED)
    previous = read_lines(FIXTURES / "previous_diabetes_data.json")
    assert [p["point_id"] for p in ours] == [p["point_id"] for p in previous]
    assert [p["is_train"] for p in ours] == [p["is_train"] for p in previous]
    for mine, theirs in zip(ours, previous, strict=True):
        assert mine["dataset"] == "diabetes"
        assert set(mine) - {"dataset", "fold"} == set(theirs)
        assert mine["y_true"] == theirs["y_true"]
        for key, value in theirs.items():
            # The previous export differs from scikit-learn's doubles in the last bit, 11 times.
            assert math.isclose(mine[key], value, rel_tol=1e-14, abs_tol=0), (mine, key)


def test_split_is_the_one_train_test_split_gives() -> None:
    dataset = load_dataset(COMMITTED)
    indices = np.arange(len(load_diabetes().target))
    train, test = train_test_split(indices, test_size=0.2, random_state=44, shuffle=True)
    assert sorted(dataset.point_ids[dataset.is_train]) == sorted(train)
    assert sorted(dataset.point_ids[~dataset.is_train]) == sorted(test)
    assert dataset.features == tuple(load_diabetes().feature_names)
    np.testing.assert_array_equal(dataset.x, load_diabetes().data)


def test_training_points_carry_kfolds_folds_and_test_points_none() -> None:
    lines = read_lines(COMMITTED)
    train_ids = sorted(p["point_id"] for p in lines if p["is_train"])
    expected = {}
    for k, (_, held_out) in enumerate(KFold(5, shuffle=True, random_state=44).split(train_ids)):
        expected.update({train_ids[i]: k for i in held_out})
    assert {p["point_id"]: p["fold"] for p in lines if p["is_train"]} == expected
    assert {p["fold"] for p in lines if not p["is_train"]} == {None}
    assert list(lines[0])[:4] == ["dataset", "point_id", "is_train", "fold"]


def test_a_file_without_folds_gets_the_same_folds_on_load() -> None:
    assert "fold" not in WITHOUT_FOLDS.read_text().splitlines()[0]
    dataset = load_dataset(WITHOUT_FOLDS)
    assert dataset.canonical == COMMITTED.read_bytes()
    assert dataset.folds == 5


def test_the_sha256_before_folds_is_the_one_old_lakes_hold() -> None:
    dataset = load_dataset(COMMITTED)
    assert dataset.sha256_without_folds == hashlib.sha256(WITHOUT_FOLDS.read_bytes()).hexdigest()
    assert dataset.sha256 == hashlib.sha256(COMMITTED.read_bytes()).hexdigest()
    assert dataset.sha256 != dataset.sha256_without_folds


def write(path: Path, lines: list) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


GOOD = [
    {"point_id": 1, "is_train": True, "f1": 0.5, "y_true": 1.0},
    {"point_id": 2, "is_train": False, "f1": 1.5, "y_true": 2.0},
]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "holds no points"),
        (["{not json"], "line 1: not valid JSON"),
        (["[1, 2]"], "not a JSON object"),
        ([GOOD[0], {**GOOD[1], "f1": "x"}], "f1 must be a number"),
        ([GOOD[0], {**GOOD[1], "f1": True}], "f1 must be a number"),
        ([GOOD[0], '{"point_id": 2, "is_train": false, "f1": NaN, "y_true": 2}'], "not valid JSON"),
        ([GOOD[0], '{"point_id": 2, "is_train": false, "f1": 1e999, "y_true": 2}'], "finite"),
        ([GOOD[0], {**GOOD[1], "y_true": 10**400}], "y_true must be finite"),
        ([GOOD[0], {**GOOD[1], "point_id": 1}], "point_id values repeat"),
        ([GOOD[0], {**GOOD[1], "point_id": 2.5}], "point_id must be a 64-bit integer"),
        ([GOOD[0], {**GOOD[1], "is_train": True}], "needs both train and test points"),
        ([GOOD[0], {**GOOD[1], "is_train": 0}], "is_train must be true or false"),
        ([GOOD[0], {**GOOD[1], "f2": 1.0}], "line 2: has f2 as well: every line holds exactly"),
        ([GOOD[0], {k: v for k, v in GOOD[1].items() if k != "f1"}], "line 2: lacks f1: every"),
        ([GOOD[0], {k: v for k, v in GOOD[1].items() if k != "y_true"}], "line 2: lacks y_true"),
        ([{k: v for k, v in GOOD[0].items() if k != "is_train"}], "line 1: lacks is_train"),
        ([{"point_id": 1, "is_train": True, "y_true": 1.0}], "no feature"),
        ([{**GOOD[0], "Bad Name": 1.0}], "must be a lowercase SQL name"),
        ([{**GOOD[0], "dataset": "a b"}, {**GOOD[1], "dataset": "a b"}], "must be letters"),
        ([{**GOOD[0], "dataset": "a"}, {**GOOD[1], "dataset": "b"}], "more than one dataset"),
        ([{**GOOD[0], "fold": 0}, GOOD[1]], "line 2: lacks fold: every line holds exactly"),
        ([{**GOOD[0], "fold": 0}, {**GOOD[1], "fold": 1}], "a test point's fold must be null"),
        ([{**GOOD[0], "fold": None}, {**GOOD[1], "fold": None}], "fold must be an integer"),
        ([{**GOOD[0], "fold": -1}, {**GOOD[1], "fold": None}], "fold must be an integer"),
        ([{**GOOD[0], "fold": 1.0}, {**GOOD[1], "fold": None}], "fold must be an integer"),
        ([{**GOOD[0], "fold": True}, {**GOOD[1], "fold": None}], "fold must be an integer"),
        ([{**GOOD[0], "fold": 0}, {**GOOD[1], "fold": None}], "at least two folds"),
        (GOOD, "needs at least two training points, for two folds"),
    ],
)
def test_a_bad_dataset_is_refused_with_one_clear_line(
    tmp_path: Path, lines: list, message: str
) -> None:
    path = write(tmp_path / "bad.json", lines)
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(path)


def test_bytes_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"point_id": 1, "f\xe9": 1}\n')
    with pytest.raises(BadInput, match="not UTF-8"):
        load_dataset(path)


def test_any_dataset_of_that_shape_is_read_with_its_own_features(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [
        {
            "point_id": i,
            "is_train": i % 4 != 0,
            "u": float(rng.normal()),
            "v": float(i),
            "y_true": float(rng.normal()),
        }
        for i in range(20)
    ]
    dataset = load_dataset(write(tmp_path / "toy.v2.json", rows))
    assert dataset.name == "toy"
    assert dataset.features == ("u", "v")
    assert dataset.x.shape == (20, 2)
    assert int(dataset.is_train.sum()) == 15
    reread = [json.loads(line) for line in dataset.canonical.decode().splitlines()]
    assert {k: v for k, v in reread[3].items() if k != "fold"} == {"dataset": "toy", **rows[3]}
    assert [line["fold"] for line in reread] == [
        int(k) if train else None for k, train in zip(dataset.fold, dataset.is_train, strict=True)
    ]
    assert sorted(set(dataset.fold[dataset.is_train])) == [0, 1, 2, 3, 4]
