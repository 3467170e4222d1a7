"""DuckDB embedded over a local copy of the lake: the tables as views over its files."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from sweeplake.engines.base import Engine
from sweeplake.engines.readable import readable_objects
from sweeplake.engines.sqlfiles import (
    PARQUET_TABLES,
    TABLE_FILES,
    duckdb_types,
    empty_select,
    table_schema,
)

log = logging.getLogger("sweeplake.engine")
TABLE_GLOBS = {
    "data": "data/*.json",
    "hyperparams": "hyper/dt=*/*.json.gz",
    "predict": "fact/dt=*/*.json.gz",
    "oof": "oof/dt=*/*.json.gz",
    "scores": "scores/dt=*/*.json.gz",
    "timings": "timings/dt=*/*.json.gz",
    "grove": "grove/dt=*/*.json.gz",
    "predict_parquet": "fact_parquet/dt=*/*.parquet",
    "oof_parquet": "oof_parquet/dt=*/*.parquet",
}


def fetch(
    connection, sql: str, within: int | None, ranked_by: str = "rank"
) -> tuple[list[str], list[tuple]]:
    """The statement's columns and rows, those ranked past `within` left out (when given).

    The filter goes on the relation, not into the text: DuckDB drops the rows before they
    reach Python, where a million of them would not fit in a small machine's memory.
    """
    import duckdb

    relation = connection.sql(sql)
    if within is not None:
        rank = duckdb.ColumnExpression(ranked_by)
        relation = relation.filter(rank <= duckdb.ConstantExpression(within))
    return relation.columns, relation.fetchall()


def typed_parquet(connection, files: list[str], columns: dict[str, str]):
    """Parquet objects (their dt from the hive path) with the DDL's columns and types, whatever
    types their writer chose."""
    cast = ", ".join(f'CAST("{name}" AS {kind}) AS "{name}"' for name, kind in columns.items())
    return connection.read_parquet(files, hive_partitioning=True).select(cast)


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
            relation = self.connection.sql(empty_select({**columns, **partitions}))
        elif table in PARQUET_TABLES:
            relation = typed_parquet(self.connection, files, {**columns, **partitions})
        else:
            relation = self.connection.read_json(
                files,
                columns=columns,
                format="newline_delimited",
                hive_partitioning=bool(partitions),
                hive_types=partitions or None,
            )
        relation.create_view(table, replace=True)
        return relation

    def query(
        self, sql: str, within: int | None = None, ranked_by: str = "rank"
    ) -> tuple[list[str], list[tuple]]:
        import duckdb

        try:
            return fetch(self.connection, sql, within, ranked_by)
        except duckdb.Error:
            # The lake holds something unreadable: find it once, leave it out, ask again.
            self._skip_unreadable()
            return fetch(self.connection, sql, within, ranked_by)

    def _skip_unreadable(self) -> None:
        for table in TABLE_FILES:
            view = functools.partial(self._create_view, table)
            self.files[table] = readable_objects(self.files[table], view, self._skip)
            view(self.files[table])

    def _skip(self, path: str, reason: str) -> None:
        self.skipped[path] = reason
        log.warning("skipped %s: %s", os.path.relpath(path, self.root), reason)
