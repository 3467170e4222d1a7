"""Which of the lake's objects DuckDB reads whole: every one at once, else each alone.

An object DuckDB cannot read whole (a truncated gzip, a malformed line, a value of the wrong
type) is left out as a whole and named: half an object would score a trial on some of its
points. Reading every object at once is the common case and costs one scan; only when that
fails is each read alone, to find the bad ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")


def readable_objects(
    paths: Sequence[Item],
    relation: Callable[[list[Item]], object],
    unreadable: Callable[[Item, str], None],
) -> list[Item]:
    """The paths whose objects DuckDB reads whole, in their order.

    `relation(paths)` is a DuckDB relation over those objects, typed as their table is; every
    column of every line is scanned (counting the rows alone would not convert the values).
    `unreadable(path, reason)` is told of each object left out.
    """
    import duckdb

    paths = list(paths)
    if not paths:
        return []
    try:
        scan(relation(paths))
        return paths
    except duckdb.Error:
        pass
    whole = []
    for path in paths:
        try:
            scan(relation([path]))
            whole.append(path)
        except duckdb.Error as exc:
            unreadable(path, reason(exc))
    return whole


def scan(relation) -> None:
    """Read every value of every column: a conversion error surfaces here, not later."""
    counts = ", ".join(f'count("{column}")' for column in relation.columns)
    relation.aggregate(counts).fetchall()


def reason(exc: Exception) -> str:
    """DuckDB's error as one short line, for the log."""
    return str(exc).strip().splitlines()[0][:200]
