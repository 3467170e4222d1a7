"""The leaderboard: sql/rank_runs.sql on an engine, printed as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import math

from scripts.engines.duckdb import DuckDBEngine, Engine
from scripts.engines.sqlfiles import read_sql
from scripts.errors import BadInput
from scripts.lake import LocalLake, open_lake
from scripts.samplers.space import ALL_PARAMS

FORMATS = ("table", "csv", "json")
TABLE_COLUMNS = (
    "rank",
    "model",
    "test_r2",
    "train_r2",
    "test_rmse",
    "test_mae",
    "params",
    "hyper_id",
)


def rank(
    lake: str,
    engine: str = "duckdb",
    limit: int = 10,
    fmt: str = "table",
    *,
    workgroup: str | None = None,
    output: str | None = None,
    database: str | None = None,
) -> str:
    """The leaderboard of a lake, rendered: what `python -m scripts rank` prints."""
    if limit < 1:
        raise BadInput(f"--limit must be at least 1, got {limit}")
    if fmt not in FORMATS:
        raise BadInput(f"unknown format {fmt!r:.40}: choose {', '.join(FORMATS)}")
    chosen = open_engine(lake, engine, workgroup, output, database)
    return render(leaderboard(chosen, limit), fmt)


def leaderboard(engine: Engine, limit: int | None = None) -> list[dict]:
    """The best `limit` trials (all when None), best first, as dicts keyed by column."""
    columns, rows = engine.query(read_sql("rank_runs.sql"), limit)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def open_engine(
    lake: str,
    engine: str = "duckdb",
    workgroup: str | None = None,
    output: str | None = None,
    database: str | None = None,
) -> Engine:
    """The engine to rank with; the Athena settings fall back to the environment when None."""
    if engine == "athena":
        from scripts.engines.athena import AthenaEngine

        return AthenaEngine.from_environment(workgroup, output, database)
    if engine != "duckdb":
        raise BadInput(f"unknown engine {engine!r:.40}: choose duckdb or athena")
    target = open_lake(lake)
    if not isinstance(target, LocalLake):
        target = target.mirror()
    elif not target.root.is_dir():
        raise BadInput(f"no lake at {target.root}: run `python -m scripts run` first")
    return DuckDBEngine(target.root)


def render(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2, default=str) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return out.getvalue()
    return render_table(rows)


def render_table(rows: list[dict]) -> str:
    if not rows:
        return "no ranked trials yet: run `python -m scripts run` first\n"
    cells = [TABLE_COLUMNS]
    for row in rows:
        params = " ".join(f"{k}={_short(row[k])}" for k in ALL_PARAMS if row[k] is not None)
        cells.append(
            (
                str(row["rank"]),
                row["model"],
                *(_metric(row[k]) for k in ("test_r2", "train_r2", "test_rmse", "test_mae")),
                params,
                row["hyper_id"],
            )
        )
    widths = [max(len(r[i]) for r in cells) for i in range(len(TABLE_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines) + "\n"


def _metric(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"


def _short(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4g}"
