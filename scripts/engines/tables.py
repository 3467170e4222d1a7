"""Creating the Glue database and its tables: sql/create_*.sql filled and run in order."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from scripts.engines.athena import DDL_CONTEXT_DATABASE, AthenaEngine, AthenaSettings, check_s3_uri
from scripts.engines.sqlfiles import TABLE_FILES, fill, read_sql
from scripts.errors import BadInput, LakeUnreachable

log = logging.getLogger("sweeplake.setup")
DATABASE_FILE = "create_database.sql"
SETUP_FILES = (DATABASE_FILE, *TABLE_FILES.values())


def setup_statements(lake: str, database: str, first_day: str | None = None) -> list[str]:
    """The DDL files filled for this lake and database, database first.

    The partitions' projection starts at `first_day`, by default the lake's first day (today
    for an empty lake): Athena then enumerates only days that can hold objects.
    """
    if not lake.startswith("s3://"):
        raise BadInput(
            f"setup needs an s3:// lake (--lake or SWEEPLAKE_LAKE), got {lake!r:.120}: "
            "Athena reads only S3"
        )
    location = check_s3_uri(lake, "lake")
    first_day = check_day(first_day) if first_day else lake_first_day(lake)
    return [
        fill(read_sql(name), location=location, database=database, first_day=first_day)
        for name in SETUP_FILES
    ]


def check_day(text: str) -> str:
    try:
        valid = len(text) == 10 and date.fromisoformat(text).isoformat() == text
    except ValueError:
        valid = False
    if not valid:
        raise BadInput(f"--first-day {text!r:.40} is not a day as YYYY-MM-DD")
    return text


def lake_first_day(lake: str) -> str:
    """The day of the lake's first batch, or today when it has none yet."""
    from botocore.exceptions import BotoCoreError, ClientError

    from scripts.lake import open_lake
    from scripts.lake.s3 import describe

    try:
        first = open_lake(lake).first_key("hyper/dt=")
    except (BotoCoreError, ClientError) as exc:
        raise LakeUnreachable(
            f"cannot list {lake} for its first day ({describe(exc)}): pass --first-day YYYY-MM-DD"
        ) from None
    if first is None:
        return datetime.now(UTC).date().isoformat()
    return first.removeprefix("hyper/dt=")[:10]


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
