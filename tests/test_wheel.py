"""The package as a user installs it: the wheel, not the checkout, in a fresh virtual
environment, run from a folder outside the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
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
    """A fresh venv holding the wheel built from this checkout, beside the locked dependencies.

    The dependencies are the ones `make` installed from requirements.txt: the venv reads them
    through a .pth line instead of installing 600 MB of them again, and `pip check` proves the
    wheel's declared ranges hold for the lock. Nothing of the checkout is on its path: the
    editable install's finder is a .pth file of that site folder, which a .pth line never runs.
    """
    root = tmp_path_factory.mktemp("wheel")
    run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", root / "dist", REPO, cwd=root
    )
    (wheel,) = (root / "dist").glob("sweeplake-*.whl")
    run(sys.executable, "-m", "venv", root / "venv", cwd=root)
    (site,) = (root / "venv" / "lib").glob("python*/site-packages")
    locked = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    pip = [root / "venv" / "bin" / "pip", "--disable-pip-version-check"]
    # The wheel first: once the lock's folder is on the path, pip would find the checkout's
    # editable sweeplake there and call the wheel installed already.
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run(*pip, "install", "-q", "--no-deps", wheel, cwd=root, env=bare)
    (site / "locked_dependencies.pth").write_text("".join(f"{path}\n" for path in locked))
    checked = subprocess.run(
        [*map(str, pip), "check"], cwd=root, env=bare, capture_output=True, text=True, timeout=300
    )
    assert "sweeplake" not in checked.stdout, checked.stdout
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
    assert all(line.startswith(str(installed.parent)) for line in where.splitlines()), where
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
