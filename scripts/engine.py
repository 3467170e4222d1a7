"""Query engines: DuckDB embedded over a local copy of the lake, or Athena through pyathena."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

from scripts.sqlfiles import TABLE_FILES, duckdb_types, table_schema

TABLE_GLOBS = {
    "data": "data/*.json",
    "hyperparams": "hyper/dt=*/*.json.gz",
    "predict": "fact/dt=*/*.json.gz",
}


class Engine(ABC):
    """Runs one statement from sql/ as it stands and yields its rows."""

    @abstractmethod
    def query(self, sql: str, limit: int | None = None) -> tuple[list[str], list[tuple]]: ...


class DuckDBEngine(Engine):
    """The three tables as views over the lake's files, typed by the DDL in sql/."""

    def __init__(self, root: Path) -> None:
        import duckdb

        self.connection = duckdb.connect()
        for table in TABLE_FILES:
            schema = table_schema(table)
            files = sorted(str(p) for p in Path(root).glob(TABLE_GLOBS[table]))
            columns = duckdb_types(schema.columns)
            partitions = duckdb_types(schema.partitions)
            if not files:
                # An empty table of the same shape: DuckDB reads /dev/null as zero lines.
                files, columns, partitions = [os.devnull], {**columns, **partitions}, {}
            relation = self.connection.read_json(
                files,
                columns=columns,
                format="newline_delimited",
                hive_partitioning=bool(partitions),
                hive_types=partitions or None,
            )
            relation.create_view(table)

    def query(self, sql: str, limit: int | None = None) -> tuple[list[str], list[tuple]]:
        cursor = self.connection.execute(sql)
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
        return columns, rows
