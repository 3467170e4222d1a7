"""The spool when things go wrong: `spool ship` reports what it shipped, an unreadable entry is
set aside without stopping a start, and a spool at its cap stops the fits, dropping nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CACHE, REPO
from test_s3_lake import error_line, lake_objects, spooled

from sweeplake.lake import Batch, gzip_text
from sweeplake.lake.s3 import S3Lake
from sweeplake.lake.spool import Spool, SpoolEntry
from tests.conftest import sweeplake

RUN = ("run", "--trials", "2", "--workers", "1", "--model", "svr", "--budget", "60")
SHIPPED = re.compile(r"INFO (\d+) batch\(es\) shipped")
QUARANTINE = ".quarantine"  # where the docs say unreadable entries go


def spool_batches(env: dict, lake: str, count: int) -> list[str]:
    """`count` small whole batches waiting in the spool for `lake`; their ids, oldest first."""
    spool = Spool(Path(env["SWEEPLAKE_SPOOL"]))
    ids = []
    for n in range(count):
        batch_id = f"01BATCH{n:019d}"
        hyper = gzip_text(json.dumps({"hyper_id": f"01TRIAL{n:019d}", "status": "ok"}) + "\n")
        objects = {"fact": gzip_text(""), "hyper": hyper, "scores": gzip_text("")}
        spool.add(SpoolEntry(lake, Batch(batch_id, "2026-01-02", objects)))
        ids.append(batch_id)
    return ids


def test_ship_pending_counts_only_what_it_shipped(bucket, env, monkeypatch) -> None:
    lake = f"s3://{bucket}"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spool_batches(env, lake, 3)
    # Stopped before its first batch (the pre-fit cap already passed): it shipped none.
    assert S3Lake.from_uri(lake).ship_pending(until=time.monotonic() - 1) == 0
    assert len(spooled(env)) == 3
    assert S3Lake.from_uri(lake).ship_pending() == 3
    assert spooled(env) == []


def test_two_spool_ships_at_once_report_each_batch_once(aws, bucket, env, proxy) -> None:
    lake = f"s3://{bucket}"
    ids = spool_batches(env, lake, 6)
    proxy.chaos(seed=1, latency=0.3)  # each shipper takes seconds: they overlap
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWEEPLAKE_"))}
    shippers = [
        subprocess.Popen(
            [sys.executable, "-m", "sweeplake", "spool", "ship"],
            cwd=REPO,
            env={**full_env, "SWEEPLAKE_CACHE": str(CACHE), **env},
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reported = []
    for shipper in shippers:
        _, err = shipper.communicate(timeout=120)
        assert shipper.returncode == 0, err
        reported.append(int(SHIPPED.search(err)[1]))
    assert sum(reported) == len(ids), reported
    held = {k.split("/")[-1].removesuffix(".json.gz") for k in lake_objects(aws.client(), bucket)}
    assert held == set(ids) and spooled(env) == []


def test_an_unreadable_spool_entry_is_set_aside_and_starts_go_on(aws, bucket, env) -> None:
    lake = f"s3://{bucket}"
    bad, good = spool_batches(env, lake, 2)
    spool = Path(env["SWEEPLAKE_SPOOL"])
    (spool / bad / "manifest.json").write_text('{"lake": "s3://')  # cut short
    before = {p.name: p.read_bytes() for p in (spool / bad).iterdir()}

    done = sweeplake(*RUN, "--lake", lake, env=env)
    assert done.returncode == 0, done.stderr
    named = [line for line in done.stderr.splitlines() if bad in line]
    assert len(named) == 1 and "ERROR" in named[0] and "set aside" in named[0], done.stderr
    assert "never deleted" in named[0] and "move it back" in named[0]
    assert "Traceback" not in done.stderr
    aside = spool / QUARANTINE / bad
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == before  # kept whole
    keys = lake_objects(aws.client(), bucket)
    assert any(good in key for key in keys) and not any(bad in key for key in keys)
    assert spooled(env) == [QUARANTINE]

    listed = sweeplake("spool", "list", env=env)
    assert listed.returncode == 0 and "1 unreadable entry(ies) set aside" in listed.stdout
    again = sweeplake(*RUN, "--lake", lake, env=env)  # named once: it no longer waits
    assert again.returncode == 0 and bad not in again.stderr, again.stderr


def test_a_spool_at_its_cap_stops_the_fits_and_drops_nothing(aws, bucket, env, proxy) -> None:
    lake = f"s3://{bucket}"
    [waiting] = spool_batches(env, lake, 1)
    capped = {**env, "SWEEPLAKE_SPOOL_MAX_MB": "0.0001", "SWEEPLAKE_S3_READ_TIMEOUT": "1"}
    proxy.down()
    for _ in range(2):  # every start says why, in one line, and fits nothing
        done = sweeplake(*RUN, "--lake", lake, env=capped)
        assert done.returncode == 1, done.stderr
        line = error_line(done.stderr)
        assert "at its cap of 0.0001 MB (SWEEPLAKE_SPOOL_MAX_MB)" in line, line
        assert "1 batch(es)" in line and "nothing is dropped" in line
        assert "trials on" not in done.stderr
        assert spooled(env) == [waiting]

    proxy.up()  # the lake is back: the waiting batch ships first, then the fits go on
    done = sweeplake(*RUN, "--lake", lake, env=capped)
    assert done.returncode == 0, done.stderr
    assert spooled(env) == []
    assert len([k for k in lake_objects(aws.client(), bucket) if "/hyper/" in f"/{k}"]) == 2


@pytest.mark.parametrize("cap", ["big", "0", "-5", "nan"])
def test_a_bad_spool_cap_is_bad_input_before_fitting(bucket, env, proxy, cap) -> None:
    done = sweeplake(*RUN, "--lake", f"s3://{bucket}", env={**env, "SWEEPLAKE_SPOOL_MAX_MB": cap})
    assert done.returncode == 2
    assert "SWEEPLAKE_SPOOL_MAX_MB" in error_line(done.stderr)
    assert "trials on" not in done.stderr and proxy.passed == []
