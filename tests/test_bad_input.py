"""Bad input of any kind: one line on stderr, exit status 2, no traceback, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import sweeplake

SVR = {"model": "svr", "gamma": 1.0, "c": 1.0, "epsilon": 0.1}


def assert_refused(result, lake: Path, fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sweeplake: error: ")
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not lake.exists() or not [p for p in lake.rglob("*") if p.is_file()]


def params_file(tmp_path: Path, *lines: object) -> str:
    path = tmp_path / "params.jsonl"
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return str(path)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--dataset", "/nonexistent/data.json"], "cannot read it"),
        (["--model", "xgboost"], "unknown model 'xgboost'"),
        (["--trials", "-3"], "--trials must be at least 1"),
        (["--trials", "many"], "invalid int value"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--budget", "-1"], "--budget must be positive"),
        (["--seed", "-1"], "--seed must be in"),
        (["--lake", "gs://bucket/x"], "only a local folder or s3://"),
        (["--colour", "red"], "unrecognized arguments"),
    ],
)
def test_bad_flags(tmp_path: Path, args: list[str], fragment: str) -> None:
    lake = tmp_path / "lake"
    assert_refused(sweeplake("run", "--lake", str(lake), *args), lake, fragment)


def test_malformed_dataset(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    data.write_text('{"point_id": 1, "is_train": true, "x": 1, "y_true": 2}\n{"point_id": 2,\n')
    lake = tmp_path / "lake"
    result = sweeplake("run", "--lake", str(lake), "--dataset", str(data))
    assert_refused(result, lake, "line 2: not valid JSON")


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("{oops", "line 2: not valid JSON"),
        ({**SVR, "model": "lasso"}, "model must be one of"),
        ({**SVR, "model": {"svr": 1}}, "model must be one of"),
        ({k: v for k, v in SVR.items() if k != "c"}, "missing c"),
        ({**SVR, "kernel": "linear"}, "unknown key 'kernel'"),
        ({**SVR, "gamma": "16"}, "gamma must be a number"),
        ({**SVR, "gamma": -1.0}, "outside its valid range"),
        ('{"model": "svr", "gamma": NaN, "c": 1, "epsilon": 0.1}', "not valid JSON"),
        ('{"model": "svr", "gamma": 1e999, "c": 1, "epsilon": 0.1}', "outside its valid range"),
        (
            {
                "model": "random_forest",
                "n_estimators": 10.5,
                "max_depth": 3,
                "min_samples_split": 2,
                "min_samples_leaf": 1,
                "max_features": 0.5,
            },
            "n_estimators must be an integer",
        ),
        ([1, 2], "not a JSON object"),
    ],
)
def test_bad_params_line(tmp_path: Path, line: object, fragment: str) -> None:
    lake = tmp_path / "lake"
    result = sweeplake("run", "--lake", str(lake), "--params", params_file(tmp_path, SVR, line))
    assert_refused(result, lake, fragment)


def test_empty_params_file(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    result = sweeplake("run", "--lake", str(lake), "--params", params_file(tmp_path))
    assert_refused(result, lake, "holds no parameter sets")


def test_a_lake_directory_the_process_cannot_write_is_refused(tmp_path: Path) -> None:
    # A user is stopped by the folder's permission bits; root writes through those, and is
    # stopped by a read-only file system (a tmpfs mounted read-only), as on a locked-down box.
    parent = tmp_path / "locked"
    parent.mkdir(mode=0o500)
    if os.geteuid() == 0:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(parent)],
            capture_output=True,
            text=True,
        )
        assert mounted.returncode == 0, f"cannot mount a read-only tmpfs: {mounted.stderr}"
    try:
        lake = parent / "lake"
        result = sweeplake("run", "--lake", str(lake), "--trials", "1")
        assert_refused(result, lake, "not writable")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(parent)], check=True)


def test_unwritable_lake_directory(tmp_path: Path) -> None:
    # A regular file where the lake folder should be: no user, root included, can write there.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    lake = blocker / "lake"
    result = sweeplake("run", "--lake", str(lake), "--trials", "1")
    assert_refused(result, lake, f"lake {lake}: {blocker} is a file, not a folder: give --lake")
    assert blocker.read_text() == "not a folder"


def test_a_file_given_as_the_lake_is_named_as_such(tmp_path: Path) -> None:
    lake = tmp_path / "lake.txt"
    lake.write_text("notes")
    for command in ("run", "rank"):
        result = sweeplake(command, "--lake", str(lake))
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert f"lake {lake}" in result.stderr and "is a file, not a folder" in result.stderr
    assert lake.read_text() == "notes"


def test_a_dataset_without_y_true_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    data.write_text('{"point_id": 1, "is_train": true, "x": 1}\n')
    lake = tmp_path / "lake"
    result = sweeplake("run", "--lake", str(lake), "--dataset", str(data))
    assert_refused(result, lake, "line 1: lacks y_true: every line needs point_id, is_train and")


def test_export_data_to_a_folder_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    result = sweeplake("export-data", "--out", str(folder))
    assert_refused(result, folder, f"--out {folder} is a folder: give a file path")
    assert list(tmp_path.rglob("*")) == [folder]


def test_export_data_below_a_file_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file.json"
    blocker.write_text("{}")
    out = blocker / "below" / "data.json"
    result = sweeplake("export-data", "--out", str(out))
    assert_refused(result, tmp_path / "nothing", f"{blocker} is a file, so nothing can be written")
    assert list(tmp_path.rglob("*")) == [blocker] and blocker.read_text() == "{}"


def test_a_different_dataset_under_a_name_the_lake_holds_is_refused(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    assert sweeplake("run", "--lake", str(lake), "--trials", "1", "--workers", "1").returncode == 0
    before = sorted(p for p in lake.rglob("*") if p.is_file())
    other = tmp_path / "diabetes.json"
    other.write_text(
        '{"point_id": 1, "is_train": true, "x": 1, "y_true": 2}\n'
        '{"point_id": 2, "is_train": false, "x": 2, "y_true": 3}\n'
        '{"point_id": 3, "is_train": true, "x": 3, "y_true": 1}\n'
    )
    result = sweeplake("run", "--lake", str(lake), "--dataset", str(other))
    assert result.returncode == 2
    assert "already holds a different dataset named 'diabetes'" in result.stderr
    assert sorted(p for p in lake.rglob("*") if p.is_file()) == before


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--limit", "0"], "--limit must be at least 1"),
        (["--format", "xml"], "unknown format 'xml'"),
        (["--engine", "sqlite"], "unknown engine 'sqlite'"),
    ],
)
def test_bad_rank_flags(tmp_path: Path, args: list[str], fragment: str) -> None:
    lake = tmp_path / "lake"
    assert_refused(sweeplake("rank", "--lake", str(lake), *args), lake, fragment)


def test_rank_on_a_lake_that_does_not_exist(tmp_path: Path) -> None:
    lake = tmp_path / "nowhere"
    result = sweeplake("rank", "--lake", str(lake))
    assert_refused(result, lake, f"no lake at {lake}: check --lake (or $SWEEPLAKE_LAKE)")
    assert not lake.exists()
