"""Datasets as Parquet: one file or a folder of them, local or s3://, read through DuckDB.

The columns are the JSON dataset's (dataset, point_id, is_train, fold, the features, y_true),
and a Parquet dataset passes the same checks and gets the same canonical bytes and sha256 as
the same points written as JSON lines. Objects on S3 are fetched with the lake's own client
settings (AWS_*, SWEEPLAKE_*) into a temporary folder first: DuckDB reads local files only here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sweeplake.errors import BadInput

SUFFIX = ".parquet"


def is_parquet(source: str | Path) -> bool:
    text = str(source)
    return text.startswith("s3://") or text.endswith(SUFFIX) or Path(text).is_dir()


def parquet_records(source: str | Path) -> list[dict]:
    """Every row of the dataset as a record, in file order then row order."""
    import duckdb

    with tempfile.TemporaryDirectory(prefix="sweeplake-parquet-") as folder:
        files = fetched(str(source), Path(folder)) if str(source).startswith("s3://") else None
        files = files if files is not None else local_files(Path(source))
        connection = duckdb.connect()
        try:
            relation = connection.read_parquet([str(f) for f in files])
            columns, rows = relation.columns, relation.fetchall()
        except duckdb.Error as exc:
            reason = str(exc).strip().splitlines()[0][:200]
            raise BadInput(f"dataset {source}: not readable as Parquet ({reason})") from None
        finally:
            connection.close()
    return [dict(zip(columns, row, strict=True)) for row in rows]


def local_files(path: Path) -> list[Path]:
    files = sorted(path.rglob(f"*{SUFFIX}")) if path.is_dir() else [path]
    if not files or not files[0].is_file():
        raise BadInput(f"dataset {path}: no Parquet file there ({SUFFIX})")
    return files


def fetched(uri: str, folder: Path) -> list[Path]:
    """The Parquet objects of s3://bucket/key (one object, or every one under key/), copied."""
    from botocore.exceptions import BotoCoreError, ClientError

    from sweeplake.lake.s3 import S3Lake, describe

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    store = S3Lake.from_uri(f"s3://{bucket}")
    key = key.rstrip("/")
    try:
        keys = [key] if key.endswith(SUFFIX) else store.keys(f"{key}/" if key else "")
        keys = [k for k in keys if k.endswith(SUFFIX)]
        files = []
        for n, name in enumerate(keys):
            body = store.get(name)
            if body is None:
                continue
            files.append(folder / f"{n:06d}{SUFFIX}")
            files[-1].write_bytes(body)
    except (BotoCoreError, ClientError) as exc:
        raise BadInput(f"dataset {uri}: cannot read it ({describe(exc)})") from None
    if not files:
        raise BadInput(f"dataset {uri}: no Parquet object there ({SUFFIX})")
    return files
