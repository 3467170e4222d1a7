"""The leaderboard: sql/rank_scores.sql on an engine, printed as a table, CSV or JSON; and its
audit, sql/rank_runs.sql over every fact, which must give the same rows."""

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
LEADERBOARD_SQL = "rank_scores.sql"
AUDIT_SQL = "rank_runs.sql"
# How far a metric from the scores may be from the audit's, relative to its size (at least 1):
# the two sum the same numbers in different orders.
AUDIT_TOLERANCE = 1e-12
METRIC_COLUMNS = ("test_r2", "train_r2", "test_rmse", "test_mae", "cv_r2", "cv_r2_std", "cv_oof_r2")
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
    return render(leaderboard(chosen, limit, by=by), fmt, by)


def leaderboard(
    engine: Engine, limit: int | None = None, sql: str = LEADERBOARD_SQL, by: str = "test"
) -> list[dict]:
    """The best `limit` trials (all when None), best first by `by`, as dicts keyed by column."""
    columns, rows = engine.query(read_sql(sql), limit if by == "test" else None)
    ranked = [dict(zip(columns, row, strict=True)) for row in rows]
    if by == "test":
        return ranked
    return sorted(ranked, key=cv_order)[:limit]


def cv_order(row: dict) -> tuple:
    """One query gives both ranks; this is its cv_rank order, trials without CV last."""
    return (row["dataset"], row["cv_r2"] is None, row["cv_rank"], row["hyper_id"])


def audit(
    lake: str,
    engine: str = "duckdb",
    *,
    workgroup: str | None = None,
    output: str | None = None,
    database: str | None = None,
) -> tuple[bool, str]:
    """Whether the leaderboard from the scores is the one from every fact, row for row; and
    a report of one line, or of the first differences."""
    settings = {"workgroup": workgroup, "output": output, "database": database}
    scores = leaderboard(open_engine(lake, engine, **settings))
    facts = leaderboard(open_engine(lake, engine, facts=True, **settings), sql=AUDIT_SQL)
    differences = compare(scores, facts)
    if not differences:
        pairs = zip(scores, facts, strict=True)
        gaps = [relative_gap(a[k], b[k]) for a, b in pairs for k in METRIC_COLUMNS]
        largest = max(gaps, default=0.0)
        return True, (
            f"audit: the scores agree with {AUDIT_SQL} over the facts: {len(scores)} ranked "
            f"trials, same order, largest relative metric difference {largest:.1e}\n"
        )
    shown = "".join(f"  {line}\n" for line in differences[:10])
    return False, (
        f"audit: the scores DISAGREE with {AUDIT_SQL} over the facts "
        f"({len(scores)} rows against {len(facts)}; {len(differences)} differences):\n{shown}"
    )


def compare(scores: list[dict], facts: list[dict]) -> list[str]:
    """Each difference, as a line: the trials only one side ranks, or else, row by row, metrics
    beyond AUDIT_TOLERANCE and any other column not equal."""
    ours, theirs = {r["hyper_id"] for r in scores}, {r["hyper_id"] for r in facts}
    if ours != theirs:
        return [f"only in the scores: {h}" for h in sorted(ours - theirs)] + [
            f"only in the facts: {h}" for h in sorted(theirs - ours)
        ]
    differences = []
    for position, (a, b) in enumerate(zip(scores, facts, strict=True), 1):
        for key in a:
            same = (
                relative_gap(a[key], b[key]) <= AUDIT_TOLERANCE
                if key in METRIC_COLUMNS
                else a[key] == b[key]
            )
            if not same:
                differences.append(f"row {position} {key}: scores {a[key]!r}, facts {b[key]!r}")
    return differences


def relative_gap(a: float | None, b: float | None) -> float:
    if a is None or b is None:
        return 0.0 if a is b else math.inf
    return abs(a - b) / max(1.0, abs(a), abs(b))


def open_engine(
    lake: str,
    engine: str = "duckdb",
    workgroup: str | None = None,
    output: str | None = None,
    database: str | None = None,
    facts: bool = False,
) -> Engine:
    """The engine to rank with; the Athena settings fall back to the environment when None.

    DuckDB reads the lake's scores (kept in a local cache), or with `facts` every object of the
    lake (an S3 lake mirrored whole), for the audit.
    """
    if engine == "athena":
        from scripts.engines.athena import AthenaEngine

        return AthenaEngine.from_environment(workgroup, output, database)
    if engine != "duckdb":
        raise BadInput(f"unknown engine {engine!r:.40}: choose duckdb or athena")
    if not facts:
        from scripts.engines.scores import ScoresEngine
        from scripts.scores.store import open_scores

        return ScoresEngine(open_scores(lake))
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
