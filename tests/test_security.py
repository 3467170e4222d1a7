"""Secrets stay out of output, every object is encrypted at rest, user values never become SQL."""

from __future__ import annotations

from pathlib import Path

from awsserver import SECRET_KEY

from tests.conftest import sweeplake
from tests.lakeread import parse_csv


def test_every_put_the_lake_sends_asks_for_server_side_encryption(aws, bucket, tmp_path) -> None:
    settings = {**aws.env(), "SWEEPLAKE_SPOOL": str(tmp_path / "spool")}
    aws.reset_recording()
    done = sweeplake(
        "run", "--lake", f"s3://{bucket}/p", "--trials", "2", "--workers", "1", env=settings
    )
    assert done.returncode == 0, done.stderr
    puts = [r for r in aws.recorded() if r.method == "PUT" and f"/{bucket}/" in r.url]
    # the pending trials (before the fits), the dataset, then the fact, oof, hyper and scores
    # objects, then the batch's timings
    assert len(puts) == 7
    assert "/p/pending/" in puts[0].url
    for put in puts:
        headers = {k.lower(): v for k, v in put.headers.items()}
        assert headers.get("x-amz-server-side-encryption") == "AES256", put.url


def test_no_secret_in_any_output_when_things_go_wrong(aws, tmp_path: Path) -> None:
    settings = {**aws.env(), "SWEEPLAKE_SPOOL": str(tmp_path / "spool")}
    runs = [
        sweeplake(
            "run",
            "--lake",
            "s3://no-such-bucket-here/p",
            "--trials",
            "1",
            "--workers",
            "1",
            env=settings,
        ),
        sweeplake("rank", "--lake", "s3://no-such-bucket-here/p", env=settings),
        sweeplake(
            "rank",
            "--engine",
            "athena",
            "--workgroup",
            "nope",
            "--output",
            "s3://no-such-bucket-here/out",
            env=settings,
        ),
    ]
    for done, status in zip(runs, (3, 1, 1), strict=True):  # 3: refused before any fit
        assert done.returncode == status, done.stderr
        assert SECRET_KEY not in done.stdout + done.stderr
        assert settings["AWS_ACCESS_KEY_ID"] not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr


def test_a_lake_path_that_looks_like_sql_is_only_a_path(tmp_path: Path) -> None:
    lake = tmp_path / "it's'; DROP TABLE predict; --"
    done = sweeplake("run", "--lake", str(lake), "--trials", "2", "--workers", "1")
    assert done.returncode == 0, done.stderr
    ranked = sweeplake("rank", "--lake", str(lake), "--format", "csv")
    assert ranked.returncode == 0, ranked.stderr
    assert len(parse_csv(ranked.stdout)) == 2


def test_a_model_name_that_looks_like_sql_is_refused(tmp_path: Path) -> None:
    done = sweeplake("run", "--lake", str(tmp_path / "lake"), "--model", "svr' OR '1'='1")
    assert done.returncode == 2
    assert "unknown model" in done.stderr
