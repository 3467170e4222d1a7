"""`spool list`, `spool ship` and `spool drop` on batches that real runs left in the spool."""

from __future__ import annotations

import gzip
from pathlib import Path

from conftest import sweeplake
from test_s3_lake import assert_each_record_once, error_line, lake_objects, spooled

RUN = ("run", "--trials", "3", "--workers", "1", "--model", "svr", "--budget", "60")
QUICK = {"SWEEPLAKE_S3_READ_TIMEOUT": "1", "AWS_MAX_ATTEMPTS": "1"}


def spool_while_down(proxy, env: dict, lakes: list[str]) -> list[str]:
    """One real batch per lake, each left in the spool by a run that found the lake down."""
    proxy.down()
    for lake in lakes:
        done = sweeplake(*RUN, "--lake", lake, env={**env, **QUICK})
        assert done.returncode == 1 and "wait in the spool" in done.stderr, done.stderr
    proxy.up()
    return spooled(env)


def test_list_shows_each_waiting_batch_with_its_lake_age_and_size(bucket, env, proxy):
    lakes = [f"s3://{bucket}/a", f"s3://{bucket}/b"]
    waiting = spool_while_down(proxy, env, lakes)
    shown = sweeplake("spool", "list", env=env)
    assert shown.returncode == 0, shown.stderr
    header, *rows, total = shown.stdout.splitlines()
    assert header.split() == ["batch", "lake", "age", "bytes"]
    root = Path(env["SWEEPLAKE_SPOOL"])
    for row, batch_id, lake in zip(rows, waiting, lakes, strict=True):
        size = sum(p.stat().st_size for p in (root / batch_id).iterdir())
        batch, at, number, unit, shown_size = row.split()
        assert (batch, at, shown_size) == (batch_id, lake, f"{size:,}")
        assert unit in ("s", "min") and int(number) >= 0
    assert total == f"2 batch(es) in {root}"


def test_ship_sends_every_lake_its_batches_once(aws, bucket, env, proxy):
    lakes = [f"s3://{bucket}/a", f"s3://{bucket}/b"]
    spool_while_down(proxy, env, lakes)
    proxy.down()
    down = sweeplake("spool", "ship", env={**env, **QUICK})
    assert down.returncode == 1
    assert "0 batch(es) shipped" in error_line(down.stderr)
    assert len(spooled(env)) == 2
    proxy.up()

    done = sweeplake("spool", "ship", "--lake", lakes[1], env=env)
    assert done.returncode == 0, done.stderr
    assert "1 batch(es) shipped" in done.stderr
    assert len(spooled(env)) == 1
    done = sweeplake("spool", "ship", env=env)
    assert done.returncode == 0, done.stderr
    assert spooled(env) == []
    objects = lake_objects(aws.client(), bucket)
    for prefix in ("a/", "b/"):
        assert_each_record_once({k: v for k, v in objects.items() if k.startswith(prefix)}, 3)


def test_drop_says_what_is_lost_and_needs_yes(bucket, env, proxy):
    [batch_id] = spool_while_down(proxy, env, [f"s3://{bucket}/a"])
    folder = Path(env["SWEEPLAKE_SPOOL"]) / batch_id
    facts = len(gzip.decompress((folder / "fact.json.gz").read_bytes()).splitlines())

    asked = sweeplake("spool", "drop", batch_id, env=env)
    assert asked.returncode == 2
    line = error_line(asked.stderr)
    assert f": 3 trial(s) (3 ok) and {facts:,} predictions" in line and "--yes" in line
    assert spooled(env) == [batch_id]

    for wrong in ("01NOSUCHBATCH", "../spool", ".", ""):
        refused = sweeplake("spool", "drop", wrong, "--yes", env=env)
        assert refused.returncode == 2
        assert "waits in the spool" in error_line(refused.stderr)
    assert spooled(env) == [batch_id]

    dropped = sweeplake("spool", "drop", batch_id, "--yes", env=env)
    assert dropped.returncode == 0, dropped.stderr
    assert f"dropped batch {batch_id} for s3://" in dropped.stderr
    assert "never reached the lake: they are lost" in dropped.stderr
    assert spooled(env) == []
    assert sweeplake("spool", "list", env=env).stdout.startswith("nothing waits in the spool")
