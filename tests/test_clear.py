"""`clear` on the local lake and on an S3 lake (moto over HTTP): the dry run deletes nothing and
counts what the lake holds, a real run deletes each batch commit object first, and what stays
(promoted models, datasets, batches still being written) is named."""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from pathlib import Path

import pytest
from conftest import REPO, sweeplake

RUN = ("run", "--model", "svr", "--trials", "2", "--workers", "1", "--cv", "0")
OLD_DAY = "2020-01-02"
BATCH_KEY = re.compile(r"(\w+)/dt=([\d-]+)/(\w+)\.json\.gz")


class LocalSide:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "lake"
        self.uri = str(self.root)
        self.env: dict[str, str] = {"SWEEPLAKE_CACHE": str(tmp_path / "cache")}

    def objects(self) -> dict[str, int]:
        return {
            str(p.relative_to(self.root)): p.stat().st_size
            for p in self.root.rglob("*")
            if p.is_file()
        }

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def write(self, key: str, body: bytes, age: float = 0) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        os.utime(path, (time.time() - age, time.time() - age))

    def remove(self, key: str) -> None:
        (self.root / key).unlink()


class S3Side:
    def __init__(self, aws, bucket: str, env: dict[str, str]) -> None:
        self.client = aws.client()
        self.bucket = bucket
        self.uri = f"s3://{bucket}/lake"
        self.env = env

    def objects(self) -> dict[str, int]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return {
            item["Key"].removeprefix("lake/"): item["Size"]
            for page in pages
            for item in page.get("Contents", ())
        }

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=f"lake/{key}")["Body"].read()

    def write(self, key: str, body: bytes, age: float = 0) -> None:
        assert age == 0  # S3 sets its own times
        self.client.put_object(Bucket=self.bucket, Key=f"lake/{key}", Body=body)

    def remove(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=f"lake/{key}")


@pytest.fixture(params=["local", "s3"])
def side(request, tmp_path):
    if request.param == "local":
        return LocalSide(tmp_path)
    aws = request.getfixturevalue("aws")
    return S3Side(aws, request.getfixturevalue("bucket"), request.getfixturevalue("env"))


def batches(objects: dict[str, int]) -> dict[str, dict[str, int]]:
    """Each batch id with its objects, from the keys alone."""
    found: dict[str, dict[str, int]] = {}
    for key, size in objects.items():
        if match := BATCH_KEY.fullmatch(key):
            found.setdefault(match[3], {})[key] = size
    return found


def run_batch(side, *extra: str) -> None:
    done = sweeplake(*RUN, "--lake", side.uri, *extra, env=side.env)
    assert done.returncode == 0, done.stderr


def move_to_old_day(side, batch_id: str) -> None:
    for key in [k for k in side.objects() if batch_id in k]:
        body = side.read(key)
        side.write(re.sub(r"dt=[\d-]+", f"dt={OLD_DAY}", key), body)
        side.remove(key)


def ranked(side) -> set[str]:
    """The batches whose trials rank shows, by their hyper ids in the batches' own objects."""
    done = sweeplake("rank", "--lake", side.uri, "--format", "json", env=side.env)
    assert done.returncode == 0, done.stderr
    shown = {row["hyper_id"] for row in json.loads(done.stdout)} if done.stdout.strip() else set()
    by_trial = {
        json.loads(line)["hyper_id"]: BATCH_KEY.fullmatch(key)[3]
        for key in side.objects()
        if key.startswith("hyper/")
        for line in gzip.decompress(side.read(key)).splitlines()
    }
    assert shown <= set(by_trial)
    return {by_trial[h] for h in shown}


def test_a_dry_run_deletes_nothing_then_before_a_day_deletes_older_batches_hyper_first(
    side, request
) -> None:
    run_batch(side)
    run_batch(side)
    old, new = sorted(batches(side.objects()))
    move_to_old_day(side, old)
    side.write("models/01TESTPROMOTED0000000000000/card.json", b"{}")
    before = side.objects()
    held = batches(before)[old]

    dry = sweeplake("clear", "--lake", side.uri, "--before", "2020-01-03", env=side.env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        f"would delete 1 batch(es), {len(held)} object(s), {sum(held.values()):,} bytes "
        f"from {side.uri}",
        "kept: 1 promoted model(s) under models/ (serve still loads them)",
        "kept: 1 dataset object(s) under data/",
        "nothing was deleted: add --yes to delete them",
    ]
    assert side.objects() == before

    proxy = request.getfixturevalue("proxy") if isinstance(side, S3Side) else None
    if proxy is not None:
        proxy.passed.clear()
    done = sweeplake("clear", "--lake", side.uri, "--before", "2020-01-03", "--yes", env=side.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == dry.stdout.splitlines()[0].replace(
        "would delete", "deleted"
    )
    left = side.objects()
    assert set(batches(left)) == {new}
    assert left == {k: v for k, v in before.items() if k not in held}
    assert ranked(side) == {new}
    if proxy is not None:  # the order S3 received the deletions in
        deleted = [path.split("/")[3] for method, path in proxy.passed if method == "DELETE"]
        assert deleted[0] == "hyper" and sorted(deleted[1:]) == ["fact", "scores", "timings"]


def test_a_dataset_clear_keeps_the_others(tmp_path: Path) -> None:
    side = LocalSide(tmp_path)
    other = tmp_path / "other.json"
    text = (REPO / "data" / "diabetes.json").read_text()
    other.write_text(text.replace('"dataset": "diabetes"', '"dataset": "other"'))
    run_batch(side)
    run_batch(side, "--dataset", str(other))
    diabetes_batch, other_batch = sorted(batches(side.objects()))
    done = sweeplake("clear", "--lake", side.uri, "--dataset", "other", "--yes", env=side.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("deleted 1 batch(es), ")
    assert set(batches(side.objects())) == {diabetes_batch}


def test_uncommitted_leftovers_go_unless_they_may_be_in_flight(tmp_path: Path) -> None:
    side = LocalSide(tmp_path)
    run_batch(side)
    body = gzip.compress(b'{"hyper_id":"x","point_id":0,"y_pred":1.0}\n')
    side.write(f"fact/dt={OLD_DAY}/01AAAAAAAAAAAAAAAAAAAAAAAA.json.gz", body, age=7200)
    side.write(f"fact/dt={OLD_DAY}/01BBBBBBBBBBBBBBBBBBBBBBBB.json.gz", body)
    dry = sweeplake("clear", "--lake", side.uri, env=side.env)
    assert dry.stdout.splitlines()[0].startswith(
        "would delete 2 batch(es) (1 of them uncommitted leftovers), "
    )
    assert "kept: 1 uncommitted batch(es) younger than 60 min" in dry.stdout
    done = sweeplake("clear", "--lake", side.uri, "--yes", env=side.env)
    assert done.returncode == 0, done.stderr
    assert set(batches(side.objects())) == {"01BBBBBBBBBBBBBBBBBBBBBBBB"}


def test_a_clear_cut_short_leaves_no_batch_looking_committed(aws, bucket, env, proxy) -> None:
    side = S3Side(aws, bucket, env)
    run_batch(side)
    (batch_id,) = batches(side.objects())
    proxy.cut_after(lambda request: request[0] == "DELETE")  # S3 goes away after one deletion
    done = sweeplake("clear", "--lake", side.uri, "--yes", env=side.env)
    assert done.returncode == 1
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("sweeplake")]
    assert "cannot reach the S3 endpoint" in line, done.stderr
    proxy.up()
    left = batches(side.objects())[batch_id]
    assert not any(key.startswith("hyper/") for key in left)
    assert any(key.startswith("fact/") for key in left)
    assert ranked(side) == set()
    again = sweeplake("clear", "--lake", side.uri, "--yes", env=side.env)
    assert again.returncode == 0, again.stderr
    # Minutes old, it may be a batch being written: kept, and said so (old ones go, see above).
    assert "kept: 1 uncommitted batch(es) younger than 60 min" in again.stdout
    assert set(batches(side.objects())[batch_id]) == set(left)


@pytest.mark.parametrize(
    "flags, says",
    [
        (("--before", "2024-13-01"), "--before '2024-13-01': give a day as YYYY-MM-DD"),
        (("--before", "yesterday"), "give a day as YYYY-MM-DD"),
        (("--dataset", "../x"), "a dataset name is letters"),
        (("--yes", "--lake", "/nonexistent/lake"), "no lake at /nonexistent/lake"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, flags, says) -> None:
    side = LocalSide(tmp_path)
    side.write(f"hyper/dt={OLD_DAY}/01AAAAAAAAAAAAAAAAAAAAAAAA.json.gz", gzip.compress(b""))
    before = side.objects()
    done = sweeplake("clear", "--lake", side.uri, *flags, env=side.env)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("sweeplake: error: ") and says in line
    assert side.objects() == before
