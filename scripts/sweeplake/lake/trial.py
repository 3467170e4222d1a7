"""One trial's records read from its own batch's objects: never a scan of the whole lake."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

from sweeplake.dataset import Dataset, load_dataset
from sweeplake.errors import BadInput
from sweeplake.lake.base import Lake
from sweeplake.lake.parts import PARQUET_PREFIXES, batch_keys


def ndjson(lake: Lake, key: str) -> list[dict]:
    body = lake.get(key)
    if body is None:
        raise BadInput(f"{lake.uri}/{key} is missing")
    return [json.loads(line) for line in gzip.decompress(body).splitlines() if line.strip()]


def batch_key(prefix: str, scores: dict) -> str:
    """The key of an object of the batch a scores line (or hyper record plus dt) belongs to."""
    return f"{prefix}/dt={scores['dt']}/{scores['batch_id']}.json.gz"


def hyper_record(lake: Lake, scores: dict) -> dict:
    """The trial's own line in its batch's hyper object: the record of truth."""
    key = batch_key("hyper", scores)
    for record in ndjson(lake, key):
        if record["hyper_id"] == scores["hyper_id"]:
            return record
    raise BadInput(f"trial {scores['hyper_id']} is not in {lake.uri}/{key}")


def trial_facts(lake: Lake, scores: dict) -> dict[int, float | None]:
    """The trial's prediction of each point, from its batch's fact object (or its parts, gzip
    NDJSON or the Parquet that Spark wrote) alone."""
    hyper_id = scores["hyper_id"]
    keys = batch_keys(lake, "fact", scores["dt"], scores["batch_id"])
    if not keys:
        parquet = batch_keys(lake, PARQUET_PREFIXES["fact"], scores["dt"], scores["batch_id"])
        if parquet:
            return parquet_facts(lake, parquet, hyper_id)
        raise BadInput(f"{lake.uri}/{batch_key('fact', scores)} is missing")
    return {
        f["point_id"]: f["y_pred"]
        for key in keys
        for f in ndjson(lake, key)
        if f["hyper_id"] == hyper_id
    }


def parquet_facts(lake: Lake, keys: list[str], hyper_id: str) -> dict[int, float | None]:
    """One trial's predictions from Parquet parts, read by DuckDB from local copies."""
    import duckdb

    with tempfile.TemporaryDirectory(prefix="sweeplake-facts-") as folder:
        files = []
        for n, key in enumerate(keys):
            body = lake.get(key)
            if body is None:
                raise BadInput(f"{lake.uri}/{key} is missing")
            files.append(Path(folder) / f"{n:05d}.parquet")
            files[-1].write_bytes(body)
        connection = duckdb.connect()
        try:
            rows = connection.execute(
                "SELECT point_id, y_pred FROM read_parquet(?) WHERE hyper_id = ?",
                [[str(f) for f in files], hyper_id],
            ).fetchall()
        finally:
            connection.close()
    return dict(rows)


def lake_dataset(lake: Lake, hyper: dict) -> Dataset:
    """The dataset the trial ran on, as the lake holds it, checked by its sha256."""
    key = f"data/{hyper['dataset']}.json"
    body = lake.get(key)
    if body is None:
        raise BadInput(f"{lake.uri}/{key} is missing")
    # load_dataset reads a file: the same checks as a run's, on the lake's bytes.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{hyper['dataset']}.json"
        path.write_bytes(body)
        dataset = load_dataset(path)
    if dataset.sha256 != hyper["dataset_sha256"]:
        raise BadInput(f"{lake.uri}/{key} is not the dataset trial {hyper['hyper_id']} ran on")
    return dataset
