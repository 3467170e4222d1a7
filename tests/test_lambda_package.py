"""The deployment package (make lambda-package) runs a batch as on Lambda: a fresh python3.12
with nothing on its path but the unzipped package and the standard library (-I -S), the whole
file system read-only but one temporary folder (a mount namespace), the lake on moto S3."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from test_lambda import SETTINGS, batch_ids, scheduled
from test_s3_lake import assert_each_record_once, lake_objects

from bench.lambda_start import build_package, packaged_command, unpack

LIMIT_BYTES = 250 * 10**6


@pytest.fixture(scope="module")
def package() -> Path:
    """The package as make builds it (make rebuilds it when a source is newer)."""
    return build_package()


def test_the_package_fits_lambda_and_holds_no_test_suite(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert sum(i.file_size for i in infos) <= LIMIT_BYTES
    assert "sweeplake/runners/lambda_handler.py" in names
    assert "sweeplake/data/diabetes.json" in names
    assert not any(re.search(r"(^|/)tests/", n) for n in names)
    assert not any(n.startswith(("duckdb", "optuna", "matplotlib", "fastapi")) for n in names)
    assert any(n.endswith(".cpython-312.pyc") for n in names)  # compiled ahead for 3.12


def test_the_handler_runs_a_batch_from_the_package_alone_read_only(
    package: Path, aws, bucket, tmp_path: Path
) -> None:
    task = tmp_path / "task"  # /var/task
    unpack(package, task)
    writable = tmp_path / "tmp"  # Lambda's /tmp
    writable.mkdir()
    invocations = writable / "invocations.json"
    event = scheduled("1d1d-package")
    invocations.write_text(json.dumps([{"event": event, "request_id": "r"}] * 2))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(task),
        "TMPDIR": str(writable),
        **aws.env(),
        "SWEEPLAKE_LAKE": f"s3://{bucket}/lake",
        **SETTINGS,
    }
    done = subprocess.run(
        packaged_command(task, writable, invocations),
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == 2 and all("result" in a for a in answers), done.stdout + done.stderr
    assert answers[0] == answers[1]
    objects = lake_objects(aws.client(), bucket)
    assert batch_ids(objects) == [f"{answers[0]['result']['batch_id']}.json.gz"]
    assert_each_record_once(objects, 3)
