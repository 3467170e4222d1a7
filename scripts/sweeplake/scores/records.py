"""A scores line: the trial's hyper record, its day and its metrics, keyed as the DDL says."""

from __future__ import annotations

import json
import math

from sweeplake.engines.sqlfiles import table_schema


def scores_columns() -> list[str]:
    """Every key of a scores line, in order: sql/create_scores.sql's columns, then dt."""
    schema = table_schema("scores")
    return [*schema.columns, *schema.partitions]


def scores_record(hyper: dict, dt: str, metrics: dict | None) -> dict:
    """Metrics absent (a failed trial, a metric this trial did not compute) are null, and so
    are metrics that overflowed (targets near 1e154 square past the largest double): JSON has
    no infinity."""
    finite = {
        k: v
        for k, v in (metrics or {}).items()
        if v is None or isinstance(v, str) or math.isfinite(v)
    }
    merged = {**hyper, "dt": dt, **finite}
    return {column: merged.get(column) for column in scores_columns()}


def ndjson(records: list[dict]) -> str:
    return "".join(json.dumps(r, allow_nan=False) + "\n" for r in records)
