"""`compact`: each closed day's per-batch scores objects as one Parquet object, for Athena.

Athena bills the bytes it reads. A day of the default schedule is 1,440 small gzip JSON scores
objects, 2.5% of the bytes of that day's facts and hyper records; as one Parquet object per day
it is a fraction of that, and Athena reads only the columns the leaderboard needs. The view
`all_scores` (sql/create_all_scores.sql) reads compacted days from `scores_daily` and later
days from the per-batch objects, split at one day, so no trial counts twice; compaction writes
the Parquet objects first, then moves the view's split day.

A batch can reach a day after it was compacted (shipped from the spool after an outage, or from
a machine whose clock is behind). Its shipper finds the day's Parquet object and leaves a marker
under late/ (lake/s3.py); compact redoes each day with a marker whose batch its Parquet object
does not hold. A shipper that found no Parquet object shipped before compact lists the day
again, after its put: what that listing finds that the first did not, the day is redone with.

A scores object that cannot be read is scored again from its batch's facts, as the scores store
does; when its batch cannot be (its hyper or fact object unreadable), the day is refused, named,
and neither it nor any later day is compacted until that is repaired.
"""

from __future__ import annotations

import logging
import tempfile
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sweeplake.engines.readable import readable_objects
from sweeplake.engines.sqlfiles import duckdb_types, empty_select, table_schema
from sweeplake.errors import BadInput, LakeUnreachable
from sweeplake.lake import Lake, open_lake
from sweeplake.scores.daily import DAILY, LATE, compacted_days, daily_key, day_of
from sweeplake.scores.records import ndjson
from sweeplake.scores.rescore import Unscorable, batch_scores, read_points

log = logging.getLogger("sweeplake.compact")
# A day is compacted once it has been over for this many days: a batch that waited in the spool
# through an outage shorter than that still lands before its day is compacted.
CLOSED_AFTER_DAYS = 2
# How many times a day is listed again after its Parquet put, should batches keep arriving.
RELISTS = 3


class DayRefused(LakeUnreachable):
    """A day holds a scores object whose batch cannot be scored: one line, exit status 1."""


def compact(
    lake_uri: str,
    database: str | None = None,
    workgroup: str | None = None,
    output: str | None = None,
) -> list[str]:
    """Compact every closed day not compacted yet and redo each day a late batch reached, then
    point the view past the compacted days; the days written."""
    from sweeplake.engines.athena import AthenaEngine, AthenaSettings
    from sweeplake.engines.tables import all_scores_statement

    if not lake_uri.startswith("s3://"):
        raise BadInput(f"compact needs an s3:// lake (Athena reads only S3), got {lake_uri!r:.80}")
    lake = open_lake(lake_uri)
    settings = AthenaSettings.resolve(workgroup, output, database)
    days: dict[str, list[str] | None] = dict.fromkeys(late_days(lake))
    days.update(closed_days(lake, datetime.now(UTC).date()))
    written, refused = [], None
    for day, keys in sorted(days.items()):
        try:
            write_day(lake, day, keys)
        except DayRefused as exc:
            refused = exc
            break  # the view must not move past a day that is not whole
        written.append(day)
    AthenaEngine(settings).execute(all_scores_statement(lake))
    if refused is not None:
        raise refused
    return written


def write_day(lake: Lake, day: str, keys: list[str] | None = None) -> None:
    """The day's Parquet object from its scores objects (`keys`, or listed here), then listed
    again until no batch arrived meanwhile."""
    keys = keys if keys is not None else lake.keys(f"scores/dt={day}/")
    for _ in range(RELISTS):
        lake.put(daily_key(day), daily_parquet(lake, keys))
        log.info("compacted %d scores objects of %s into %s", len(keys), day, daily_key(day))
        again = lake.keys(f"scores/dt={day}/")
        if set(again) <= set(keys):
            return
        keys = again
    log.warning("batches still arriving for %s: the rest wait for the next compact", day)


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


def late_days(lake: Lake) -> list[str]:
    """The compacted days that a batch reached and whose Parquet object does not hold it yet.

    A marker older than its day's Parquet object was taken in by the compact that wrote it (the
    shipper leaves its marker after its scores object, and a compact lists the day again after
    its put). A marker as new as the Parquet object, or newer, is checked against the batches
    the object holds: the lake's clock counts whole seconds, so the times alone cannot tell."""
    compacted = {day_of(key): when for key, when in lake.modified(f"{DAILY}/").items()}
    unsure: dict[str, set[str]] = defaultdict(set)
    for key, when in lake.modified(f"{LATE}/").items():
        day = day_of(key)
        if day in compacted and when >= compacted[day]:
            unsure[day].add(key.rsplit("/", 1)[1])
    return sorted(day for day, batches in unsure.items() if batches - batches_in(lake, day))


def batches_in(lake: Lake, day: str) -> set[str]:
    """The batch ids the day's Parquet object holds (none when it is gone or unreadable)."""
    import duckdb

    body = lake.get(daily_key(day))
    if body is None:
        return set()
    with tempfile.TemporaryDirectory(prefix="sweeplake-compact-") as scratch:
        path = Path(scratch) / "day.parquet"
        path.write_bytes(body)
        try:
            rows = duckdb.connect().execute(
                "SELECT DISTINCT batch_id FROM read_parquet(?)", [str(path)]
            )
            return {batch_id for (batch_id,) in rows.fetchall()}
        except duckdb.Error:
            return set()


def daily_parquet(lake: Lake, keys: list[str]) -> bytes:
    """The objects' lines as one Parquet body: the DDL's columns and types, dt left to the path.
    An object DuckDB cannot read whole is scored again from its batch's facts."""
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
            if not paths:
                return connection.sql(empty_select(columns))
            paths = [str(p) for p in paths]
            return connection.read_json(paths, columns=columns, format="newline_delimited")

        rescorer = Rescorer(lake, connection, Path(scratch))
        rescored: list[Path] = []

        def scored_again(path: Path, reason: str) -> None:
            again = rescorer.scores(files[path], reason)
            if again is not None:
                rescored.append(again)

        whole = readable_objects(list(files), typed, scored_again)
        typed(whole + rescored).write_parquet(str(out), compression="zstd")
        connection.close()
        return out.read_bytes()


class Rescorer:
    """Scores of a batch from its facts, fetched from the lake into a scratch folder."""

    def __init__(self, lake: Lake, connection, scratch: Path) -> None:
        self.lake, self.connection, self.scratch = lake, connection, scratch
        self._datasets = None

    def fetch(self, key: str) -> Path:
        path = self.scratch / "lake" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        body = self.lake.get(key)
        if body is not None:
            path.write_bytes(body)
        return path

    def scores(self, scores_key: str, reason: str) -> Path | None:
        """An NDJSON file of the batch's scores; None (named) if no batch owns the object."""
        tail = scores_key.removeprefix("scores/")
        hyper = self.fetch(f"hyper/{tail}")
        if not hyper.is_file():
            log.warning("left out an unreadable scores object %s: %s", scores_key, reason)
            return None
        if self._datasets is None:
            data = [self.fetch(key) for key in self.lake.keys("data/")]
            self._datasets = read_points(self.connection, data)
        day = day_of(scores_key)
        try:
            rows = batch_scores(
                self.connection,
                hyper,
                self.fetch(f"fact/{tail}"),
                day,
                self._datasets,
                self.fetch(f"oof/{tail}"),
            )
        except Unscorable as exc:
            raise DayRefused(
                f"compact stops at {day}: its scores object {scores_key} cannot be read, and "
                f"its batch cannot be scored from its facts ({exc}); repair or remove that "
                "batch, and this day and the later ones are compacted at the next compact"
            ) from None
        out = self.scratch / f"{tail.replace('/', '_')}.rescored.json"
        out.write_text(ndjson(rows))
        log.warning("scores object %s unreadable: scored from its batch's facts", scores_key)
        return out
