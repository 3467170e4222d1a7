"""Creating the Glue database and the three tables: sql/create_*.sql filled and run in order."""

from __future__ import annotations

import logging

from scripts.engines.athena import DDL_CONTEXT_DATABASE, AthenaEngine, AthenaSettings, check_s3_uri
from scripts.engines.sqlfiles import TABLE_FILES, fill, read_sql
from scripts.errors import BadInput

log = logging.getLogger("sweeplake.setup")
DATABASE_FILE = "create_database.sql"
SETUP_FILES = (DATABASE_FILE, *TABLE_FILES.values())


def setup_statements(lake: str, database: str) -> list[str]:
    """The DDL files filled for this lake and database, database first."""
    if not lake.startswith("s3://"):
        raise BadInput(
            f"setup needs an s3:// lake (--lake or SWEEPLAKE_LAKE), got {lake!r:.120}: "
            "Athena reads only S3"
        )
    location = check_s3_uri(lake, "lake")
    return [fill(read_sql(name), location=location, database=database) for name in SETUP_FILES]


def printable(statements: list[str]) -> str:
    """Statements to paste into the Athena console: each ends with ';', a blank line between."""
    return "\n".join(f"{statement.rstrip()};\n" for statement in statements)


def setup(
    lake: str,
    database: str | None = None,
    workgroup: str | None = None,
    output: str | None = None,
) -> list[str]:
    """Create the database, then its tables; every statement is IF NOT EXISTS, so rerunning is safe.

    Returns the Athena query ids, in the order the statements ran.
    """
    settings = AthenaSettings.resolve(workgroup, output, database)
    statements = setup_statements(lake, settings.database)
    engine = AthenaEngine(settings)
    query_ids = [engine.execute(statements[0], DDL_CONTEXT_DATABASE)]
    query_ids += [engine.execute(statement) for statement in statements[1:]]
    log.info("database %s and its tables point at %s", settings.database, lake.rstrip("/"))
    return query_ids
