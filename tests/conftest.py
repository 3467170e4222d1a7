"""Shared test helpers: the CLI run as a user runs it, in a subprocess; S3 on loopback."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from awsserver import AwsServer
from tcpproxy import Proxy

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The readers' caches, out of the repository: each test's lake has a path, so a cache, of its own.
CACHE = Path(tempfile.mkdtemp(prefix="sweeplake-test-cache-"))
# Gone with the process: each xdist worker has its own, and so does each import of this module
# (pytest's `conftest` and the tests' `tests.conftest`).
atexit.register(shutil.rmtree, CACHE, ignore_errors=True)


def sweeplake(
    *args: str, env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`python -m sweeplake ARGS` from the repository, as a user would type it."""
    return subprocess.run(
        [sys.executable, "-m", "sweeplake", *args],
        cwd=REPO,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_env(env: dict | None = None) -> dict[str, str]:
    """The environment `sweeplake` gets: the test's, without its own settings, plus `env`."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}
    full_env["SWEEPLAKE_CACHE"] = str(CACHE)
    full_env.update(env or {})
    return full_env


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture(scope="session")
def aws(tmp_path_factory: pytest.TempPathFactory) -> AwsServer:
    """One moto server on loopback for the whole session; see tests/awsserver.py."""
    server = AwsServer(tmp_path_factory.mktemp("aws")).start()
    yield server
    server.stop()


@pytest.fixture
def proxy(aws) -> Proxy:
    """A proxy in front of the moto server; see tests/tcpproxy.py."""
    relay = Proxy(aws.endpoint)
    yield relay
    relay.close()


@pytest.fixture
def bucket(aws) -> str:
    return aws.new_bucket()


@pytest.fixture
def env(aws, proxy, tmp_path) -> dict[str, str]:
    """The CLI's environment: S3 through the proxy, spool and cache in this test's folder."""
    return {
        **aws.env(proxy.endpoint_url),
        "SWEEPLAKE_SPOOL": str(tmp_path / "spool"),
        "SWEEPLAKE_CACHE": str(tmp_path / "cache"),
    }


@pytest.fixture
def s3_settings(aws, tmp_path, monkeypatch) -> dict[str, str]:
    """S3 (the moto server, no proxy) for this process and the Spark tasks it starts, as the
    environment: the settings, also for a CLI subprocess."""
    settings = {
        **aws.env(aws.endpoint),
        "SWEEPLAKE_SPOOL": str(tmp_path / "spool"),
        "SWEEPLAKE_CACHE": str(tmp_path / "cache"),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return settings


@pytest.fixture(scope="session")
def spark():
    """One Spark for the whole session, for real, in local mode on two cores: its JVM takes
    seconds to start. local[2,4]: a task may fail up to 4 times, as on a cluster, so a task whose
    Python worker is killed is retried. Workers are not reused between tasks, so a Python worker
    alive is a task running (the kill test relies on it)."""
    from pyspark.sql import SparkSession  # a test requirement: missing, this fails loudly

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2,4]")
        .appName("sweeplake-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.worker.reuse", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
