"""S3 faults, measured: through a proxy that delays every request and answers a fraction of them
with a connection reset (before S3 sees the request, or after S3 acted on it) or `503 SlowDown`,
runs (the sampler reading the lake's history), `spool ship`, `compact` and `rank` lose no
record, duplicate none and record no failed trial. A command may give up under the faults, with
one line and its batch whole in the spool; the next one goes on. The test prints the faults."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import uuid
from pathlib import Path

import duckdb
from conftest import sweeplake
from test_s3_lake import assert_each_record_once, lake_objects, records, spooled

from sweeplake.lake import Batch
from sweeplake.lake.spool import Spool, SpoolEntry

OLD_DAY = "2026-01-05"  # closed: compact writes it
PARTS = ("fact", "oof", "hyper", "scores")
HISTORY = re.compile(r"trials of history: svr (\d+)\)")
# How many times a command is started again after giving up under the faults: each start is
# independent, and 4 attempts per request make two in a row giving up rare already.
STARTS = 6
KEPT = "wait in the spool"


def is_s3(request: tuple[str, str]) -> bool:
    return request[1] != "/"  # Athena's JSON API posts to the root; S3's paths name the bucket


def until_done(
    *args: str, env: dict, allowed: str, kept: str | None = None
) -> subprocess.CompletedProcess:
    """Start the command until it succeeds; each failure must be one line saying `allowed`.
    A failure saying `kept` is done too: its batch waits whole in the spool (a start again
    would fit another batch)."""
    for _ in range(STARTS):
        done = sweeplake(*args, env=env)
        if done.returncode == 0:
            return done
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        line = done.stderr.strip().splitlines()[-1]
        assert re.search(allowed, line), done.stderr
        if kept is not None and re.search(kept, line):
            return done
    raise AssertionError(f"{args[0]} gave up {STARTS} times in a row")


def test_runs_ship_compact_and_rank_through_s3_faults_lose_and_duplicate_nothing(
    aws, bucket, env, proxy, tmp_path: Path
) -> None:
    lake, old = f"s3://{bucket}/lake", f"s3://{bucket}/old"
    env = {**env, "SWEEPLAKE_S3_READ_TIMEOUT": "5"}
    client = aws.client()  # straight to S3, past the proxy: the oracle of what is there
    proxy.chaos(
        seed=24, latency=0.02, reset_before=0.1, reset_after=0.1, slow_down=0.1, matches=is_s3
    )
    gave_up = "wait in the spool|cannot read the lake|cannot check"
    run = ("run", "--lake", lake, "--model", "svr", "--trials", "3", "--workers", "1")

    # Two starts of the model-based sampler; the second learns from the first's trials.
    until_done(*run, "--sampler", "tpe", "--seed", "1", env=env, allowed=gave_up, kept=KEPT)
    until_done("spool", "ship", env=env, allowed=gave_up)
    first = records(lake_objects(client, bucket), "hyper")
    assert len(first) == 3
    # The first batch again, for a closed day of another lake: compact writes that day.
    batch_id = first[0]["batch_id"]
    objects = lake_objects(client, bucket)
    day = next(k for k in objects if k.endswith(f"/{batch_id}.json.gz")).split("/")[2]
    parts = {p: objects[f"lake/{p}/{day}/{batch_id}.json.gz"] for p in PARTS}
    spool = Spool(Path(env["SWEEPLAKE_SPOOL"]))
    dataset = objects["lake/data/diabetes.json"]
    spool.add(SpoolEntry(old, Batch(batch_id, OLD_DAY, parts), "data/diabetes.json", dataset))

    second = until_done(
        *run, "--sampler", "tpe", "--seed", "2", env=env, allowed=gave_up, kept=KEPT
    )
    log = second.stderr
    assert HISTORY.search(log)[1] == "3", log  # the whole history, not what a fault left
    until_done("spool", "ship", env=env, allowed=gave_up)  # both lakes' batches
    assert spooled(env) == []

    objects = lake_objects(client, bucket)
    assert_each_record_once({k: v for k, v in objects.items() if k.startswith("lake/")}, 6)
    hyper = records({k: v for k, v in objects.items() if k.startswith("lake/")}, "hyper")
    assert {h["status"] for h in hyper} == {"ok"}  # no fault became a failed trial
    assert {k.removeprefix("old/") for k in objects if k.startswith("old/")} == {
        f"{p}/dt={OLD_DAY}/{batch_id}.json.gz" for p in PARTS
    } | {"data/diabetes.json"}

    # rank reads the scores through the faults: every trial, once.
    ranked = until_done("rank", "--lake", lake, "--format", "csv", env=env, allowed=gave_up)
    ids = [row["hyper_id"] for row in csv.DictReader(io.StringIO(ranked.stdout))]
    assert sorted(ids) == sorted(h["hyper_id"] for h in hyper)

    workgroup = f"wg-{uuid.uuid4().hex[:12]}"
    aws.client("athena").create_work_group(Name=workgroup, Configuration={})
    compact = ("compact", "--lake", old, "--workgroup", workgroup)
    until_done(*compact, "--output", "s3://sweep-results/athena", env=env, allowed=gave_up)
    key = f"old/scores_daily/dt={OLD_DAY}/{OLD_DAY}.parquet"
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    (tmp_path / "day.parquet").write_bytes(body)
    held = duckdb.connect().read_parquet(str(tmp_path / "day.parquet"))
    rows = sorted(held.select("hyper_id, test_r2").fetchall())
    scores = records({"old/scores/x": parts["scores"]}, "scores")
    assert rows == sorted((s["hyper_id"], s["test_r2"]) for s in scores)

    injected = dict(proxy.injected)
    print(f"\nfaults injected: {sum(injected.values())} {injected}")
    kinds = ("reset before", "reset after", "503 SlowDown")
    assert all(injected.get(kind, 0) > 0 for kind in kinds), injected
