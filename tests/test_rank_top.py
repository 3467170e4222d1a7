"""`rank --limit N` on the scores: sql/rank_scores_top.sql counts the ranks of the few trials that
can be shown, where sql/rank_scores.sql sorts every trial for its windows. The whole statement,
filtered, is the oracle: the same rows, the same three ranks, ties and NULLs included."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import numpy as np
import pytest

from sweeplake.engines.sqlfiles import read_sql
from sweeplake.rank import best_per_dataset, cv_order
from sweeplake.scores.store import scores_columns
from tests.conftest import sweeplake

POINTS = {"diabetes": 5, "prices": 7}


VALUES = (None, -0.5, 0.1, 0.3, 0.3, 0.42, 0.5, 0.5, 0.55)


def scores_table(
    seed: int, trials: int, values: tuple[float | None, ...] = VALUES
) -> duckdb.DuckDBPyConnection:
    """A DuckDB with `all_scores` and `data` as the scores store shows them: two datasets, three
    models, scores from a handful of values (ties everywhere), some NULL (no test points, no
    CV), failed and pruned trials, and trials whose predictions miss a point."""
    rng = np.random.default_rng(seed)
    connection = duckdb.connect()
    columns = ", ".join(f'"{name}" {kind}' for name, kind in scores_columns().items())
    connection.execute(f"CREATE TABLE all_scores ({columns})")
    connection.execute("CREATE TABLE data (dataset VARCHAR)")
    for dataset, points in POINTS.items():
        connection.executemany("INSERT INTO data VALUES (?)", [[dataset]] * points)
    rows = []
    for n in range(trials):
        dataset = str(rng.choice(list(POINTS)))
        points = POINTS[dataset] - int(rng.random() < 0.1)
        status = str(rng.choice(["ok"] * 8 + ["failed", "pruned"]))
        rows.append(
            {
                "hyper_id": f"H{n:05d}",
                "model": str(rng.choice(["svr", "random_forest", "hist_gradient_boosting"])),
                "status": status,
                "dataset": dataset,
                "points": points,
                "test_r2": values[rng.integers(len(values))],
                "cv_r2": values[rng.integers(len(values))],
                "created_at": f"2026-12-04T00:00:{n % 60:02d}Z",
            }
        )
    names = list(rows[0])
    marks = ", ".join("?" * len(names))
    connection.executemany(
        f"INSERT INTO all_scores ({', '.join(names)}) VALUES ({marks})",
        [[row[name] for name in names] for row in rows],
    )
    return connection


def whole_first(connection, by: str, within: int) -> list[tuple]:
    """The whole leaderboard's first `within` rows of each dataset, in the order `rank` shows
    them (rank.py: by test, the statement's order; by cv, cv_order)."""
    relation = connection.sql(read_sql("rank_scores.sql"))
    columns = relation.columns
    rows = [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]
    if by == "cv":
        rows.sort(key=cv_order)
    first = best_per_dataset(rows, within, None)
    return [tuple(row[c] for c in columns) for row in first]


def top(connection, by: str, within: int) -> list[tuple]:
    params = {"by": by, "within": within}
    relation = connection.sql(read_sql("rank_scores_top.sql"), params=params)
    rows = [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
    if by == "cv":
        rows.sort(key=cv_order)
    return [tuple(row.values()) for row in rows]


@pytest.mark.parametrize("seed", range(6))
def test_the_top_statement_gives_the_whole_leaderboards_first_rows(seed: int) -> None:
    connection = scores_table(seed, trials=[12, 60, 300][seed % 3])
    compared = 0
    for by in ("test", "cv"):
        for within in (1, 2, 3, 5, 10, 20, 1000):
            expected = whole_first(connection, by, within)
            # The same rows in the same order, with the same three ranks.
            assert top(connection, by, within) == expected, (by, within)
            compared += len(expected)
    assert compared > 0


@pytest.mark.parametrize("values", [(None,), (0.5,), (None, 0.5)], ids=["null", "one", "two"])
def test_a_tie_of_every_trial_gives_the_first_by_hyper_id(values: tuple) -> None:
    """Every trial on one score, or without one: all rank 1 (or all last), and the rows shown
    are the first by hyper_id, as the whole leaderboard orders them."""
    connection = scores_table(7, trials=200, values=values)
    for by in ("test", "cv"):
        for within in (1, 10):
            assert top(connection, by, within) == whole_first(connection, by, within)


def test_columns_are_the_whole_leaderboards() -> None:
    connection = scores_table(0, trials=20)
    whole = connection.sql(read_sql("rank_scores.sql")).columns
    assert (
        connection.sql(read_sql("rank_scores_top.sql"), params={"by": "test", "within": 3}).columns
        == whole
    )


def test_rank_limit_prints_the_first_rows_of_the_whole_leaderboard(tmp_path: Path) -> None:
    """Through the CLI on a real lake where the same trials ran twice (ties): `--limit 3`, by
    test and by cv, prints the rows the whole leaderboard (csv, no limit) ranks within 3."""
    lake = tmp_path / "lake"
    for _ in range(2):
        done = sweeplake("run", "--lake", str(lake), "--trials", "6", "--seed", "3")
        assert done.returncode == 0, done.stderr
    for by, column in (("test", "rank"), ("cv", "cv_rank")):
        whole = sweeplake("rank", "--lake", str(lake), "--format", "csv", "--by", by)
        limited = sweeplake(
            "rank", "--lake", str(lake), "--format", "csv", "--by", by, "--limit", "3"
        )
        assert whole.returncode == 0 and limited.returncode == 0, whole.stderr + limited.stderr
        rows = list(csv.DictReader(io.StringIO(whole.stdout)))
        assert len(rows) == 12
        first = [row for row in rows if int(row[column]) <= 3]
        shown = list(csv.DictReader(io.StringIO(limited.stdout)))
        assert len(shown) == 3 and shown == first[:3]
