"""The report's queries aggregate and sample in the engine: each checked against numpy over the
same 30,000 trials."""

from __future__ import annotations

import csv

import duckdb
import numpy as np
import pytest

from sweeplake.engines.sqlfiles import query_file, read_sql

TRIALS = 30_000


@pytest.fixture(scope="module")
def scores(tmp_path_factory) -> tuple[duckdb.DuckDBPyConnection, dict[str, np.ndarray]]:
    rng = np.random.default_rng(8)
    start = np.datetime64("2026-01-01T00:00:00")
    ok = rng.random(TRIALS) < 0.97
    trials = {
        "hyper_id": np.array([f"01H{i:08d}" for i in range(TRIALS)]),
        "model": rng.choice(["svr", "random_forest"], TRIALS, p=[0.8, 0.2]),
        "status": np.where(ok, "ok", "failed"),
        "test_r2": np.where(ok, rng.normal(0.3, 0.2, TRIALS), np.nan),
        "fit_ms": np.where(ok, rng.lognormal(1.5, 1.0, TRIALS), np.nan),
        "gamma": rng.lognormal(0, 1, TRIALS),
        "c": rng.lognormal(0, 1, TRIALS),
        # Many trials finish in the same second: the order falls back on hyper_id.
        "created_at": np.array(
            [f"{t}Z" for t in start + rng.integers(0, TRIALS // 3, TRIALS).astype("m8[s]")]
        ),
    }
    path = tmp_path_factory.mktemp("scores") / "scores.csv"
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(trials)
        for row in zip(*trials.values(), strict=True):
            out.writerow("" if isinstance(v, float) and np.isnan(v) else v for v in row)
    connection = duckdb.connect()
    # The types the scores store gives these columns (sql/create_scores.sql).
    strings = "{'hyper_id': 'VARCHAR', 'created_at': 'VARCHAR'}"
    connection.execute(f"CREATE TABLE scores AS SELECT * FROM read_csv('{path}', types={strings})")
    return connection, trials


def test_best_so_far_steps_where_numpy_accumulates(scores) -> None:
    connection, t = scores
    steps = query_file(connection, "report_best_so_far.sql", [])
    for model in ("svr", "random_forest"):
        mine = np.flatnonzero((t["model"] == model) & np.isfinite(t["test_r2"]))
        mine = mine[np.lexsort((t["hyper_id"][mine], t["created_at"][mine]))]
        best = np.maximum.accumulate(t["test_r2"][mine])
        raised = np.flatnonzero(np.r_[True, best[1:] > best[:-1]])
        kept = np.union1d(raised, [len(best) - 1])
        got = [row for row in steps if row["model"] == model]
        assert [row["n"] for row in got] == (kept + 1).tolist()
        assert np.allclose([row["best"] for row in got], best[kept], rtol=1e-12)
        assert [row["created_at"] for row in got] == t["created_at"][mine][kept].tolist()


def test_the_scatter_points_are_the_best_and_a_fixed_sample(scores) -> None:
    connection, t = scores
    query = read_sql("report_points.sql")
    drawn = connection.execute(query, {"model": "svr"}).fetchnumpy()
    mine = (t["model"] == "svr") & (t["status"] == "ok")
    assert set(drawn["total"]) == {mine.sum()} and mine.sum() > 22_000
    best = set(t["hyper_id"][mine][np.argsort(-t["test_r2"][mine])[:2000]])
    assert best <= set(drawn["hyper_id"])
    assert 20_000 <= len(drawn["hyper_id"]) <= 22_000
    assert len(set(drawn["hyper_id"])) == len(drawn["hyper_id"])
    assert np.all(np.diff(drawn["test_r2"]) >= 0)  # worst first: the best drawn on top
    again = connection.execute(query, {"model": "svr"}).fetchnumpy()
    assert again["hyper_id"].tolist() == drawn["hyper_id"].tolist()
    sampled = drawn["test_r2"][~np.isin(drawn["hyper_id"], list(best))]
    # The sample is spread over the scores, not their low end: below the best 2,000 its deciles
    # are those of every trial below them.
    below = np.sort(t["test_r2"][mine])[:-2000]
    deciles = np.quantile(below, [0.1, 0.5, 0.9])
    assert np.allclose(np.quantile(sampled, [0.1, 0.5, 0.9]), deciles, atol=0.02)
    forests = connection.execute(query, {"model": "random_forest"}).fetchnumpy()
    every = t["hyper_id"][(t["model"] == "random_forest") & (t["status"] == "ok")]
    assert sorted(forests["hyper_id"]) == sorted(every)  # fewer than 22,000: all of them


def test_fit_time_bins_are_numpys_histogram(scores) -> None:
    connection, t = scores
    bins = query_file(connection, "report_fit_times.sql", [])
    timed = t["fit_ms"] > 0
    edges = np.geomspace(t["fit_ms"][timed].min(), t["fit_ms"][timed].max() * 1.01, 41)
    assert np.allclose(np.exp([bins[0]["lo"], bins[0]["hi"]]), edges[[0, -1]])
    for model in ("svr", "random_forest"):
        counts, _ = np.histogram(t["fit_ms"][timed & (t["model"] == model)], bins=edges)
        got = np.zeros(40)
        for row in bins:
            if row["model"] == model:
                got[int(row["bin"])] = row["trials"]
        assert got.tolist() == counts.tolist()
