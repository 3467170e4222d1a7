"""Creating the Glue database and its tables: sql/create_*.sql filled and run in order."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from sweeplake.engines.athena import (
    DDL_CONTEXT_DATABASE,
    AthenaEngine,
    AthenaSettings,
    check_s3_uri,
)
from sweeplake.engines.sqlfiles import TABLE_FILES, fill, read_sql
from sweeplake.errors import BadInput, LakeUnreachable
from sweeplake.lake import Lake, open_lake
from sweeplake.scores.daily import compacted_through

log = logging.getLogger("sweeplake.setup")
DATABASE_FILE = "create_database.sql"
ALL_SCORES_FILE = "create_all_scores.sql"
# The per-batch JSON tables, the view over the groves, then the compacted scores and the view
# over both.
SETUP_FILES = (
    DATABASE_FILE,
    *TABLE_FILES.values(),
    "create_forest_predict.sql",
    "create_scores_daily.sql",
    ALL_SCORES_FILE,
)


def setup_statements(lake: str, database: str, first_day: str | None = None) -> list[str]:
    """The DDL files filled for this lake and database, database first.

    The partitions' projection starts at `first_day`, by default the lake's first day (today
    for an empty lake): Athena then enumerates only days that can hold objects. The view
    all_scores splits at the last compacted day, or, given `first_day` (nothing is listed), at
    the day before it: every day from the per-batch objects until the next `compact`.
    """
    if not lake.startswith("s3://"):
        raise BadInput(
            f"setup needs an s3:// lake (--lake or SWEEPLAKE_LAKE), got {lake!r:.120}: "
            "Athena reads only S3"
        )
    location = check_s3_uri(lake, "lake")
    if first_day:
        first_day = check_day(first_day)
        through = day_before(first_day)
    else:
        first_day, through = listed(open_lake(lake), split_days)
    return [
        fill(
            read_sql(name),
            location=location,
            database=database,
            first_day=first_day,
            compacted_through=through,
        )
        for name in SETUP_FILES
    ]


def all_scores_statement(lake: Lake) -> str:
    """The view all_scores, split at the lake's last compacted day."""
    _, through = listed(lake, split_days)
    return fill(read_sql(ALL_SCORES_FILE), compacted_through=through)


def split_days(lake: Lake) -> tuple[str, str]:
    """The lake's first day (today when it has none) and its last compacted day."""
    first = lake.first_key("hyper/dt=")
    day = first.removeprefix("hyper/dt=")[:10] if first else datetime.now(UTC).date().isoformat()
    return day, compacted_through(lake, day)


def listed(lake: Lake, look):
    """look(lake), with a failure to list the lake as one line."""
    from botocore.exceptions import BotoCoreError, ClientError

    from sweeplake.lake.s3 import describe

    try:
        return look(lake)
    except (BotoCoreError, ClientError) as exc:
        raise LakeUnreachable(
            f"cannot list {lake.uri} for its first day ({describe(exc)}): "
            "pass --first-day YYYY-MM-DD"
        ) from None


def day_before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def check_day(text: str) -> str:
    try:
        valid = len(text) == 10 and date.fromisoformat(text).isoformat() == text
    except ValueError:
        valid = False
    if not valid:
        raise BadInput(f"--first-day {text!r:.40} is not a day as YYYY-MM-DD")
    return text


def printable(statements: list[str]) -> str:
    """Statements to paste into the Athena console: each ends with ';', a blank line between."""
    return "\n".join(f"{statement.rstrip()};\n" for statement in statements)


def setup(
    lake: str,
    database: str | None = None,
    workgroup: str | None = None,
    output: str | None = None,
    first_day: str | None = None,
) -> list[str]:
    """Create the database, then its tables; every statement is IF NOT EXISTS, so rerunning is safe.

    Returns the Athena query ids, in the order the statements ran.
    """
    settings = AthenaSettings.resolve(workgroup, output, database)
    statements = setup_statements(lake, settings.database, first_day)
    engine = AthenaEngine(settings)
    query_ids = [engine.execute(statements[0], DDL_CONTEXT_DATABASE)]
    query_ids += [engine.execute(statement) for statement in statements[1:]]
    log.info("database %s and its tables point at %s", settings.database, lake.rstrip("/"))
    return query_ids
