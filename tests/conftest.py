"""Shared test helpers: the CLI run as a user runs it, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def sweeplake(
    *args: str, env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`python -m scripts ARGS` from the repository, as a user would type it."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "scripts", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on a free loopback port for the whole session (see tests/s3server.py)."""
    from s3server import start_moto

    server, endpoint = start_moto()
    yield endpoint
    server.stop()
