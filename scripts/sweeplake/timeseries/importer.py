"""A time-series dataset file from a long-format CSV or Parquet table: what `sweeplake
import-data --time-column ...` writes."""

from __future__ import annotations

import logging
import math
from datetime import date, datetime
from pathlib import Path

import numpy as np

from sweeplake.dataset import NO_FOLD, encode_points
from sweeplake.errors import BadInput
from sweeplake.importcsv import number, out_path, read_rows
from sweeplake.outfile import write_user_file
from sweeplake.timeseries.features import Spec, parse_lags, parse_rolling, series_features
from sweeplake.timeseries.folds import forward_folds
from sweeplake.timeseries.meta import TimeSeries

log = logging.getLogger("sweeplake.import")


def import_timeseries(
    source: Path,
    target: str,
    time_column: str,
    series_column: str | None = None,
    lags: str = "1",
    rolling: str = "",
    gap: int = 0,
    test_size: float = 0.2,
    folds: int = 5,
    time_format: str | None = None,
    out: Path | None = None,
) -> Path:
    """Write `source` as a time-series dataset: per series, features from the past alone, the
    last `test_size` of its steps as test, forward-chaining folds over the rest."""
    if not 0 < test_size < 1:
        raise BadInput(f"--test-size must be between 0 and 1, got {test_size}")
    if gap < 0:
        raise BadInput(f"--gap must be 0 or more steps, got {gap}")
    if folds < 2:
        raise BadInput(f"--folds must be 2 or more, got {folds}")
    out, name = out_path(source, out, "table")

    header, rows = read_table(source)
    for flag, column in (("--time-column", time_column), ("--series-column", series_column)):
        if column is not None and column not in header:
            raise BadInput(f"table {source}: no column {column!r:.40} for {flag}")
    keys = {time_column, series_column}
    numeric = [c for c in header if c not in keys and all(is_number(cells[c]) for _, cells in rows)]
    parsed_rolling = parse_rolling(rolling)
    for column in (target, *(r.column for r in parsed_rolling)):
        if column not in header:
            raise BadInput(f"table {source}: no column {column!r:.40} (it has {', '.join(header)})")
        if column not in numeric:
            bad = next(
                (line, cells[column]) for line, cells in rows if not is_number(cells[column])
            )
            number(source, bad[0], column, bad[1])  # raises, naming the line and cell
    others = tuple(c for c in numeric if c != target)
    spec = Spec(target, parse_lags(lags), parsed_rolling, others)
    names = spec.names()
    left_out = [c for c in header if c not in keys and c not in numeric]

    by_series: dict[str, list[tuple[object, str, dict]]] = {}
    for line, cells in rows:
        key, shown = time_key(source, line, time_column, cells[time_column], time_format)
        label = "" if series_column is None else str(cells[series_column]).strip()
        by_series.setdefault(label, []).append((key, shown, cells))
    columns = {"series": [], "time": [], "x": [], "y": [], "is_train": [], "fold": []}
    warmup: dict[str, list[float]] = {}
    dropped = 0
    for label in sorted(by_series):
        steps = sorted(by_series[label], key=lambda step: step[0])
        shown = [s[1] for s in steps]
        if len(set(shown)) != len(shown):
            repeated = next(t for t in shown if shown.count(t) > 1)
            raise BadInput(f"table {source}: series {label!r:.40} has time {repeated} twice")
        table = {c: np.array([float(s[2][c]) for s in steps]) for c in spec.columns}
        x = series_features(spec, table)
        complete = ~np.isnan(x).any(axis=1)
        first = int(np.argmax(complete)) if complete.any() else len(x)
        if not complete[first:].all() or len(x) - first < 2:
            raise BadInput(
                f"table {source}: series {label!r:.40} has {len(x)} steps, too few for windows "
                f"of {spec.warmup} steps and a test step"
            )
        dropped += first
        warmup[label] = table[target][:first].tolist()
        kept = len(x) - first
        tests = math.ceil(test_size * kept)
        train = kept - tests
        fold = forward_folds(train, folds, gap) if train > 0 else np.array([], dtype=np.int64)
        columns["series"] += [label] * kept
        columns["time"] += shown[first:]
        columns["x"].append(x[first:])
        columns["y"].append(table[target][first:])
        columns["is_train"] += [True] * train + [False] * tests
        columns["fold"].append(np.concatenate([fold, np.full(tests, NO_FOLD)]))
    meta = {
        "time_column": time_column,
        "series_column": series_column,
        "folds": folds,
        "gap": gap,
        "test_size": test_size,
        "spec": spec.to_json(),
        "warmup": warmup,
    }
    points = len(columns["series"])
    timeseries = TimeSeries(meta, np.array(columns["series"]), np.array(columns["time"]))
    is_train = np.array(columns["is_train"])
    payload = encode_points(
        name,
        names,
        np.arange(points),
        np.concatenate(columns["x"]),
        np.concatenate(columns["y"]),
        is_train,
        np.concatenate(columns["fold"]),
        timeseries,
    )
    written = write_user_file(out, payload, "--out")
    log.info(
        "wrote %s: time-series dataset %s, %d series, %d points (%d train, %d test), "
        "%d rows dropped for unfilled windows, %d features, %d forward-chaining folds with gap "
        "%d, y_true from %s%s",
        written,
        name,
        len(by_series),
        points,
        int(is_train.sum()),
        points - int(is_train.sum()),
        dropped,
        len(names),
        folds,
        gap,
        target,
        f"; non-numeric columns left out: {', '.join(left_out)}" if left_out else "",
    )
    return written


def read_table(source: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """A CSV's or a Parquet file's header and rows (with their line or row number)."""
    if Path(source).suffix.lower() != ".parquet":
        return read_rows(source)
    import duckdb

    try:
        relation = duckdb.connect().read_parquet(str(source))
        header, records = relation.columns, relation.fetchall()
    except duckdb.Error as exc:
        raise BadInput(f"Parquet {source}: not readable ({str(exc).splitlines()[0]})") from None
    rows = [
        (n, {c: "" if v is None else v for c, v in zip(header, r, strict=True)})
        for n, r in enumerate(records, 1)
    ]
    return list(header), rows


def is_number(cell: object) -> bool:
    if isinstance(cell, bool):
        return False
    if isinstance(cell, int | float):
        return math.isfinite(cell)
    try:
        return math.isfinite(float(cell))
    except (TypeError, ValueError):
        return False


def time_key(
    source: Path, line: int, column: str, cell: object, time_format: str | None
) -> tuple[object, str]:
    """A cell of the time column as a sort key and as the dataset writes it: a number, or a
    date/time in ISO 8601 (read with --time-format when given)."""
    if isinstance(cell, date) and not isinstance(cell, datetime):
        cell = datetime(cell.year, cell.month, cell.day)  # as a CSV's ISO date reads
    if isinstance(cell, datetime):
        return (1, cell.isoformat()), cell.isoformat()
    text = str(cell).strip()
    where = f"table {source} line {line}: column {column!r:.40} holds {text!r:.40}"
    if time_format is not None:
        try:
            moment = datetime.strptime(text, time_format)
        except ValueError:
            raise BadInput(f"{where}, not a time of --time-format {time_format!r:.40}") from None
        return (1, moment.isoformat()), moment.isoformat()
    if is_number(text):
        return (0, float(text)), text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(
            f"{where}: neither a number nor an ISO 8601 time (give --time-format)"
        ) from None
    return (1, moment.isoformat()), moment.isoformat()
