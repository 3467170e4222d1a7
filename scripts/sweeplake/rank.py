"""The leaderboard: sql/rank_scores.sql on an engine, printed as a table, CSV or JSON; and its
audit, sql/rank_runs.sql over every fact, which must give the same rows."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter

from sweeplake.engines.base import Engine
from sweeplake.engines.duckdb import DuckDBEngine
from sweeplake.engines.sqlfiles import read_sql
from sweeplake.errors import BadInput
from sweeplake.lake import LocalLake, open_lake
from sweeplake.lake import params as lake_params
from sweeplake.paths import DEFAULT_TABLE_ROWS
from sweeplake.texttable import aligned

FORMATS = ("table", "csv", "json")
LEADERBOARD_SQL = "rank_scores.sql"
AUDIT_SQL = "rank_runs.sql"
# How far a metric from the scores may be from the audit's, relative to its size (at least 1):
# the two sum the same numbers in different orders.
AUDIT_TOLERANCE = 1e-12
METRIC_COLUMNS = (
    "test_r2",
    "train_r2",
    "test_rmse",
    "test_mae",
    "test_mape",
    "cv_r2",
    "cv_r2_std",
    "cv_oof_r2",
)
# Each rank column the queries give, and the columns it ranks within (their PARTITION BY).
RANK_GROUPS = {"rank": ("dataset",), "model_rank": ("dataset", "model"), "cv_rank": ("dataset",)}
# In the target's units, not R²s: printed to six significant digits.
ERROR_COLUMNS = ("test_rmse", "test_mae")
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
    limit: int | None = None,
    fmt: str = "table",
    *,
    dataset: str | None = None,
    workgroup: str | None = None,
    output: str | None = None,
    database: str | None = None,
    by: str = "test",
) -> str:
    """The leaderboard of a lake, rendered: what `sweeplake rank` prints.

    `limit` is the number of trials shown per dataset, best first; when None, the table shows
    the best DEFAULT_TABLE_ROWS and csv and json show every trial. `dataset` keeps one dataset.
    `by` orders by test R² ("test") or by cross-validated R² ("cv").
    """
    if limit is not None and limit < 1:
        raise BadInput(f"--limit must be at least 1, got {limit}")
    if fmt not in FORMATS:
        raise BadInput(f"unknown format {fmt!r:.40}: choose {', '.join(FORMATS)}")
    if by not in ORDERINGS:
        raise BadInput(f"unknown ranking {by!r:.40}: choose {', '.join(ORDERINGS)}")
    if limit is None and fmt == "table":
        limit = DEFAULT_TABLE_ROWS
    chosen = open_engine(lake, engine, workgroup, output, database)
    columns, rows = leaderboard(chosen, within=limit, by=by)
    return render(columns, best_per_dataset(rows, limit, dataset), fmt, dataset, by)


def leaderboard(
    engine: Engine, sql: str = LEADERBOARD_SQL, within: int | None = None, by: str = "test"
) -> tuple[list[str], list[dict]]:
    """Every ranked trial, by dataset and best first by `by`, as dicts keyed by the query's
    columns; given `within`, an engine may leave out trials ranked below it (by `by`), so that
    a million-trial lake never reaches Python whole."""
    ranked_by = "cv_rank" if by == "cv" else "rank"
    top = None
    if within is not None and sql == LEADERBOARD_SQL:
        top = engine.leaderboard_top(within, by)
    if top is not None:
        columns, rows = top
    else:
        columns, rows = engine.query(read_sql(sql), within=within, ranked_by=ranked_by)
    ranked = [dict(zip(columns, row, strict=True)) for row in rows]
    if by == "cv":
        ranked.sort(key=cv_order)
    return columns, ranked


def cv_order(row: dict) -> tuple:
    """One query gives both ranks; this is its cv_rank order, trials without CV last."""
    return (row["dataset"], row["cv_r2"] is None, row["cv_rank"], row["hyper_id"])


def best_per_dataset(rows: list[dict], limit: int | None, dataset: str | None) -> list[dict]:
    """The first `limit` rows (all when None) of each dataset, or of `dataset` alone.

    The dataset is compared here, in Python: a user's value never reaches SQL text.
    """
    shown: Counter[str] = Counter()
    kept = []
    for row in rows:
        if dataset is not None and row["dataset"] != dataset:
            continue
        if limit is None or shown[row["dataset"]] < limit:
            shown[row["dataset"]] += 1
            kept.append(row)
    return kept


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
    _, scores = leaderboard(open_engine(lake, engine, **settings))
    _, facts = leaderboard(open_engine(lake, engine, facts=True, **settings), sql=AUDIT_SQL)
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
    beyond AUDIT_TOLERANCE and any other column not equal.

    Trials of equal score share a rank in the scores; the facts' sums, in whatever order the
    engine adds them, may split them by the last bit. So the order is checked up to such ties:
    each row's test R² equals the other side's at the same place, and each trial's every rank
    (by test R², within its model, by cv R²) falls within its tie.
    """
    ours, theirs = {r["hyper_id"]: r for r in scores}, {r["hyper_id"]: r for r in facts}
    if ours.keys() != theirs.keys():
        return [f"only in the scores: {h}" for h in sorted(ours.keys() - theirs.keys())] + [
            f"only in the facts: {h}" for h in sorted(theirs.keys() - ours.keys())
        ]
    ties = {key: Counter(tie_group(r, key) for r in scores) for key in RANK_GROUPS}
    differences = []
    for position, (a, b) in enumerate(zip(scores, facts, strict=True), 1):
        if relative_gap(a["test_r2"], b["test_r2"]) > AUDIT_TOLERANCE:
            differences.append(f"row {position}: scores {a['hyper_id']}, facts {b['hyper_id']}")
    for hyper_id, a in ours.items():
        b = theirs[hyper_id]
        for key in a:
            if key in ties:
                same = a[key] <= b[key] < a[key] + ties[key][tie_group(a, key)]
            elif key in METRIC_COLUMNS:
                same = relative_gap(a[key], b[key]) <= AUDIT_TOLERANCE
            else:
                same = a[key] == b[key]
            if not same:
                differences.append(f"{hyper_id} {key}: scores {a[key]!r}, facts {b[key]!r}")
    return differences


def tie_group(row: dict, key: str) -> tuple:
    """The trials that share this row's rank `key`: same partition, same rank."""
    return (*(row[column] for column in RANK_GROUPS[key]), row[key])


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
        from sweeplake.engines.athena import AthenaEngine

        return AthenaEngine.from_environment(workgroup, output, database)
    if engine != "duckdb":
        raise BadInput(f"unknown engine {engine!r:.40}: choose duckdb or athena")
    target = open_lake(lake)
    if isinstance(target, LocalLake):
        target.check_readable()
    if not facts:
        from sweeplake.engines.scores import ScoresEngine
        from sweeplake.scores.store import open_scores

        return ScoresEngine(open_scores(lake))
    if not isinstance(target, LocalLake):
        target = target.mirror()
    return DuckDBEngine(target.root)


def render(
    columns: list[str],
    rows: list[dict],
    fmt: str,
    dataset: str | None = None,
    by: str = "test",
) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2, default=str) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    if not rows:
        of = "" if dataset is None else f" of dataset {dataset!r:.40}"
        return f"no ranked trials{of} yet: run `sweeplake run` first\n"
    return render_table(rows, by)


def render_table(rows: list[dict], by: str = "test") -> str:
    rank_column, metrics = ORDERINGS[by]
    header = ("rank", "dataset", "model", *metrics, "params", "hyper_id")
    cells = [header]
    for row in rows:
        params = shown_params(row)
        shown_rank = str(row[rank_column]) if row[metrics[0]] is not None else "-"
        cells.append(
            (
                shown_rank,
                row["dataset"],
                row["model"],
                *((_error if k in ERROR_COLUMNS else _r2)(row[k]) for k in metrics),
                params,
                row["hyper_id"],
            )
        )
    return aligned(cells) + "\n"


def shown_params(row: dict) -> str:
    """A trial's hyperparameters as name=value, from its params (or, in an older lake, from
    the per-parameter columns it has)."""
    names = tuple(k for k in lake_params.COLUMNS if row.get(k) is not None)
    return " ".join(f"{k}={_short(v)}" for k, v in lake_params.decode(row, names).items())


def _r2(value: float | None) -> str:
    # R² is at most 1, so four decimals read alike down the column.
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"


def _error(value: float | None) -> str:
    # RMSE and MAE are in the target's units, whatever its scale: six significant digits, with
    # trailing zeros kept so the column reads evenly.
    return "-" if value is None or math.isnan(value) else f"{value:#.6g}"


def _short(value: float | int | str | bool | None) -> str:
    """Six significant digits; a float that would print as a whole number but is not one keeps
    its trailing zeros (18.0000 for 18.000001), so no value reads as a rounder one."""
    if not isinstance(value, float):
        return str(value)
    text = f"{value:.6g}"
    if float(text) != value and text.lstrip("-").isdigit():
        return f"{value:#.6g}"
    return text
