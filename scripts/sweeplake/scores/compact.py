"""`compact`: each closed day's per-batch scores objects as one Parquet object, for Athena.

Athena bills the bytes it reads. A day of the default schedule is 1,440 small gzip JSON scores
objects, 2.5% of the bytes of that day's facts and hyper records; as one Parquet object per day
it is a fraction of that, and Athena reads only the columns the leaderboard needs. The view
`all_scores` (sql/create_all_scores.sql) reads compacted days from `scores_daily` and later
days from the per-batch objects, split at one day, so no trial counts twice; compaction writes
the Parquet objects first, then moves the view's split day.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sweeplake.engines.readable import readable_objects
from sweeplake.engines.sqlfiles import duckdb_types, table_schema
from sweeplake.errors import BadInput
from sweeplake.lake import Lake, open_lake
from sweeplake.scores.daily import compacted_days, daily_key, day_of

log = logging.getLogger("sweeplake.compact")
# A day is compacted once it has been over for this many days: a batch that waited in the spool
# through an outage shorter than that still lands before its day is compacted.
CLOSED_AFTER_DAYS = 2


def compact(
    lake_uri: str,
    database: str | None = None,
    workgroup: str | None = None,
    output: str | None = None,
) -> list[str]:
    """Compact every closed day not compacted yet, then point the view past them; the days."""
    from sweeplake.engines.athena import AthenaEngine, AthenaSettings
    from sweeplake.engines.tables import all_scores_statement

    if not lake_uri.startswith("s3://"):
        raise BadInput(f"compact needs an s3:// lake (Athena reads only S3), got {lake_uri!r:.80}")
    lake = open_lake(lake_uri)
    settings = AthenaSettings.resolve(workgroup, output, database)
    days = closed_days(lake, datetime.now(UTC).date())
    for day, keys in days.items():
        lake.put(daily_key(day), daily_parquet(lake, keys))
        log.info("compacted %d scores objects of %s into %s", len(keys), day, daily_key(day))
    AthenaEngine(settings).execute(all_scores_statement(lake))
    return list(days)


def closed_days(lake: Lake, today: date) -> dict[str, list[str]]:
    """The scores keys of each closed day that has no Parquet object yet, oldest day first.

    Days are compacted oldest first, so only the days after the last compacted one are listed:
    a daily compact costs the same on a lake of a year as on one of a week.
    """
    done = compacted_days(lake)
    # "0" sorts right after "/": every key of the last compacted day sorts before this, every
    # key of a later day after it.
    after = f"scores/dt={max(done)}0" if done else None
    last = (today - timedelta(days=CLOSED_AFTER_DAYS)).isoformat()
    days: dict[str, list[str]] = defaultdict(list)
    for key in lake.keys("scores/", after=after):
        day = day_of(key)
        if day <= last and day not in done:
            days[day].append(key)
    return dict(sorted(days.items()))


def daily_parquet(lake: Lake, keys: list[str]) -> bytes:
    """The objects' lines as one Parquet body: the DDL's columns and types, dt left to the path."""
    import duckdb

    schema = table_schema("scores")
    with tempfile.TemporaryDirectory(prefix="sweeplake-compact-") as scratch:
        files: dict[Path, str] = {}  # a local copy of each object, and its key
        for n, key in enumerate(keys):
            body = lake.get(key)
            if body is not None:
                files[Path(scratch) / f"{n}.json.gz"] = key
                (Path(scratch) / f"{n}.json.gz").write_bytes(body)
        out = Path(scratch) / "day.parquet"
        connection = duckdb.connect()

        def typed(paths: list[Path]):
            columns = duckdb_types(schema.columns)
            paths = [str(p) for p in paths] or [os.devnull]
            return connection.read_json(paths, columns=columns, format="newline_delimited")

        def left_out(path: Path, reason: str) -> None:
            log.warning("left out an unreadable scores object %s: %s", files[path], reason)

        whole = readable_objects(list(files), typed, left_out)
        typed(whole).write_parquet(str(out), compression="zstd")
        connection.close()
        return out.read_bytes()
