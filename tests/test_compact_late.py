"""`compact` loses no trial: a batch that reaches a day after it was compacted gets into that
day's Parquet object, and a scores object it cannot read is scored again from its batch's facts
(or the day is refused, named), never left out."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import duckdb
import pytest
from awsserver import AwsServer
from conftest import sweeplake
from lakeread import object_records

from sweeplake.lake import Batch
from sweeplake.lake.spool import Spool, SpoolEntry

OUTPUT = "s3://sweep-results/athena"
DAY, LATER_DAY = "2026-01-05", "2026-01-06"
PARTS = ("fact", "oof", "hyper", "scores")


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Two real batches, as the job wrote them into a local lake: by part, their bodies."""
    lake = tmp_path_factory.mktemp("source") / "lake"
    for seed in ("1", "2"):
        run = ("run", "--lake", str(lake), "--model", "svr", "--trials", "2", "--seed", seed)
        assert sweeplake(*run, "--workers", "1").returncode == 0
    found = []
    for hyper in sorted(lake.glob("hyper/dt=*/*.json.gz")):
        batch = {"id": hyper.name.removesuffix(".json.gz")}
        for part in PARTS:
            batch[part] = (lake / part / hyper.parent.name / hyper.name).read_bytes()
        batch["data"] = (lake / "data" / "diabetes.json").read_bytes()
        batch["scores_lines"] = object_records(lake / "scores" / hyper.parent.name / hyper.name)
        found.append(batch)
    return found


class Compacting:
    def __init__(self, aws: AwsServer, tmp_path: Path) -> None:
        self.aws, self.client = aws, aws.client()
        self.bucket = aws.new_bucket()
        self.lake = f"s3://{self.bucket}/lake"
        self.workgroup = f"wg-{uuid.uuid4().hex[:12]}"
        aws.client("athena").create_work_group(Name=self.workgroup, Configuration={})
        self.env = {
            **aws.env(),
            "SWEEPLAKE_CACHE": str(tmp_path / "cache"),
            "SWEEPLAKE_SPOOL": str(tmp_path / "spool"),
        }
        self.scratch = tmp_path

    def put(self, batch: dict, day: str, **replaced: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key="lake/data/diabetes.json", Body=batch["data"]
        )
        for part in PARTS:
            key = f"lake/{part}/dt={day}/{batch['id']}.json.gz"
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=replaced.get(part, batch[part])
            )

    def compact(self):
        return sweeplake(
            "compact", "--lake", self.lake, "--workgroup", self.workgroup, "--output", OUTPUT,
            env=self.env,
        )  # fmt: skip

    def day_rows(self, day: str) -> dict[str, dict]:
        key = f"lake/scores_daily/dt={day}/{day}.parquet"
        local = self.scratch / f"{day}.parquet"
        local.write_bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        held = duckdb.connect().read_parquet(str(local))
        return {row[0]: dict(zip(held.columns, row, strict=True)) for row in held.fetchall()}

    def days(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix="lake/scores_daily/")
        return sorted(item["Key"].split("/")[2] for item in listed.get("Contents", ()))


def assert_rows_are_the_jobs(rows: dict[str, dict], batches: list[dict]) -> None:
    """Every trial of these batches once, with the scores the job computed when it ran."""
    expected = {line["hyper_id"]: line for batch in batches for line in batch["scores_lines"]}
    assert rows.keys() == expected.keys()
    for hyper_id, row in rows.items():
        for column, value in row.items():
            theirs = expected[hyper_id][column]
            if isinstance(value, float) and theirs is not None:
                assert math.isclose(value, theirs, rel_tol=1e-12, abs_tol=1e-12), column
            else:
                assert value == theirs, column


def test_a_batch_shipped_after_its_day_was_compacted_reaches_the_days_parquet(
    aws: AwsServer, tmp_path: Path, batches: list[dict]
) -> None:
    lake = Compacting(aws, tmp_path)
    first, late = batches
    lake.put(first, DAY)
    assert lake.compact().returncode == 0
    assert_rows_are_the_jobs(lake.day_rows(DAY), [first])

    # The late batch waited in the spool through an outage; it ships after DAY was compacted.
    objects = {part: late[part] for part in PARTS}
    Spool(Path(lake.env["SWEEPLAKE_SPOOL"])).add(
        SpoolEntry(lake.lake, Batch(late["id"], DAY, objects))
    )
    shipped = sweeplake("spool", "ship", env=lake.env)
    assert shipped.returncode == 0 and "1 batch(es) shipped" in shipped.stderr, shipped.stderr

    done = lake.compact()
    assert done.returncode == 0, done.stderr
    assert_rows_are_the_jobs(lake.day_rows(DAY), [first, late])
    aws.reset_recording()
    assert lake.compact().returncode == 0  # done once: nothing to redo
    assert not [r for r in aws.recorded() if r.method == "PUT"]


def test_an_unreadable_scores_object_is_scored_from_its_facts_or_its_day_refused(
    aws: AwsServer, tmp_path: Path, batches: list[dict]
) -> None:
    lake = Compacting(aws, tmp_path)
    damaged, beyond_repair = batches
    lake.put(damaged, DAY, scores=b"not gzip")
    lake.put(beyond_repair, LATER_DAY, scores=b"not gzip", fact=damaged["fact"][:100])

    done = lake.compact()
    assert done.returncode == 1
    assert (
        f"scores object scores/dt={DAY}/{damaged['id']}.json.gz unreadable: scored" in done.stderr
    )
    assert_rows_are_the_jobs(lake.day_rows(DAY), [damaged])
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last.startswith(f"sweeplake: compact stops at {LATER_DAY}") and beyond_repair["id"] in last
    )
    assert "its fact object is unreadable" in last
    assert lake.days() == [f"dt={DAY}"]  # the refused day is not compacted, nor left out

    lake.put(beyond_repair, LATER_DAY, scores=b"not gzip")  # its facts repaired
    done = lake.compact()
    assert done.returncode == 0, done.stderr
    assert_rows_are_the_jobs(lake.day_rows(LATER_DAY), [beyond_repair])
