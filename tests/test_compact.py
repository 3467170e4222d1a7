"""`compact` against moto over HTTP: closed days into one encrypted Parquet object each, then the
view all_scores split past them; the leaderboard query reads the view."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import duckdb
from awsserver import AwsServer
from conftest import REPO, sweeplake

from sweeplake.engines.sqlfiles import table_schema

OUTPUT = "s3://sweep-results/athena"


def scores_line(hyper_id: str, day: str, test_r2: float | None) -> dict:
    columns = [*table_schema("scores").columns, *table_schema("scores").partitions]
    line = dict.fromkeys(columns)
    ok = test_r2 is not None
    line.update(hyper_id=hyper_id, model="svr", gamma=0.5, c=2.0, epsilon=0.1, dataset="diabetes")
    line.update(status="ok" if ok else "failed", test_r2=test_r2, points=442 if ok else None)
    line["dt"] = day
    return line


def put_scores(aws: AwsServer, bucket: str, day: str, lines: list[dict]) -> None:
    body = gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())
    key = f"lake/scores/dt={day}/01B{uuid.uuid4().hex[:23].upper()}.json.gz"
    aws.client().put_object(Bucket=bucket, Key=key, Body=body)


def test_compact_writes_closed_days_as_parquet_then_moves_the_view(
    aws: AwsServer, tmp_path: Path
) -> None:
    bucket = aws.new_bucket()
    today = datetime.now(UTC).date().isoformat()
    days = {
        "2026-01-05": [[("01A", 0.41), ("01B", None)], [("01C", 0.52)]],  # two batches
        "2026-01-06": [[("01D", 0.33)]],
        today: [[("01E", 0.6)]],  # not closed: stays with the per-batch objects
    }
    for day, batches in days.items():
        for batch in batches:
            put_scores(aws, bucket, day, [scores_line(h, day, r2) for h, r2 in batch])
    aws.client().put_object(
        Bucket=bucket, Key="lake/scores/dt=2026-01-06/01BAD.json.gz", Body=b"not gzip"
    )
    workgroup = f"wg-{uuid.uuid4().hex[:12]}"
    aws.client("athena").create_work_group(Name=workgroup, Configuration={})
    env = {
        **aws.env(),
        "SWEEPLAKE_CACHE": str(tmp_path / "cache"),
        "SWEEPLAKE_SPOOL": str(tmp_path / "spool"),
    }
    lake = f"s3://{bucket}/lake"
    aws.reset_recording()
    args = ("compact", "--lake", lake, "--workgroup", workgroup, "--output", OUTPUT)
    result = sweeplake(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "left out an unreadable scores object" in result.stderr

    client = aws.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix="lake/scores_daily/")["Contents"]
    keys = sorted(item["Key"] for item in listed)
    assert keys == [
        "lake/scores_daily/dt=2026-01-05/2026-01-05.parquet",
        "lake/scores_daily/dt=2026-01-06/2026-01-06.parquet",
    ]
    for key in keys:
        assert client.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"
        local = tmp_path / key.replace("/", "_")
        local.write_bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        day = key.split("dt=")[1][:10]
        held = duckdb.connect().read_parquet(str(local))
        assert held.columns == list(table_schema("scores").columns)  # dt comes from the path
        rows = sorted(held.select("hyper_id, status, test_r2, points").fetchall())
        expected = [
            (h, "ok" if r2 is not None else "failed", r2, 442 if r2 is not None else None)
            for batch in days[day]
            for h, r2 in batch
        ]
        assert rows == sorted(expected)

    (view,) = [
        json.loads(r.body)["QueryString"]
        for r in aws.recorded()
        if r.headers.get("X-Amz-Target") == "AmazonAthena.StartQueryExecution"
    ]
    template = (REPO / "sql" / "create_all_scores.sql").read_text()
    assert view == template.replace("{{compacted_through}}", "2026-01-06")

    aws.reset_recording()
    assert sweeplake(*args, env=env).returncode == 0  # nothing new to compact: no object put
    assert not [r for r in aws.recorded() if r.method == "PUT"]

    # One more closed day: only it is compacted, and the scores listing starts after the last
    # compacted day's objects, so what a daily compact lists does not grow with the lake.
    put_scores(aws, bucket, "2026-01-07", [scores_line("01F", "2026-01-07", 0.47)])
    aws.reset_recording()
    assert sweeplake(*args, env=env).returncode == 0
    recorded = aws.recorded()
    put = [unquote(urlparse(r.url).path) for r in recorded if r.method == "PUT"]
    assert put == [f"/{bucket}/lake/scores_daily/dt=2026-01-07/2026-01-07.parquet"]
    listings = [parse_qs(urlparse(r.url).query) for r in recorded if r.method == "GET"]
    scores = [q for q in listings if q.get("prefix") == ["lake/scores/"]]
    assert scores and all(q.get("start-after") == ["lake/scores/dt=2026-01-060"] for q in scores)


def test_compact_needs_an_s3_lake(tmp_path: Path) -> None:
    result = sweeplake("compact", "--lake", str(tmp_path / "lake"))
    assert result.returncode == 2
    assert "compact needs an s3:// lake" in result.stderr and result.stderr.count("\n") == 1
