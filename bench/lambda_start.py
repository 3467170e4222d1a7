"""make bench's Lambda section: a cold start, from a fresh interpreter to a 40-trial batch
written, run as Lambda runs the package (`python -m bench.lambda_start` runs this alone).

The package (make lambda-package) is unzipped into a folder that, with the whole file system
but one temporary folder, is read-only (a mount namespace); python3.12 starts with nothing on
its path but that folder and the standard library (-I -S), imports the handler and calls it
once with a scheduled event; the lake is a moto S3 server on loopback. Timed from spawning
the interpreter to its exit, after the handler returned with the batch in the lake.

The target is on what a cold start adds to the fits: the whole time less the batch's own
fitting phase (the interpreter, the imports, the lake's answers, encoding, writing, exit).
The fits themselves depend on the models drawn and the machine, not on the runner.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "build" / "sweeplake-lambda.zip"
INVOKE = REPO / "tests" / "lambda_invoke.py"
TARGET_SECONDS = 5.0  # a cold start's cost beside the fits
# Everything read-only but the temporary folder ($1), then the command: Lambda's /var/task.
READ_ONLY = """
set -e
mount --bind "$1" "$1"
mount -o remount,ro,bind /
if mountpoint -q /dev/shm; then mount -o remount,ro,bind /dev/shm; fi
shift
exec "$@"
"""


def build_package() -> Path:
    """make lambda-package (a no-op when the zip is newer than its sources)."""
    subprocess.run(["make", "-s", "lambda-package"], cwd=REPO, check=True)
    return PACKAGE


def lambda_python() -> str:
    """The interpreter make compiled the package with (LAMBDA_PYTHON)."""
    done = subprocess.run(
        ["make", "-s", "--eval", "show:\n\t@echo $(LAMBDA_PYTHON)", "show"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def unpack(package: Path, task: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        archive.extractall(task)


def packaged_command(task: Path, writable: Path, invocations: Path) -> list[str]:
    """The handler invoked from the unzipped package alone, read-only but `writable`."""
    code = (
        f"import sys; sys.path.insert(0, {str(task)!r}); "
        f"sys.argv = ['invoke', {str(invocations)!r}]; "
        f"exec(compile(open({str(INVOKE)!r}).read(), 'lambda_invoke.py', 'exec'))"
    )
    return ["unshare", "-m", "sh", "-c", READ_ONLY, "sh", str(writable)] + [
        lambda_python(),
        "-I",
        "-S",
        "-c",
        code,
    ]


@dataclass(frozen=True)
class ColdStart:
    seconds: float  # spawn to exit, outside the process
    timings: dict  # the batch's own timings record (startup, fitting, write, cold)


def cold_starts(aws, work: Path, starts: int, trials: int = 40) -> list[ColdStart]:
    """`starts` cold starts, each a fresh interpreter and a new scheduled event."""
    task, writable = work / "task", work / "tmp"
    unpack(build_package(), task)
    writable.mkdir()
    bucket = aws.new_bucket()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(task),
        "TMPDIR": str(writable),
        **aws.env(),
        "SWEEPLAKE_LAKE": f"s3://{bucket}/lake",
        "SWEEPLAKE_TRIALS": str(trials),
        "SWEEPLAKE_BUDGET": "600",  # the whole batch, however slow the machine
    }
    measured = []
    for n in range(starts):
        invocations = writable / f"invocations-{n}.json"
        event = {"id": f"bench-cold-start-{n}", "time": "2026-01-01T00:00:00Z"}
        invocations.write_text(json.dumps([{"event": event, "request_id": f"r{n}"}]))
        began = time.monotonic()
        done = subprocess.run(
            packaged_command(task, writable, invocations),
            cwd=task,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - began
        (answer,) = [json.loads(line) for line in done.stdout.splitlines()]
        if done.returncode != 0 or "result" not in answer:
            raise SystemExit(f"cold start {n} failed: {done.stdout}{done.stderr}")
        result = answer["result"]
        if result["trials"] != trials or result["failed"]:
            raise SystemExit(f"cold start {n}: {result}")
        key = f"lake/timings/dt=2026-01-01/{result['batch_id']}.json.gz"
        body = aws.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        measured.append(ColdStart(seconds, json.loads(gzip.decompress(body))))
    return measured


def summary(starts: list[ColdStart]) -> tuple[str, float]:
    """The section's lines and its figure: the median time beside the fits, in seconds."""
    median = statistics.median(s.seconds for s in starts)
    beside = statistics.median(s.seconds - s.timings["fitting_ms"] / 1000 for s in starts)
    package = PACKAGE.stat().st_size
    with zipfile.ZipFile(PACKAGE) as archive:
        unzipped = sum(i.file_size for i in archive.infolist())
    phases = ("startup", "prepare", "fitting", "encode", "write")
    lines = [
        f"Lambda package {PACKAGE.name}: {unzipped / 1e6:.1f} MB unzipped (limit 250 MB), "
        f"{package / 1e6:.1f} MB zipped",
        f"cold start, fresh interpreter to a 40-trial batch in moto S3, {len(starts)} starts:",
        "  seconds " + " ".join(f"{s.seconds:.2f}" for s in starts) + f"; median {median:.2f}",
        "  the batches' own phases (median ms): "
        + ", ".join(
            f"{p} {statistics.median(s.timings[f'{p}_ms'] for s in starts):,.0f}" for p in phases
        ),
        "  cold as recorded: " + ", ".join(str(s.timings["cold"]) for s in starts),
        f"  beside the fits (whole time less the fitting phase), median: {beside:.2f} s",
    ]
    return "\n".join(lines), beside


def measure(work: Path, starts: int) -> tuple[str, float]:
    """The section, against a moto server of its own: its lines and its figure."""
    sys.path.insert(0, str(REPO / "tests"))
    from awsserver import AwsServer

    work.mkdir(parents=True, exist_ok=True)
    aws = AwsServer(work).start()
    try:
        return summary(cold_starts(aws, work, starts))
    finally:
        aws.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3, help="cold starts, median counts")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sweeplake-bench-lambda-") as scratch:
        text, beside = measure(Path(scratch), starts=args.starts)
    ok = beside <= TARGET_SECONDS
    print(text)
    print(f"Lambda cold start beside the fits: {beside:.2f} s <= {TARGET_SECONDS:.0f} s:", end="")
    print(" PASS" if ok else " FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
