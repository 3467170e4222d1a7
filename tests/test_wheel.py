"""The package as a user installs it: the wheel, not the checkout, in a fresh virtual
environment, run from a folder outside the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sweeplake import __version__
from tests.conftest import REPO


def run(*command: str | Path, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel built from this checkout and the locked dependencies."""
    root = tmp_path_factory.mktemp("wheel")
    run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", root / "dist", REPO, cwd=root
    )
    (wheel,) = (root / "dist").glob("sweeplake-*.whl")
    run(sys.executable, "-m", "venv", root / "venv", cwd=root)
    pip = [root / "venv" / "bin" / "pip", "install", "-q", "--disable-pip-version-check"]
    run(*pip, "-r", REPO / "requirements.txt", wheel, cwd=root)
    return root / "venv" / "bin"


def clean_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}
    env.pop("PYTHONPATH", None)
    return {**env, "SWEEPLAKE_CACHE": str(home / "cache")}


def test_the_wheel_runs_a_batch_and_ranks_it_outside_the_repository(
    installed: Path, tmp_path: Path
) -> None:
    env = clean_env(tmp_path)
    assert run(installed / "sweeplake", "--version", cwd=tmp_path, env=env).strip() == (
        f"sweeplake {__version__}"
    )
    run(installed / "sweeplake", "run", "--trials", "4", "--seed", "3", cwd=tmp_path, env=env)
    # The default lake of an installed package is the folder the command runs from.
    assert list((tmp_path / "results" / "lake" / "hyper").glob("dt=*/*.json.gz"))
    ranked = run(installed / "sweeplake", "rank", "--format", "json", cwd=tmp_path, env=env)
    assert len(json.loads(ranked)) == 4
    # The dataset and the SQL came from inside the installed package, not from the checkout.
    where = run(
        installed / "python",
        "-c",
        "import sweeplake.paths as p; print(p.SQL_DIR); print(p.DEFAULT_DATASET)",
        cwd=tmp_path,
        env=env,
    )
    assert str(REPO) not in where and "site-packages" in where
    done = subprocess.run(
        [installed / "python", "-m", "sweeplake", "--help"],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
    )
    assert done.returncode == 0 and "import-data" in done.stdout


def test_the_wheel_installs_no_package_called_scripts(installed: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [installed / "python", "-c", "import scripts"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "No module named 'scripts'" in done.stderr
