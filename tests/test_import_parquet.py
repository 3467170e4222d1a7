"""`import-data --out X.parquet`: a CSV or Parquet source streamed through DuckDB into a Parquet
dataset that `run --dataset` reads, its values those of the source (read here with Python's csv
module), its split and folds drawn per point."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import numpy as np
from conftest import sweeplake

from sweeplake.dataset import load_dataset


def write_csv(path: Path, rows: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + rng.normal(scale=0.1, size=rows)
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["Size", "Blood Pressure", "age", "target"])
        out.writerows([*row.tolist(), value] for row, value in zip(x, y.tolist(), strict=True))
    return path


def test_a_csv_streams_into_a_parquet_dataset_run_can_read(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "big.csv", 3000)
    out = tmp_path / "big.parquet"
    done = sweeplake(
        "import-data", "--csv", str(source), "--target", "target", "--test-size", "0.25",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with open(source, newline="") as handle:
        rows = list(csv.DictReader(handle))
    dataset = load_dataset(out)
    assert dataset.name == "big" and dataset.features == ("size", "blood_pressure", "age")
    assert np.array_equal(dataset.point_ids, np.arange(3000))  # the rows' order in the CSV
    expected = np.array(
        [[float(r["Size"]), float(r["Blood Pressure"]), float(r["age"])] for r in rows]
    )
    assert np.array_equal(dataset.x, expected)
    assert np.array_equal(dataset.y, np.array([float(r["target"]) for r in rows]))
    test_share = 1 - dataset.is_train.mean()
    assert abs(test_share - 0.25) < 0.03  # 3000 draws: 4 standard deviations is 0.032
    folds = np.bincount(dataset.fold[dataset.is_train])
    assert len(folds) == 5 and folds.min() > 0.8 * folds.mean()
    assert (dataset.fold[~dataset.is_train] == -1).all()
    again = tmp_path / "again" / "big.parquet"
    again.parent.mkdir()
    sweeplake("import-data", "--csv", str(source), "--target", "target", "--test-size", "0.25",
              "--out", str(again))  # fmt: skip
    assert load_dataset(again).sha256 == dataset.sha256  # the same split on every run
    lake = tmp_path / "lake"
    ran = sweeplake("run", "--lake", str(lake), "--dataset", str(out), "--trials", "2")
    assert ran.returncode == 0, ran.stderr


def test_a_parquet_source_streams_too(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "src.csv", 200)
    folder = tmp_path / "parts"
    folder.mkdir()
    duckdb.sql(
        f"COPY (SELECT * FROM read_csv('{source}')) TO '{folder / 'a.parquet'}' (FORMAT parquet)"
    )
    out = tmp_path / "fromparquet.parquet"
    done = sweeplake(
        "import-data", "--parquet", str(folder), "--target", "target", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert len(load_dataset(out).point_ids) == 200


def test_a_bad_streamed_source_is_one_line_and_nothing_written(tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("a,b,target\n1,2,3\n4,oops,6\n" + "1,2,3\n" * 20)
    out = tmp_path / "bad.parquet"
    done = sweeplake("import-data", "--csv", str(source), "--target", "target", "--out", str(out))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "column 'b'" in done.stderr
    no_target = sweeplake("import-data", "--csv", str(source), "--target", "y", "--out", str(out))
    assert no_target.returncode == 2 and "no column 'y'" in no_target.stderr
    as_json = sweeplake("import-data", "--parquet", str(out), "--target", "target")
    assert as_json.returncode == 2 and "--out" in as_json.stderr
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
