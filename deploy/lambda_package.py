"""Build the Lambda deployment package: a zip of sweeplake and what one batch needs.

A zip, not a container image: what the run path imports (scikit-learn, SciPy, NumPy, boto3)
fits in Lambda's 250 MB unzipped limit once their test suites and botocore's models of the
services sweeplake never calls are left out; a zip starts faster and needs no registry.

The Lambda runtime is python3.12 (Amazon Linux 2023): the pinned scikit-learn, SciPy and
NumPy wheels need glibc 2.27 or later, which python3.11's Amazon Linux 2 lacks. The modules
are compiled ahead (unchecked-hash .pyc files): /var/task is read-only, so Python could not
cache them and would compile every module it imports at each cold start.

Usage: python deploy/lambda_package.py OUT.zip [--python python3.12]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "requirements-lambda.txt"
PYTHON_VERSION = "3.12"
# Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels and the
# older manylinux2014 (glibc 2.17) ones, each named, since pip takes --platform tags as given.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
LIMIT_BYTES = 250 * 10**6  # Lambda's limit on a function's unzipped code and layers
# botocore's service models the handler's clients need; the rest (~28 MB) are never loaded.
BOTOCORE_SERVICES = {"s3", "lambda"}
DROPPED_FOLDERS = {"tests", "__pycache__"}
DROPPED_SUFFIXES = {".pyx", ".pxd", ".pxi", ".c", ".cpp", ".h", ".pyi"}
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # the same files give the same zip
# zlib's default level: level 9 took 2.7 times as long for a zip 0.7% smaller (67.4 MB, 67.8 MB).
COMPRESS_LEVEL = 6


def build(out: Path, python: str) -> dict[str, int]:
    staging = out.with_suffix("")
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--no-deps", "--only-binary=:all:", "--implementation", "cp",
            "--python-version", PYTHON_VERSION,
            *(flag for platform in PLATFORMS for flag in ("--platform", platform)),
            "--target", str(staging), "-r", str(REQUIREMENTS),
        ],
        check=True,
    )  # fmt: skip
    shutil.copytree(
        REPO / "scripts" / "sweeplake",
        staging / "sweeplake",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    trim(staging)
    compiled = subprocess.run(
        [python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if compiled != PYTHON_VERSION:
        raise SystemExit(f"{python} is Python {compiled}: the runtime's {PYTHON_VERSION} is needed")
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
        + [str(staging)],
        check=True,
    )
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    unzipped = sum(p.stat().st_size for p in files)
    if unzipped > LIMIT_BYTES:
        raise SystemExit(f"the package is {unzipped / 1e6:.1f} MB unzipped, past Lambda's 250 MB")
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(staging).as_posix(), FIXED_TIME)
            info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=COMPRESS_LEVEL)
    tmp.replace(out)
    return {"files": len(files), "unzipped": unzipped, "zipped": out.stat().st_size}


def trim(staging: Path) -> None:
    """Leave out test suites, build sources and unused botocore service models."""
    for folder in sorted(staging.rglob("*"), reverse=True):
        if folder.is_dir() and folder.name in DROPPED_FOLDERS:
            shutil.rmtree(folder)
    for path in list(staging.rglob("*")):
        if path.is_file() and path.suffix in DROPPED_SUFFIXES:
            path.unlink()
    for service in (staging / "botocore" / "data").iterdir():
        if service.is_dir() and service.name not in BOTOCORE_SERVICES:
            shutil.rmtree(service)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--python", default=f"python{PYTHON_VERSION}")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sizes = build(args.out, args.python)
    print(
        f"{args.out}: {sizes['files']} files, {sizes['unzipped'] / 1e6:.1f} MB unzipped "
        f"(Lambda's limit: 250 MB), {sizes['zipped'] / 1e6:.1f} MB zipped"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
