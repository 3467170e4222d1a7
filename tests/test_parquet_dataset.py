"""`--dataset` as Parquet (a file, a folder of files, s3://): the same points, checks and sha256
as the JSON lines dataset with the same columns."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
from conftest import sweeplake

from sweeplake.dataset import load_dataset
from sweeplake.paths import DEFAULT_DATASET


def to_parquet(source: Path, out: Path, where: str = "true", drop: str = "") -> Path:
    """The JSON dataset's rows (or some of them) written as Parquet by DuckDB."""
    exclude = f" EXCLUDE ({drop})" if drop else ""
    duckdb.sql(
        f"COPY (SELECT *{exclude} FROM read_json('{source}', format='newline_delimited') "
        f"WHERE {where} ORDER BY point_id) TO '{out}' (FORMAT parquet)"
    )
    return out


def assert_same(ours, theirs) -> None:
    assert ours.sha256 == theirs.sha256 and ours.name == theirs.name
    assert ours.features == theirs.features
    for field in ("point_ids", "x", "y", "is_train", "fold"):
        assert np.array_equal(getattr(ours, field), getattr(theirs, field)), field


def test_a_parquet_file_or_folder_is_the_json_dataset(tmp_path: Path) -> None:
    json_dataset = load_dataset(DEFAULT_DATASET)
    single = to_parquet(DEFAULT_DATASET, tmp_path / "diabetes.parquet")
    assert_same(load_dataset(single), json_dataset)
    folder = tmp_path / "diabetes"
    folder.mkdir()
    to_parquet(DEFAULT_DATASET, folder / "a.parquet", "point_id < 200")
    to_parquet(DEFAULT_DATASET, folder / "b.parquet", "point_id >= 200")
    assert_same(load_dataset(folder), json_dataset)


def test_a_parquet_dataset_on_s3_is_the_json_dataset(
    aws, bucket, tmp_path: Path, monkeypatch
) -> None:
    for name, value in aws.env().items():
        monkeypatch.setenv(name, value)
    client = aws.client()
    for half, where in (("a", "point_id < 200"), ("b", "point_id >= 200")):
        part = to_parquet(DEFAULT_DATASET, tmp_path / f"{half}.parquet", where)
        key = f"sets/diabetes/{half}.parquet"
        client.put_object(Bucket=bucket, Key=key, Body=part.read_bytes())
    assert_same(load_dataset(f"s3://{bucket}/sets/diabetes/"), load_dataset(DEFAULT_DATASET))


def test_a_run_on_a_parquet_dataset_holds_the_json_dataset_in_the_lake(
    tmp_path: Path, lake: Path
) -> None:
    source = to_parquet(DEFAULT_DATASET, tmp_path / "diabetes.parquet")
    done = sweeplake("run", "--lake", str(lake), "--dataset", str(source), "--trials", "2")
    assert done.returncode == 0, done.stderr
    held = (lake / "data" / "diabetes.json").read_bytes()
    assert held == load_dataset(DEFAULT_DATASET).canonical


def test_a_bad_parquet_dataset_is_one_line_and_nothing_written(tmp_path: Path, lake: Path) -> None:
    no_target = to_parquet(DEFAULT_DATASET, tmp_path / "no_target.parquet", drop="y_true")
    not_parquet = tmp_path / "text.parquet"
    not_parquet.write_text("point_id,y_true\n1,2\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    for source, says in (
        (no_target, "lacks y_true"),
        (not_parquet, "not readable as Parquet"),
        (empty, "no Parquet file"),
    ):
        done = sweeplake("run", "--lake", str(lake), "--dataset", str(source))
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert says in done.stderr
    assert not lake.exists()
