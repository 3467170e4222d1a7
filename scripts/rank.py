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
# The orderings: by test R² (the Athena console's leaderboard), or by cross-validated R², the
# honest choice, with the test R² beside it as the held-out check. Each: its rank column, then
# the metrics the table shows.
ORDERINGS = {
    "test": ("rank", ("test_r2", "train_r2", "test_rmse", "test_mae", "cv_r2", "cv_r2_std")),
    "cv": ("cv_rank", ("cv_r2", "cv_r2_std", "cv_oof_r2", "test_r2")),
}


def rank(
    lake: str,
    engine: str = "duckdb",
    limit: int = 10,
    fmt: str = "table",
    *,
    workgroup: str | None = None,
    output: str | None = None,
    database: str | None = None,
    by: str = "test",
) -> str:
    """The leaderboard of a lake, rendered: what `python -m scripts rank` prints."""
    if limit < 1:
        raise BadInput(f"--limit must be at least 1, got {limit}")
    if fmt not in FORMATS:
        raise BadInput(f"unknown format {fmt!r:.40}: choose {', '.join(FORMATS)}")
    if by not in ORDERINGS:
        raise BadInput(f"unknown ranking {by!r:.40}: choose {', '.join(ORDERINGS)}")
    chosen = open_engine(lake, engine, workgroup, output, database)
    return render(leaderboard(chosen, limit, by), fmt, by)


def leaderboard(engine: Engine, limit: int | None = None, by: str = "test") -> list[dict]:
    """The best `limit` trials (all when None), best first by `by`, as dicts keyed by column."""
    if by == "test":
        columns, rows = engine.query(read_sql("rank_runs.sql"), limit)
        return [dict(zip(columns, row, strict=True)) for row in rows]
    # One query gives both ranks; this order is its cv_rank, trials without CV last.
    ranked = sorted(
        leaderboard(engine),
        key=lambda r: (r["dataset"], r["cv_r2"] is None, r["cv_rank"], r["hyper_id"]),
    )
    return ranked[:limit]


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


def render(rows: list[dict], fmt: str, by: str = "test") -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2, default=str) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return out.getvalue()
    return render_table(rows, by)


def render_table(rows: list[dict], by: str = "test") -> str:
    if not rows:
        return "no ranked trials yet: run `python -m scripts run` first\n"
    rank_column, metrics = ORDERINGS[by]
    header = ("rank", "model", *metrics, "params", "hyper_id")
    cells = [header]
    for row in rows:
        params = " ".join(f"{k}={_short(row[k])}" for k in ALL_PARAMS if row[k] is not None)
        shown_rank = str(row[rank_column]) if row[metrics[0]] is not None else "-"
        cells.append(
            (
                shown_rank,
                row["model"],
                *(_metric(row[k]) for k in metrics),
                params,
                row["hyper_id"],
            )
        )
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines) + "\n"


def _metric(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"


def _short(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4g}"
