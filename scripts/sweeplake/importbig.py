"""`import-data --out X.parquet`: a Parquet dataset from a CSV or Parquet source of any size.

DuckDB streams the source twice (a check that every value is a finite number, then the copy)
and never holds it whole, so the source may be far larger than memory. The train/test split and
the folds cannot be scikit-learn's here (train_test_split and KFold permute every row at once):
each point's are drawn from an MD5 of the seed and its point_id instead (the row's number in the
source, from 0), the same on every machine and DuckDB release. The folds are written as data,
so every reader takes them as they are.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sweeplake.dataset import DATASET_NAME, FOLDS
from sweeplake.engines.sqlfiles import sql_literal
from sweeplake.errors import BadInput
from sweeplake.importcsv import feature_columns

log = logging.getLogger("sweeplake.import")
MEMORY_LIMIT = "512MB"  # DuckDB spills past this: the import's memory stays small
BUCKETS = 1_000_000  # the split's resolution: test_size is honoured to 1e-6


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def import_parquet(source: Path, target: str, test_size: float, seed: int, out: Path) -> Path:
    """Write `source` (.csv, or .parquet / a folder of them) as a Parquet dataset at `out`."""
    import duckdb

    if not 0 < test_size < 1:
        raise BadInput(f"--test-size must be between 0 and 1, got {test_size}")
    if not 0 <= seed < 2**32:
        raise BadInput(f"--seed must be in [0, 2**32), got {seed}")
    name = out.name.split(".")[0]
    if not DATASET_NAME.fullmatch(name):
        raise BadInput(f"--out {out}: the file's name names the dataset, and {name!r:.40} is not")
    if out.absolute() == Path(source).absolute():
        raise BadInput(f"--out {out} is the source itself: give another path")
    tmp = out.with_name(f".{out.name}.tmp")
    connection = duckdb.connect()
    try:
        connection.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        connection.execute("SET threads = 1")  # rows numbered in the source's order
        rows = read_source(connection, source)
        header = rows.columns
        features, names = feature_columns(str(source), header, target)
        rows.create_view("source")
        check_numbers(connection, source, header)
        number = "TRY_CAST({} AS DOUBLE)"
        columns = ", ".join(
            f"{number.format(quoted(c))} AS {quoted(n)}"
            for c, n in zip(features, names, strict=True)
        )
        draw = f"md5_number(CONCAT('{{}}', {seed}, ':', point_id)) % {BUCKETS}"
        connection.execute("CREATE SEQUENCE point_ids MINVALUE 0 START 0")
        numbered = "SELECT nextval('point_ids') AS point_id, * FROM source"
        split = f"({draw.format('split:')}) >= {round(test_size * BUCKETS)}"
        connection.execute(
            f"COPY (SELECT '{name}' AS dataset, point_id, {split} AS is_train, "
            f"CASE WHEN {split} THEN CAST(({draw.format('fold:')}) % {FOLDS} AS BIGINT) END "
            f"AS fold, {columns}, {number.format(quoted(target))} AS y_true "
            f"FROM ({numbered})) TO {sql_literal(tmp)} (FORMAT parquet)"
        )
        counts = connection.execute(
            f"SELECT count(*), count_if(is_train) FROM read_parquet({sql_literal(tmp)})"
        ).fetchone()
    except duckdb.Error as exc:
        tmp.unlink(missing_ok=True)
        reason = str(exc).strip().splitlines()[0][:200]
        raise BadInput(f"{source}: cannot import it ({reason})") from None
    finally:
        connection.close()
    points, train = counts
    if train < FOLDS or points - train < 2:
        tmp.unlink(missing_ok=True)
        raise BadInput(
            f"{source}: {points} rows give {train} train and {points - train} test "
            f"points; at least {FOLDS} and 2 are needed"
        )
    tmp.replace(out)
    log.info(
        "wrote %s: dataset %s, %d points (%d train, %d test), %d features, y_true from %s",
        out,
        name,
        points,
        train,
        points - train,
        len(names),
        target,
    )
    return out


def read_source(connection, source: Path):
    from sweeplake.parquet import is_parquet, local_files

    if is_parquet(source):
        return connection.read_parquet([str(f) for f in local_files(Path(source))])
    if not Path(source).is_file():
        raise BadInput(f"{source}: no such file")
    return connection.read_csv(str(source), header=True, all_varchar=True)


def check_numbers(connection, source: Path, header: list[str]) -> None:
    """BadInput naming the first column with a value that is not a finite number."""
    checks = ", ".join(
        f"count_if(NOT coalesce(isfinite(TRY_CAST({quoted(c)} AS DOUBLE)), false))" for c in header
    )
    bad = connection.execute(f"SELECT {checks} FROM source").fetchone()
    for column, count in zip(header, bad, strict=True):
        if count:
            raise BadInput(
                f"{source}: column {column!r:.40} holds {count} value(s) that are not finite "
                "numbers (empty, text, NaN or infinite): every value must be one"
            )
