"""Eight workers at once, as eight instances would be, writing to one lake."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from test_s3_lake import assert_each_record_once, lake_objects

from tests.conftest import REPO, sweeplake
from tests.lakeread import parse_csv, records

REPORT = re.compile(r"batch (\w+): (\d+) trials \((\d+) failed\)")


def eight_workers(lake: str, env: dict | None = None, rounds: int = 2) -> list[tuple[str, int]]:
    """Eight processes each run `rounds` batches back to back; returns what each reported."""
    script = (
        "import subprocess, sys\n"
        f"for seed in range({rounds}):\n"
        "    args = ['run', '--lake', sys.argv[1], '--trials', '4', '--workers', '1']\n"
        "    r = subprocess.run([sys.executable, '-m', 'sweeplake', *args],\n"
        "                       capture_output=True, text=True)\n"
        "    sys.stderr.write(r.stderr)\n"
        "    sys.exit(r.returncode) if r.returncode else None\n"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, lake],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    reports = []
    for worker in workers:
        _, stderr = worker.communicate(timeout=600)
        assert worker.returncode == 0, stderr
        reports += [(m[1], int(m[2])) for m in REPORT.finditer(stderr)]
    assert len(reports) == 8 * rounds
    return reports


def test_eight_workers_on_one_local_lake(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    reports = eight_workers(str(lake))
    hyper = records(lake, "hyper")
    ids = [h["hyper_id"] for h in hyper]
    assert len(ids) == len(set(ids)) == sum(n for _, n in reports)
    assert {h["batch_id"] for h in hyper} == {b for b, _ in reports}
    facts: dict[str, set[int]] = {}
    for fact in records(lake, "fact"):
        assert fact["point_id"] not in facts.setdefault(fact["hyper_id"], set())
        facts[fact["hyper_id"]].add(fact["point_id"])
    assert all(facts[i] == set(range(442)) for i in ids)
    result = sweeplake("rank", "--lake", str(lake), "--format", "csv", "--limit", "100000")
    assert len(parse_csv(result.stdout)) == len(ids)


def test_eight_workers_on_one_s3_lake(aws, bucket, tmp_path: Path) -> None:
    settings = {
        **os.environ,
        **aws.env(),
        "SWEEPLAKE_SPOOL": str(tmp_path / "spool"),
        "SWEEPLAKE_CACHE": str(tmp_path / "cache"),
    }
    lake = f"s3://{bucket}/sweeps"
    reports = eight_workers(lake, settings, rounds=2)
    objects = lake_objects(aws.client(), bucket)
    assert_each_record_once(objects, trials=sum(n for _, n in reports))
    assert {k.split("/")[-1].split(".")[0] for k in objects if "/hyper/" in k} == {
        b for b, _ in reports
    }
    assert not [p for p in (tmp_path / "spool").iterdir() if not p.name.startswith(".")]
    ranked = sweeplake("rank", "--lake", lake, "--format", "csv", "--limit", "100000", env=settings)
    assert len(parse_csv(ranked.stdout)) == sum(n for _, n in reports)
