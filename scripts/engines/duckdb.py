"""Query engines: DuckDB embedded over a local copy of the lake, or Athena through pyathena."""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path

from scripts.engines.sqlfiles import TABLE_FILES, duckdb_types, table_schema

log = logging.getLogger("sweeplake.engine")
TABLE_GLOBS = {
    "data": "data/*.json",
    "hyperparams": "hyper/dt=*/*.json.gz",
    "predict": "fact/dt=*/*.json.gz",
    "oof": "oof/dt=*/*.json.gz",
    "scores": "scores/dt=*/*.json.gz",
}


class Engine(ABC):
    """Runs one statement from sql/ as it stands and yields its rows."""

    @abstractmethod
    def query(self, sql: str, limit: int | None = None) -> tuple[list[str], list[tuple]]: ...


def fetch(connection, sql: str, limit: int | None) -> tuple[list[str], list[tuple]]:
    """The statement's column names and its first `limit` rows (all when None).

    The limit goes on the relation, not into the text: DuckDB then keeps the top rows as it
    goes instead of sorting them all.
    """
    relation = connection.sql(sql)
    if limit is not None:
        relation = relation.limit(limit)
    return relation.columns, relation.fetchall()


class DuckDBEngine(Engine):
    """The three tables as views over the lake's files, typed by the DDL in sql/.

    An object DuckDB cannot read whole (a truncated gzip, a malformed line, a value of the
    wrong type) is skipped as a whole and named in the log: half an object would rank a trial
    on some of its points.
    """

    def __init__(self, root: Path) -> None:
        import duckdb

        self.connection = duckdb.connect()
        self.root = Path(root)
        self.skipped: dict[str, str] = {}
        self.files = {t: sorted(str(p) for p in self.root.glob(g)) for t, g in TABLE_GLOBS.items()}
        for table in TABLE_FILES:
            self._create_view(table, self.files[table])

    def _create_view(self, table: str, files: list[str]):
        schema = table_schema(table)
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
        relation.create_view(table, replace=True)
        return relation

    def query(self, sql: str, limit: int | None = None) -> tuple[list[str], list[tuple]]:
        import duckdb

        try:
            return self._fetch(sql, limit)
        except duckdb.Error:
            # The lake holds something unreadable: find it once, leave it out, ask again.
            self._skip_unreadable()
            return self._fetch(sql, limit)

    def _fetch(self, sql: str, limit: int | None) -> tuple[list[str], list[tuple]]:
        return fetch(self.connection, sql, limit)

    def _skip_unreadable(self) -> None:
        import duckdb

        for table in TABLE_FILES:
            readable = []
            for path in self.files[table]:
                try:
                    self._create_view(table, [path]).fetchnumpy()  # every column, every row
                    readable.append(path)
                except duckdb.Error as exc:
                    reason = str(exc).strip().splitlines()[0][:200]
                    self.skipped[path] = reason
                    log.warning("skipped %s: %s", os.path.relpath(path, self.root), reason)
            self.files[table] = readable
            self._create_view(table, readable)
