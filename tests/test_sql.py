"""The files in sql/: valid Athena SQL as they stand, and the one source of the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from sweeplake.engines.sqlfiles import TABLE_FILES, fill, table_schema
from sweeplake.paths import SQL_DIR
from tests.conftest import sweeplake
from tests.lakeread import records

SQL_FILES = sorted(SQL_DIR.glob("*.sql"))


def test_there_is_one_file_per_table_plus_the_database_and_the_queries() -> None:
    names = {p.name for p in SQL_FILES}
    queries = {"rank_runs.sql", "rank_scores.sql", "sampler_history.sql", "committed_batches.sql"}
    queries |= {"prune_history.sql", "history_seen.sql"}
    # `rank --limit N` on DuckDB's scores: the leaderboard's first rows, counted, not sorted.
    queries |= {"rank_scores_top.sql"}
    compacted = {"create_scores_daily.sql", "create_all_scores.sql"}
    views = {"create_forest_predict.sql"}
    # The questions promote and report ask of the scores.
    questions = {"best_by_test.sql", "best_by_cv.sql", "promote_trial.sql"}
    questions |= {"report_outcomes.sql", "report_best_so_far.sql", "report_points.sql"}
    questions |= {"report_fit_times.sql", "report_timings.sql"}
    assert names == {
        "create_database.sql",
        *queries,
        *compacted,
        *views,
        *questions,
        *TABLE_FILES.values(),
    }


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.name)
def test_every_file_parses_as_one_athena_statement(path: Path) -> None:
    for text in (
        path.read_text(),
        fill(
            path.read_text(),
            location="s3://b/p",
            database="db",
            first_day="2026-01-05",
            compacted_through="2026-01-04",
        ),
    ):
        statements = [s for s in sqlglot.parse(text, read="athena") if s is not None]
        assert len(statements) == 1


@pytest.mark.parametrize("table", sorted(TABLE_FILES))
def test_the_schema_reader_agrees_with_sqlglot(table: str) -> None:
    text = fill(
        (SQL_DIR / TABLE_FILES[table]).read_text(), location="s3://b/p", first_day="2026-01-05"
    )
    create = sqlglot.parse_one(text, read="athena")
    schema = create.this
    columns = {c.name: c.args["kind"].sql("athena").upper() for c in schema.expressions}
    partitions = {
        c.name: c.args["kind"].sql("athena").upper()
        for prop in create.find_all(exp.PartitionedByProperty)
        for c in prop.this.expressions
    }
    ours = table_schema(table)
    assert list(ours.columns) == list(columns)
    assert {k: v.replace("STRING", "VARCHAR") for k, v in ours.columns.items()} == {
        k: v.replace("STRING", "VARCHAR") for k, v in columns.items()
    }
    assert list(ours.partitions) == list(partitions)


def test_the_compacted_scores_have_the_per_batch_scores_columns() -> None:
    def columns(name: str) -> list[tuple[str, str]]:
        text = fill((SQL_DIR / name).read_text(), location="s3://b/p", first_day="2026-01-05")
        create = sqlglot.parse_one(text, read="athena")
        return [(c.name, c.args["kind"].sql("athena")) for c in create.this.expressions]

    assert columns("create_scores_daily.sql") == columns("create_scores.sql")


def test_doubles_keep_full_precision_in_the_ddl() -> None:
    for table in TABLE_FILES:
        assert "FLOAT" not in set(table_schema(table).columns.values())


def test_records_carry_exactly_the_columns_of_the_ddl(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    assert sweeplake("run", "--lake", str(lake), "--trials", "2", "--workers", "1").returncode == 0
    for table, prefix in (("hyperparams", "hyper"), ("predict", "fact"), ("oof", "oof")):
        expected = list(table_schema(table).columns)
        for record in records(lake, prefix):
            assert list(record) == expected
            assert all(key == key.lower() for key in record)
    first = (lake / "data" / "diabetes.json").read_text().splitlines()[0]
    assert list(json.loads(first)) == list(table_schema("data").columns)
