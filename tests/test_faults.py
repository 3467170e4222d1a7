"""Faults injected at a real endpoint or through the loopback proxy, and full or unwritable disks.

Every fault either is absorbed by botocore's retries or ends the run with one line and exit 1,
the batch whole in the spool; once the fault is lifted the next run ships it first, and every
record is in the lake exactly once.
"""

from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from awsserver import SECRET_KEY, free_port
from conftest import sweeplake
from tcpproxy import Proxy
from test_s3_lake import POINTS, assert_each_record_once, error_line, lake_objects, spooled

from sweeplake.errors import BatchLost, LakeUnreachable
from sweeplake.lake import Batch, LocalLake

RUN = ("run", "--trials", "2", "--workers", "1", "--model", "svr", "--budget", "60")
# A fault that lasts costs a second or two, not the default 4 attempts of up to 20 s each.
QUICK = {"SWEEPLAKE_S3_READ_TIMEOUT": "1", "AWS_MAX_ATTEMPTS": "2"}


def is_put(request: tuple[str, str]) -> bool:
    return request[0] == "PUT"


def is_fact_put(request: tuple[str, str]) -> bool:
    return request[0] == "PUT" and "/fact/" in request[1]


def every(request: tuple[str, str]) -> bool:
    return True


def assert_no_secret(done: subprocess.CompletedProcess) -> None:
    assert SECRET_KEY not in done.stdout + done.stderr


def whole_entry(folder: Path) -> tuple[int, int, int]:
    """Lines of hyper, fact and dataset in a spool entry, read without the code under test."""
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["batch_id"] == folder.name
    assert manifest["dataset_key"] == "data/diabetes.json"
    hypers = gzip.decompress((folder / "hyper.json.gz").read_bytes()).splitlines()
    facts = gzip.decompress((folder / "fact.json.gz").read_bytes()).splitlines()
    points = (folder / "dataset.json").read_bytes().splitlines()
    return len(hypers), len(facts), len(points)


@pytest.mark.parametrize("status, code", [(503, "SlowDown"), (500, "InternalError")])
def test_a_passing_5xx_is_absorbed_by_the_retries(aws, bucket, env, proxy, status, code):
    proxy.answer(is_fact_put, status, code, times=2)
    done = sweeplake(*RUN, "--lake", f"s3://{bucket}", env=env)
    assert done.returncode == 0, done.stderr
    [fact_put] = [r for r in proxy.passed if is_fact_put(r)]
    assert proxy.faulted == [fact_put, fact_put]  # the same request, retried twice
    assert spooled(env) == []
    assert_each_record_once(lake_objects(aws.client(), bucket), trials=2)


class FaultCase(NamedTuple):
    inject: Callable[[Proxy], None] | None  # None: a real fault, set up in the test
    named: str  # what the one error line says
    tries: int | None  # how often the refused PUT is sent, with QUICK's AWS_MAX_ATTEMPTS=2


FAULTS = {
    "connection-refused": FaultCase(None, "cannot reach the S3 endpoint", None),
    "read-timeout": FaultCase(
        lambda proxy: proxy.hold(is_put), "no answer from the S3 endpoint within 1 s", 2
    ),
    "slowdown-always": FaultCase(
        lambda proxy: proxy.answer(is_put, 503, "SlowDown"), "SlowDown", 2
    ),
    "internal-error-always": FaultCase(
        lambda proxy: proxy.answer(is_put, 500, "InternalError"), "InternalError", 2
    ),
    # A role without s3:PutObject: reads work, so nothing tells before the first PUT.
    "access-denied": FaultCase(
        lambda proxy: proxy.answer(is_put, 403, "AccessDenied"), "AccessDenied", 1
    ),
}
# Refusals that a read shows before the fits (no credentials, no such bucket, a wrong secret,
# an expired token) spool nothing at all: tests/test_s3_lake.py.


@pytest.mark.parametrize("name", FAULTS)
def test_a_fault_leaves_the_batch_whole_in_the_spool_until_lifted(aws, bucket, env, proxy, name):
    fault = FAULTS[name]
    lake = f"s3://{bucket}/lake"
    faulty = {**env, **QUICK}
    if fault.inject is not None:
        fault.inject(proxy)
    else:
        faulty.update(aws.env(f"http://127.0.0.1:{free_port()}"))  # nothing listens there

    failed = sweeplake(*RUN, "--lake", lake, env=faulty)
    assert failed.returncode == 1
    line = error_line(failed.stderr)
    assert fault.named in line and "wait in the spool" in line
    assert_no_secret(failed)
    [waiting] = spooled(env)
    assert whole_entry(Path(env["SWEEPLAKE_SPOOL"]) / waiting) == (2, 2 * POINTS, POINTS)
    assert lake_objects(aws.client(), bucket) == {}
    # The pending trials' PUT, advice before the fits, is tried once in a hurry and given up
    # on; the batch's first PUT is the one retried.
    advice = [r for r in proxy.faulted if "/pending/" in r[1]]
    batch = [r for r in proxy.faulted if "/pending/" not in r[1]]
    assert len(advice) == (fault.inject is not None)
    assert bool(batch) == (fault.inject is not None)
    if fault.tries is not None:
        assert batch == batch[:1] * fault.tries

    proxy.up()
    proxy.passed.clear()
    done = sweeplake(*RUN, "--lake", lake, env=env)
    assert done.returncode == 0, done.stderr
    assert_no_secret(done)
    shipped = [path for method, path in proxy.passed if method == "PUT" and "/data/" not in path]
    assert waiting in shipped[0] and waiting in shipped[1]  # the waiting batch went first
    assert spooled(env) == []
    assert_each_record_once(lake_objects(aws.client(), bucket), trials=4)


def test_a_refused_put_stops_the_next_start_before_fitting(aws, bucket, env, proxy):
    lake = f"s3://{bucket}/lake"
    proxy.answer(is_put, 403, "AccessDenied")
    first = sweeplake(*RUN, "--lake", lake, env={**env, **QUICK})
    assert first.returncode == 1 and "trials on" in first.stderr
    [waiting] = spooled(env)

    again = sweeplake(*RUN, "--lake", lake, env={**env, **QUICK})
    assert again.returncode == 3
    line = error_line(again.stderr)
    assert "AccessDenied" in line and "no trials" in line and "fitted" in line
    assert "trials on" not in again.stderr
    assert spooled(env) == [waiting]  # the spool does not grow, and keeps what waits
    assert lake_objects(aws.client(), bucket) == {}


def test_a_silent_endpoint_costs_no_trial_and_every_call_is_tried_once(aws, bucket, env, proxy):
    """S3 takes connections and never answers, as a server under kill -STOP does: the budget
    starts with the fits, every trial is ok and spooled, and no call is retried."""
    proxy.hold(every)
    silent = {**env, "SWEEPLAKE_S3_READ_TIMEOUT": "5"}  # 4 attempts a call: 20 s, past 2 + 10
    done = sweeplake(
        *("run", "--trials", "100000", "--workers", "2", "--model", "svr", "--budget", "2"),
        *("--lake", f"s3://{bucket}/lake"),
        env=silent,
    )
    assert done.returncode == 1
    assert "wait in the spool" in error_line(done.stderr)
    assert "no answer from the S3 endpoint within 5 s" in done.stderr
    [waiting] = spooled(env)
    hyper = gzip.decompress((Path(env["SWEEPLAKE_SPOOL"]) / waiting / "hyper.json.gz").read_bytes())
    statuses = [json.loads(line)["status"] for line in hyper.splitlines()]
    assert len(statuses) >= 2 and set(statuses) == {"ok"}
    assert len(proxy.faulted) == 2  # the listing before the fits, the first call after them
    assert lake_objects(aws.client(), bucket) == {}


PAGE = 4096  # tmpfs counts whole pages
DISK = 64 * PAGE
SEED = ("--seed", "7")  # a fixed batch: its fact object takes a few pages, its dataset 40


@pytest.fixture
def tiny_disk(tmp_path):
    """fill(free) -> a folder on a 256 KiB tmpfs with `free` bytes left; lift() frees it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:  # never a quiet skip: a disk-full test that cannot run fails
        pytest.fail(
            f"the disk-full tests mount a {DISK // 1024} KiB tmpfs to get ENOSPC, and cannot "
            f"here ({mounted.stderr.strip()}): run the tests as root (CI does)"
        )
    filler = mount / "filler"

    class Disk:
        root = mount

        def fill(self, free: int) -> None:
            filler.write_bytes(b"\0" * (DISK - free))

        def lift(self) -> None:
            filler.unlink()

    try:
        yield Disk()
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def hidden_or_visible(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# Free space that fails the spool entry at its fact object (after the manifest), at its dataset.
@pytest.mark.parametrize("free_pages", [1, 40])
def test_a_full_spool_disk_keeps_no_half_entry_and_ships_nothing(
    aws, bucket, env, proxy, tiny_disk, free_pages
):
    lake = f"s3://{bucket}"
    spool = tiny_disk.root / "spool"
    env = {**env, "SWEEPLAKE_SPOOL": str(spool)}
    tiny_disk.fill(free_pages * PAGE)

    full = sweeplake(*RUN, *SEED, "--lake", lake, env=env)
    assert full.returncode == 1
    line = error_line(full.stderr)
    assert "NOT kept" in line and "No space left on device" in line
    assert hidden_or_visible(spool) == []  # not even a hidden half-written folder
    # Only the pending trials reached S3, before the fits: advice that expires, never a result.
    [put] = [r for r in proxy.passed if r[0] == "PUT"]
    assert "/pending/" in put[1]
    assert all(key.startswith("pending/") for key in lake_objects(aws.client(), bucket))

    tiny_disk.lift()
    done = sweeplake(*RUN, *SEED, "--lake", lake, env=env)
    assert done.returncode == 0, done.stderr
    assert hidden_or_visible(spool) == []
    assert_each_record_once(lake_objects(aws.client(), bucket), trials=2)


def test_a_full_local_lake_shows_no_partial_object(tiny_disk):
    lake = tiny_disk.root / "lake"
    # Room for the pending trials (a page, before the fits) and the dataset object, not for
    # the fact object after them.
    tiny_disk.fill(41 * PAGE)

    full = sweeplake(*RUN, *SEED, "--lake", str(lake))
    assert full.returncode == 1
    line = error_line(full.stderr)
    assert "NOT written" in line and "No space left on device" in line
    files = [p for p in lake.rglob("*") if p.is_file()]
    assert not any(p.name.startswith(".") for p in files)  # no temporary left behind
    assert not any(p.name.endswith(".json.gz") for p in files)  # no fact, no hyper
    # The pending trials stay until they expire: the batch never became a result.
    [dataset] = [p for p in files if p.parent.name != "pending"]
    assert len(files) == 2
    assert len(dataset.read_text().splitlines()) == POINTS

    tiny_disk.lift()
    done = sweeplake(*RUN, *SEED, "--lake", str(lake))
    assert done.returncode == 0, done.stderr
    assert_each_record_once(local_objects(lake), trials=2)


def local_objects(lake: Path) -> dict[str, bytes]:
    return {str(p.relative_to(lake)): p.read_bytes() for p in lake.rglob("*") if p.is_file()}


def test_facts_whose_hyper_object_did_not_fit_are_taken_back(tiny_disk):
    lake = LocalLake(tiny_disk.root / "lake")
    tiny_disk.fill(PAGE)  # room for the fact object, not for the hyper object after it
    batch = Batch("01BATCH", "2026-01-02", {"fact": b"f" * PAGE, "hyper": b"h"})
    with pytest.raises(BatchLost, match="NOT written"):
        lake.write_batch(batch)
    assert [p for p in lake.root.rglob("*") if p.is_file()] == []


def test_a_scores_object_that_did_not_fit_after_the_commit_is_named_as_such(tiny_disk):
    lake = LocalLake(tiny_disk.root / "lake")
    tiny_disk.fill(2 * PAGE)  # room for the fact and hyper objects, not the scores after them
    objects = {"fact": b"f" * PAGE, "hyper": b"h", "scores": b"s" * 2 * PAGE}
    batch = Batch("01BATCH", "2026-01-02", objects)
    with pytest.raises(LakeUnreachable) as raised:
        lake.write_batch(batch)
    message = str(raised.value)
    assert "NOT" not in message and "is in the lake" in message and "committed" in message
    assert "No space left on device" in message and "rescore" in message
    kept = sorted(str(p.relative_to(lake.root)) for p in lake.root.rglob("*.json.gz"))
    assert kept == [batch.fact_key, batch.hyper_key]  # the committed batch stays whole


def test_an_unwritable_spool_is_bad_input_before_fitting(aws, bucket, env, proxy, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    env = {**env, "SWEEPLAKE_SPOOL": str(tmp_path / "a-file" / "spool")}
    done = sweeplake(*RUN, "--lake", f"s3://{bucket}", env=env)
    assert done.returncode == 2
    assert "spool directory" in error_line(done.stderr) and "not writable" in done.stderr
    assert "trials on" not in done.stderr  # no fitting began
    assert proxy.passed == [] and proxy.faulted == []
    assert lake_objects(aws.client(), bucket) == {}


@pytest.mark.parametrize("seconds", ["soon", "0", "-1", "nan", "inf"])
def test_a_bad_read_timeout_is_bad_input_before_fitting(bucket, env, proxy, seconds):
    env = {**env, "SWEEPLAKE_S3_READ_TIMEOUT": seconds}
    done = sweeplake(*RUN, "--lake", f"s3://{bucket}", env=env)
    assert done.returncode == 2
    assert "SWEEPLAKE_S3_READ_TIMEOUT" in error_line(done.stderr)
    assert "trials on" not in done.stderr
    assert spooled(env) == [] and proxy.passed == []
