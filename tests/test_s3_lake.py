"""The S3 lake over HTTP against a moto server: shipping, the spool through outages, the mirror."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import multiprocessing
import multiprocessing.synchronize
import os
import re
from pathlib import Path

import pytest
from awsserver import SECRET_KEY
from conftest import sweeplake

from sweeplake.errors import BadInput
from sweeplake.lake import Batch, LocalLake, gzip_text
from sweeplake.lake.s3 import S3Lake, parse_uri
from sweeplake.lake.spool import Spool, SpoolEntry

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} \S+ (INFO|WARNING) ")
POINTS = 442
RUN = ("run", "--trials", "4", "--workers", "1", "--budget", "60")


def error_line(stderr: str) -> str:
    """The one line that is not a timestamped log line; fails on tracebacks or secrets."""
    assert "Traceback" not in stderr
    assert SECRET_KEY not in stderr
    others = [line for line in stderr.splitlines() if not LOG_LINE.match(line)]
    assert len(others) == 1, stderr
    assert others[0].startswith("sweeplake: ")
    return others[0]


def spooled(env: dict) -> list[str]:
    root = Path(env["SWEEPLAKE_SPOOL"])
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def lake_objects(client, bucket: str) -> dict[str, bytes]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [item["Key"] for page in pages for item in page.get("Contents", ())]
    return {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def records(objects: dict[str, bytes], part: str) -> list[dict]:
    return [
        json.loads(line)
        for key, body in objects.items()
        if f"/{part}/" in f"/{key}"
        for line in gzip.decompress(body).decode().splitlines()
    ]


def assert_each_record_once(objects: dict[str, bytes], trials: int) -> None:
    hypers = records(objects, "hyper")
    facts = records(objects, "fact")
    hyper_ids = [h["hyper_id"] for h in hypers]
    assert len(hyper_ids) == trials
    assert len(set(hyper_ids)) == trials
    pairs = [(f["hyper_id"], f["point_id"]) for f in facts]
    assert len(set(pairs)) == len(pairs)
    ok = {h["hyper_id"] for h in hypers if h["status"] == "ok"}
    assert {hyper_id for hyper_id, _ in pairs} == ok
    assert len(pairs) == POINTS * len(ok)


def leaderboard(lake: str, env: dict) -> list[dict]:
    done = sweeplake("rank", "--lake", lake, "--format", "csv", "--limit", "1000", env=env)
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def same_cell(ours: str, theirs: str) -> bool:
    """Equal text, or equal numbers up to the last bits that SQL summation order may move."""
    try:
        return math.isclose(float(ours), float(theirs), rel_tol=1e-12, abs_tol=1e-12)
    except ValueError:
        return ours == theirs


def predictions_by_trial(objects: dict[str, bytes]) -> dict[tuple, list]:
    """Every trial (model, parameters, seed) with its predictions in point order."""
    trials = {
        h["hyper_id"]: (h["model"], h["seed"], h["params"]) for h in records(objects, "hyper")
    }
    by_trial: dict[tuple, list] = {trial: [] for trial in trials.values()}
    for fact in records(objects, "fact"):
        by_trial[trials[fact["hyper_id"]]].append((fact["point_id"], fact["y_pred"]))
    return {trial: sorted(points) for trial, points in by_trial.items()}


def test_s3_leaderboard_equals_the_local_one_and_every_object_is_encrypted(
    aws, bucket, env, tmp_path
):
    local = str(tmp_path / "local-lake")
    remote = f"s3://{bucket}/sweeps/v1"
    for lake in (local, remote):
        done = sweeplake(*RUN, "--seed", "2024", "--lake", lake, env=env)
        assert done.returncode == 0, done.stderr

    ours, theirs = leaderboard(remote, env), leaderboard(local, env)
    assert len(ours) >= 1
    assert len(ours) == len(theirs)
    differences = [
        (n, k, mine, r[k])
        for n, (o, r) in enumerate(zip(ours, theirs, strict=True))
        for k, mine in o.items()
        if k not in ("hyper_id", "created_at") and not same_cell(mine, r[k])
    ]
    assert differences == []
    client = aws.client()
    objects = lake_objects(client, bucket)
    local_root = Path(local)
    local_objects = {
        str(path.relative_to(local_root)): path.read_bytes()
        for path in local_root.rglob("*")
        if path.is_file()
    }
    assert predictions_by_trial(objects) == predictions_by_trial(local_objects)
    # The batch's pending trials stay on S3 (the job may not delete); a local lake removes them.
    assert sorted({k.split("/")[2] for k in objects}) == [
        "data",
        "fact",
        "hyper",
        "oof",
        "pending",
        "scores",
        "timings",
    ]
    assert not any(k.startswith("pending/") for k in local_objects)
    for key in objects:
        assert client.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"
    assert spooled(env) == []


def test_the_dataset_goes_once_and_the_mirror_fetches_only_new_objects(bucket, env, proxy):
    lake = f"s3://{bucket}"

    def object_gets() -> list[str]:
        return [path for method, path in proxy.passed if method == "GET" and "?" not in path]

    def puts() -> list[str]:
        return [path for method, path in proxy.passed if method == "PUT"]

    assert sweeplake(*RUN, "--lake", lake, env=env).returncode == 0
    # The pending trials go before the fits; the batch, dataset first, after them.
    assert [p.split("/")[2] for p in puts()] == [
        "pending",
        "data",
        "fact",
        "oof",
        "hyper",
        "scores",
        "timings",
    ]
    data_put = puts()[1:2]
    assert len(leaderboard(lake, env)) >= 1
    # data, hyper and scores, all new: rank reads the scores, never the facts
    assert sorted(p.split("/")[2] for p in object_gets()) == ["data", "hyper", "scores"]

    proxy.passed.clear()
    assert sweeplake(*RUN, "--lake", lake, env=env).returncode == 0
    new = puts()
    assert [p.split("/")[2] for p in new] == [
        "pending",
        "fact",
        "oof",
        "hyper",
        "scores",
        "timings",
    ]  # not the dataset
    proxy.passed.clear()
    assert len(leaderboard(lake, env)) >= 2
    # The new hyper and scores, and the dataset, read every time: it may have gained its folds.
    read = [p for p in new if p.split("/")[2] in ("hyper", "scores")]
    assert sorted(object_gets()) == sorted(read + data_put)


def test_the_mirror_drops_what_the_lake_no_longer_holds(aws, bucket, env):
    lake = f"s3://{bucket}"
    for _ in range(2):
        assert sweeplake(*RUN, "--lake", lake, env=env).returncode == 0
    client = aws.client()
    ranked_before = {row["hyper_id"] for row in leaderboard(lake, env)}
    first = sorted(k for k in lake_objects(client, bucket) if k.startswith("hyper/"))[0]
    for key in (first, first.replace("hyper/", "fact/", 1)):  # one whole batch deleted
        client.delete_object(Bucket=bucket, Key=key)

    ranked = {row["hyper_id"] for row in leaderboard(lake, env)}
    held = {h["hyper_id"] for h in records(lake_objects(client, bucket), "hyper")}
    assert ranked == {h for h in ranked_before if h in held}
    assert len(ranked) < len(ranked_before)
    cached = Path(env["SWEEPLAKE_CACHE"]) / bucket
    assert not (cached / first).exists()


@pytest.mark.parametrize("outage", ["after-fact-put", "after-dataset-put", "endpoint-down"])
def test_a_batch_cut_off_by_an_outage_waits_in_the_spool_and_ships_next_time(
    aws, bucket, env, proxy, outage
):
    lake = f"s3://{bucket}/lake"
    client = aws.client()
    if outage == "after-fact-put":
        proxy.cut_after(lambda request: request[0] == "PUT" and "/fact/" in request[1])
    elif outage == "after-dataset-put":
        proxy.cut_after(lambda request: request[0] == "PUT" and "/data/" in request[1])
    else:
        proxy.down()

    cut = sweeplake(*RUN, "--lake", lake, env=env)
    assert cut.returncode == 1
    assert "wait in the spool" in error_line(cut.stderr)
    assert "cannot reach the S3 endpoint" in cut.stderr
    [first] = spooled(env)
    held = {k.split("/")[1] for k in lake_objects(client, bucket)}
    # The pending trials went before the fits, while S3 still answered: advice, never a result.
    assert held == {
        "after-fact-put": {"data", "fact", "pending"},
        "after-dataset-put": {"data", "pending"},
    }.get(outage, set())
    assert proxy.refused  # the cut really happened, part-way where intended

    proxy.up()
    proxy.passed.clear()
    done = sweeplake(*RUN, "--lake", lake, env=env)
    assert done.returncode == 0, done.stderr
    assert spooled(env) == []
    shipped = [path for method, path in proxy.passed if method == "PUT" and "/data/" not in path]
    assert first in shipped[0] and first in shipped[1]  # the waiting batch went first
    log = done.stderr
    assert log.index(f"batch {first} shipped") < log.index(" trials on ")  # before the fits
    objects = lake_objects(client, bucket)
    assert sum("/data/" in k for k in objects) == 1
    assert_each_record_once(objects, trials=8)


# Faults no retry can change, each with what the one error line names.
REFUSALS = {
    "no-credentials": "no usable AWS credentials",
    "no-such-bucket": "NoSuchBucket",
    "wrong-secret-key": "SignatureDoesNotMatch",
    "expired-token": "ExpiredToken",
}


@pytest.mark.parametrize("fault", REFUSALS)
def test_a_lake_that_refuses_this_machine_stops_before_fitting_and_spools_nothing(
    bucket, env, proxy, fault
):
    lake = f"s3://{bucket}-gone/x" if fault == "no-such-bucket" else f"s3://{bucket}/x"
    if fault == "no-credentials":
        env = {
            k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        }
    elif fault == "wrong-secret-key":  # what S3 answers to a request signed with a wrong secret
        proxy.answer(lambda request: True, 403, "SignatureDoesNotMatch")
    elif fault == "expired-token":
        proxy.answer(lambda request: True, 400, "ExpiredToken")
    spool = Spool(Path(env["SWEEPLAKE_SPOOL"]))
    left_before = [synthetic_batch(1), synthetic_batch(2)]  # one for this lake, one for another
    spool.add(SpoolEntry(lake, left_before[0]))
    spool.add(SpoolEntry("s3://another-lake/y", left_before[1]))

    done = sweeplake(*RUN, "--lake", lake, env=env)
    assert done.returncode == 3
    line = error_line(done.stderr)
    assert REFUSALS[fault] in line and lake in line and "no trials" in line and "fitted" in line
    assert "trials on" not in done.stderr
    assert "also holds batches for s3://another-lake/y (1): kept" in done.stderr
    assert spooled(env) == sorted(b.batch_id for b in left_before)  # none added, none lost
    assert len(proxy.passed + proxy.faulted) <= 1  # one cheap request, or none without keys


def test_a_different_dataset_under_the_same_name_is_bad_input_before_fitting(aws, bucket, env):
    # Written by another tool, so without our sha256 metadata: the lake reads the object.
    aws.client().put_object(Bucket=bucket, Key="data/diabetes.json", Body=b'{"other": 1}\n')
    done = sweeplake(*RUN, "--lake", f"s3://{bucket}", env=env)
    assert done.returncode == 2
    assert "different dataset" in error_line(done.stderr)
    assert "trials on" not in done.stderr  # no fitting began
    assert list(lake_objects(aws.client(), bucket)) == ["data/diabetes.json"]
    assert spooled(env) == []


@pytest.mark.parametrize(
    "uri",
    [
        "s3://",
        "s3:///x",
        "s3://Bad_Bucket/x",
        "s3://ab/x",
        "s3://192.168.1.1/x",
        "s3://a..b/x",
        "s3://xn--bucket/x",
        "s3://bucket/../x",
        "s3://bucket/a//b",
        "s3://bucket/a?b",
        "s3://-bucket/x",
    ],
)
def test_bad_s3_uris_are_bad_input(uri):
    with pytest.raises(BadInput, match="lake"):
        parse_uri(uri)


@pytest.mark.parametrize("command", [RUN, ("rank",)])
def test_bad_s3_uris_exit_2_with_one_line_and_write_nothing(env, proxy, tmp_path, command):
    for uri in ("s3:///x", "s3://Bad_Bucket/x"):
        done = sweeplake(*command, "--lake", uri, env=env)
        assert done.returncode == 2
        assert "bucket" in error_line(done.stderr)
    assert not (tmp_path / "spool").exists() and not (tmp_path / "cache").exists()
    assert proxy.passed == [] and proxy.refused == []


def test_good_s3_uris_parse():
    assert parse_uri("s3://my.bucket-1") == ("my.bucket-1", "")
    assert parse_uri("s3://my-bucket/a/b=c/") == ("my-bucket", "a/b=c")


def synthetic_batch(number: int) -> Batch:
    hyper_id = f"H{number:04d}"
    facts = "".join(
        json.dumps({"hyper_id": hyper_id, "point_id": p, "y_pred": p / 3}) + "\n" for p in range(5)
    )
    hyper = json.dumps({"hyper_id": hyper_id, "status": "ok"}) + "\n"
    return Batch(
        f"01B{number:023d}", "2026-01-02", {"fact": gzip_text(facts), "hyper": gzip_text(hyper)}
    )


@pytest.fixture
def aws_env(aws, monkeypatch):
    for name, value in aws.env().items():
        monkeypatch.setenv(name, value)


def ship_spool(uri: str, start: multiprocessing.synchronize.Barrier) -> None:
    """One shipping process: its own client, the spool named by SWEEPLAKE_SPOOL."""
    lake = S3Lake.from_uri(uri)
    start.wait()
    lake.ship_pending()


def test_two_processes_shipping_one_spool_lose_and_duplicate_nothing(
    aws, bucket, tmp_path, aws_env, monkeypatch
):
    monkeypatch.setenv("SWEEPLAKE_SPOOL", str(tmp_path / "spool"))
    spool = Spool(tmp_path / "spool")
    uri = f"s3://{bucket}/shared"
    batches = [synthetic_batch(n) for n in range(16)]
    for batch in batches:
        spool.add(SpoolEntry(uri, batch))
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    shippers = [context.Process(target=ship_spool, args=(uri, start)) for _ in range(2)]
    for shipper in shippers:
        shipper.start()
    for shipper in shippers:
        shipper.join(120)

    assert [shipper.exitcode for shipper in shippers] == [0, 0]
    assert list((tmp_path / "spool").iterdir()) == []
    objects = lake_objects(aws.client(), bucket)
    expected = {f"shared/{b.fact_key}": b.fact for b in batches}
    expected.update({f"shared/{b.hyper_key}": b.hyper for b in batches})
    assert objects == expected


def test_a_spool_entry_is_whole_or_absent(tmp_path):
    spool = Spool(tmp_path)
    batch = synthetic_batch(1)
    spool.add(SpoolEntry("s3://a-lake", batch, "data/d.json", b"points\n"))
    (tmp_path / ".new-01B99-123").mkdir()  # a writer that died before its rename
    (tmp_path / ".new-01B98-123").mkdir()  # ... long ago
    os.utime(tmp_path / ".new-01B98-123", (0, 0))
    assert spool.pending("s3://a-lake") == [batch.batch_id]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".new-01B99-123", batch.batch_id]
    assert spool.pending("s3://another-lake") == []
    assert spool.load(batch.batch_id) == SpoolEntry(
        "s3://a-lake", batch, "data/d.json", b"points\n"
    )
    spool.remove(batch.batch_id)
    spool.remove(batch.batch_id)  # a second shipper finding it gone
    assert spool.load(batch.batch_id) is None
    assert spool.pending("s3://a-lake") == []


def test_an_entry_spooled_before_batches_had_more_objects_still_ships(tmp_path):
    """An instance upgraded with batches waiting: their manifests name no object list."""
    batch = synthetic_batch(2)
    folder = tmp_path / batch.batch_id
    folder.mkdir()
    (folder / "fact.json.gz").write_bytes(batch.fact)
    (folder / "hyper.json.gz").write_bytes(batch.hyper)
    manifest = {
        "lake": "s3://a-lake",
        "batch_id": batch.batch_id,
        "dt": batch.dt,
        "fact_key": batch.fact_key,
        "hyper_key": batch.hyper_key,
        "dataset_key": None,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert Spool(tmp_path).load(batch.batch_id) == SpoolEntry("s3://a-lake", batch)


def test_kms_key_when_set_else_aes256(aws, bucket, tmp_path, aws_env, monkeypatch):
    client = aws.client()
    S3Lake.from_uri(f"s3://{bucket}/plain").put("k", b"x")
    head = client.head_object(Bucket=bucket, Key="plain/k")
    assert head["ServerSideEncryption"] == "AES256"

    key_id = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    monkeypatch.setenv("SWEEPLAKE_KMS_KEY_ID", key_id)
    S3Lake.from_uri(f"s3://{bucket}/kms").put("k", b"x")
    head = client.head_object(Bucket=bucket, Key="kms/k")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_id


def test_keys_after_a_key_are_the_same_on_s3_and_on_disk(bucket, tmp_path, aws_env):
    keys = [
        "scores/dt=2026-01-05/01A.json.gz",
        "scores/dt=2026-01-06/01B.json.gz",
        "scores/dt=2026-01-06/01C.json.gz",
        "scores/dt=2026-01-07/01D.json.gz",
        "scores_daily/dt=2026-01-06/2026-01-06.parquet",
    ]
    lakes = [S3Lake.from_uri(f"s3://{bucket}/lake"), LocalLake(tmp_path / "lake")]
    for lake in lakes:
        for key in keys:
            lake.put(key, b"x")
    for lake in lakes:
        assert lake.keys("scores/") == keys[:4]
        assert lake.keys("scores/", after="scores/dt=2026-01-060") == keys[3:4]
        assert lake.keys("scores/", after="scores/dt=2026-01-06/01B.json.gz") == keys[2:4]
        assert lake.keys("scores/", after="scores/dt=2026-01-08") == []
