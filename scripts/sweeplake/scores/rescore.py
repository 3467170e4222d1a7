"""Scores of a batch computed from its facts, for batches written without a scores object.

Every object is read through DuckDB typed by the DDL, as `sql/rank_runs.sql` reads it. A batch
whose hyper, fact or oof object or dataset cannot be read is Unscorable: never scored as if its
trials had no predictions, but skipped, named, and left for the next try.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplake.engines.duckdb import typed_parquet
from sweeplake.engines.readable import readable_objects, reason
from sweeplake.engines.sqlfiles import duckdb_types, table_schema
from sweeplake.lake.parts import batch_files, parquet_batch_files
from sweeplake.scores.daily import day_of
from sweeplake.scores.metrics import cv_score, score
from sweeplake.scores.records import scores_record

log = logging.getLogger("sweeplake.scores")


class Unscorable(Exception):
    """A batch that cannot be scored now; the message says which object and why."""


@dataclass(frozen=True)
class Points:
    """One dataset's points sorted by point_id, as the `data` table holds them."""

    point_ids: np.ndarray
    y_true: np.ndarray
    is_train: np.ndarray
    # The training points held out in some fold: all of them, but for a time series' steps
    # before its first validation window (and for a lake written before folds were data).
    validated: np.ndarray


def read_typed(connection, table: str, *paths: Path):
    """A relation over objects with their table's columns and types (no partition column)."""
    columns = duckdb_types(table_schema(table).columns)
    return connection.read_json(
        [str(p) for p in paths], columns=columns, format="newline_delimited"
    )


def scored_batches(
    connection, root: Path, hyper_keys: list[str], again: str = "refresh"
) -> Iterator[tuple[str, list[dict] | None]]:
    """Each batch's hyper key and scores records, from its objects in the local lake `root`.

    A batch that cannot be scored (Unscorable, or a hyper object DuckDB cannot read whole) is
    named in the log as tried again at the next `again`, and given None.
    """
    datasets = read_points(connection, sorted(root.glob("data/*.json")))

    def skipped(key: str, reason: str) -> None:
        log.warning("skipped %s: %s; tried again at the next %s", key, reason, again)

    whole = readable_objects(
        hyper_keys,
        lambda keys: read_typed(connection, "hyperparams", *(root / key for key in keys)),
        skipped,
    )
    for key in hyper_keys:
        if key not in whole:
            yield key, None
            continue
        rest = key.removeprefix("hyper/")
        fact, oof = root / f"fact/{rest}", root / f"oof/{rest}"
        try:
            yield key, batch_scores(connection, root / key, fact, day_of(key), datasets, oof)
        except Unscorable as exc:
            skipped(key, str(exc))
            yield key, None


def read_points(connection, paths: list[Path]) -> dict[str, Points]:
    """Each dataset's points from the lake's data/ objects; unreadable ones are named, skipped."""
    datasets: dict[str, Points] = {}
    whole = readable_objects(
        paths,
        lambda some: read_typed(connection, "data", *some),
        lambda path, reason: log.warning("skipped data/%s: %s", path.name, reason),
    )
    for path in whole:
        rows = read_typed(connection, "data", path)
        found = (
            rows.select("dataset, point_id, is_train, y_true, fold IS NOT NULL AS has_fold")
            .order("point_id")
            .fetchnumpy()
        )
        for name in set(found["dataset"].tolist()):
            mine = found["dataset"] == name
            is_train = np.asarray(found["is_train"][mine], dtype=bool)
            has_fold = np.asarray(found["has_fold"][mine], dtype=bool) & is_train
            datasets[name] = Points(
                np.asarray(found["point_id"][mine], dtype=np.int64),
                np.asarray(found["y_true"][mine], dtype=np.float64),
                is_train,
                has_fold if has_fold.any() else is_train,
            )
    return datasets


def batch_scores(
    connection,
    hyper: Path,
    fact: Path,
    dt: str,
    datasets: dict[str, Points],
    oof: Path | None = None,
) -> list[dict]:
    """One scores record per hyper record; Unscorable if the hyper or fact object, an oof object
    that is there, or the dataset of an ok or pruned trial cannot be read. An absent oof object
    (a batch run without CV) gives null cv scores."""
    import duckdb

    try:
        trials = read_typed(connection, "hyperparams", hyper)
        names = trials.columns
        hyper_rows = [dict(zip(names, row, strict=True)) for row in trials.fetchall()]
    except duckdb.Error as exc:
        raise Unscorable(f"its hyper object is unreadable ({reason(exc)})") from None
    facts = read_facts(connection, "predict", fact)
    if facts is None:
        raise Unscorable("it has no fact object")
    try:
        found = facts.filter("y_pred IS NOT NULL").fetchnumpy()
    except duckdb.Error as exc:
        raise Unscorable(f"its fact object is unreadable ({reason(exc)})") from None
    scored = ("ok", "pruned")  # a pruned trial's cv scores need its dataset too
    missing = {h["dataset"] for h in hyper_rows if h["status"] in scored} - datasets.keys()
    if missing:
        names = ", ".join(f"data/{name}.json" for name in sorted(missing, key=str))
        raise Unscorable(f"its dataset is not readable in the lake ({names})")
    out_of_fold = read_oof(connection, oof)
    return [
        scores_record(
            h,
            dt,
            {**trial_metrics(h, found, datasets), **trial_cv(h, out_of_fold, datasets)}
            if h["status"] == "ok"
            else trial_cv(h, out_of_fold, datasets)
            if h["status"] == "pruned"
            else None,
        )
        for h in hyper_rows
    ]


def read_facts(connection, table: str, whole: Path):
    """A relation over a batch's facts of `table` (predict or oof): its gzip NDJSON object or
    parts, else the Parquet parts Spark wrote (in the table's Parquet twin); None if neither."""
    import duckdb

    files = batch_files(whole)
    if files:
        return read_typed(connection, table, *files)
    parquet = parquet_batch_files(whole)
    if not parquet:
        return None
    columns = duckdb_types(table_schema(f"{table}_parquet").columns)
    try:
        return typed_parquet(connection, [str(p) for p in parquet], columns)
    except duckdb.Error as exc:
        raise Unscorable(f"its Parquet {table} parts are unreadable ({reason(exc)})") from None


def read_oof(connection, path: Path | None) -> dict | None:
    import duckdb

    oof = None if path is None else read_facts(connection, "oof", path)
    if oof is None:
        return None
    try:
        return oof.filter("y_pred IS NOT NULL").fetchnumpy()
    except duckdb.Error as exc:
        raise Unscorable(f"its oof object is unreadable ({reason(exc)})") from None


def trial_cv(hyper: dict, oof: dict | None, datasets: dict[str, Points]) -> dict:
    """The cv scores from the trial's out-of-fold predictions, if they cover every training
    point of its dataset once, as the audit demands (a pruned trial's: each training point of
    the folds it got, once); none otherwise."""
    points = datasets.get(hyper["dataset"])
    if oof is None or points is None:
        return {}
    mine = oof["hyper_id"] == hyper["hyper_id"]
    point_ids = np.asarray(oof["point_id"], dtype=np.int64)[mine]
    order = np.argsort(point_ids)
    train_ids = points.point_ids[points.validated]
    where = np.searchsorted(train_ids, point_ids[order])
    if hyper["status"] == "pruned":
        covered = np.all(where < len(train_ids)) and len(np.unique(where)) == len(where)
        covered = covered and np.array_equal(train_ids[where], point_ids[order])
    else:
        covered = np.array_equal(point_ids[order], train_ids)
    if not covered or not len(where):
        return {}
    y_oof = np.asarray(oof["y_pred"], dtype=np.float64)[mine][order]
    fold = np.asarray(oof["fold"], dtype=np.int64)[mine][order]
    return cv_score(points.y_true[points.validated][where], y_oof, fold)


def trial_metrics(hyper: dict, facts: dict, datasets: dict[str, Points]) -> dict:
    points = datasets[hyper["dataset"]]
    mine = facts["hyper_id"] == hyper["hyper_id"]
    point_ids = np.asarray(facts["point_id"], dtype=np.int64)[mine]
    y_pred = np.full(len(points.point_ids), np.nan)
    where = np.searchsorted(points.point_ids, point_ids)
    known = where < len(points.point_ids)
    known[known] = points.point_ids[where[known]] == point_ids[known]
    y_pred[where[known]] = np.asarray(facts["y_pred"], dtype=np.float64)[mine][known]
    return score(points.y_true, y_pred, points.is_train)
