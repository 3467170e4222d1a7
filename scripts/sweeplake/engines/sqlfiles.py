"""The statements in sql/: read as they stand, placeholders filled, schemas taken from the DDL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from sweeplake.paths import SQL_DIR

TABLE_FILES = {
    "data": "create_data.sql",
    "hyperparams": "create_hyperparams.sql",
    "predict": "create_predict.sql",
    "oof": "create_oof.sql",
    "scores": "create_scores.sql",
    "timings": "create_timings.sql",
    "grove": "create_grove.sql",
    "predict_parquet": "create_predict_parquet.sql",
    "oof_parquet": "create_oof_parquet.sql",
}
# The tables whose objects are Parquet (written by Spark), not gzip NDJSON.
PARQUET_TABLES = frozenset({"predict_parquet", "oof_parquet"})
COLUMN = re.compile(r"^\s*`?(\w+)`?\s+(\w+)\s*,?\s*$")
ATHENA_TO_DUCKDB = {
    "STRING": "VARCHAR",
    "DOUBLE": "DOUBLE",
    "BIGINT": "BIGINT",
    "BOOLEAN": "BOOLEAN",
    "INT": "INTEGER",
}


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: dict[str, str]
    partitions: dict[str, str]


def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


def fill(text: str, **values: str) -> str:
    """Replace {{name}} placeholders; every placeholder must be given."""

    def value(match: re.Match) -> str:
        return values[match[1]]

    return re.sub(r"\{\{(\w+)\}\}", value, text)


@cache
def table_schema(table: str) -> TableSchema:
    """Column names and Athena types of a CREATE EXTERNAL TABLE file, in order."""
    text = read_sql(TABLE_FILES[table])
    columns: dict[str, str] = {}
    partitions: dict[str, str] = {}
    target = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("CREATE EXTERNAL TABLE"):
            target = columns
            continue
        if stripped.startswith("PARTITIONED BY"):
            partition = COLUMN.match(stripped.removeprefix("PARTITIONED BY").strip(" ()"))
            partitions[partition[1]] = partition[2].upper()
        match = COLUMN.match(stripped) if target is not None else None
        if match:
            target[match[1]] = match[2].upper()
        elif stripped.startswith(")"):
            target = None
    return TableSchema(table, columns, partitions)


def sql_literal(text: object) -> str:
    """A SQL string literal of `text` (DuckDB and Athena alike): quotes doubled."""
    return "'" + str(text).replace("'", "''") + "'"


def duckdb_types(columns: dict[str, str]) -> dict[str, str]:
    return {name: ATHENA_TO_DUCKDB[kind] for name, kind in columns.items()}


def empty_select(columns: dict[str, str]) -> str:
    """A SELECT of no rows with these DuckDB column types: a table with no object yet."""
    typed = ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in columns.items())
    return f"SELECT {typed} LIMIT 0"


def query_file(connection, name: str, parameters: list) -> list[dict]:
    """Rows of a statement in sql/ run on a DuckDB connection, as dicts keyed by column."""
    cursor = connection.execute(read_sql(name), parameters)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
