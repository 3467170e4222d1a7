"""The HTTP API keeps its own contract: schemathesis, every check and every phase, against the
OpenAPI document that `sweeplake serve` serves finds nothing (every answer declared, Allow on
405, no server error, bad input refused and good input accepted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import sweeplake
from servers import Served

# Enough cases to reach every answer the API gives; few enough for a quick `make test`.
MAX_EXAMPLES = "25"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    lake = tmp_path_factory.mktemp("contract") / "lake"
    env = {"SWEEPLAKE_CACHE": str(tmp_path_factory.mktemp("cache"))}
    run = ("run", "--lake", str(lake), "--model", "svr", "--trials", "1", "--seed", "3")
    assert sweeplake(*run, "--workers", "1").returncode == 0
    done = sweeplake("promote", "--lake", str(lake), env=env)
    assert done.returncode == 0, done.stderr
    server = Served("--lake", str(lake), env=env)
    yield server
    server.close()


def test_schemathesis_finds_nothing_in_the_served_openapi_document(
    served: Served, tmp_path: Path
) -> None:
    checked = subprocess.run(
        [
            str(Path(sys.executable).parent / "st"), "run", f"{served.url}/openapi.json",
            "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
            "--max-examples", MAX_EXAMPLES, "--seed", "1", "--generation-database", "none",
            "--no-color", "--workers", "1",
        ],
        cwd=tmp_path,  # its reports, if any, out of the repository
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout[-6000:] + checked.stderr[-2000:]
    assert "No issues found" in checked.stdout
    assert "Selected: 4/4" in checked.stdout and "Tested: 4" in checked.stdout
    assert served.alive()
