"""shell/runpipeline.sh as cron runs it: `env -i`, any working directory, one run at a time."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

SHELL = REPO / "shell"
EX_LOCKED = 75
WAIT_SECONDS = 120  # an upper bound for a busy machine, never a measured duration
PARAMS = '{"model": "svr", "gamma": 16.39, "c": 40.45, "epsilon": 0.1757}\n'


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A repository the script finds from its own path: a copy of it, the rest linked."""
    root = tmp_path / "repo"
    (root / "shell").mkdir(parents=True)
    shutil.copy2(SHELL / "runpipeline.sh", root / "shell" / "runpipeline.sh")
    for name in ("scripts", "sql", "data"):
        (root / name).symlink_to(REPO / name)
    (root / ".venv").symlink_to(Path(sys.prefix))
    return root


class Launcher:
    """Starts the script as cron would; whatever is still running at teardown is killed."""

    def __init__(self, checkout: Path) -> None:
        self.checkout = checkout
        self.started: list[subprocess.Popen] = []

    def start(self, *args: str, lock: Path | None = None) -> subprocess.Popen:
        """The script under an empty environment, from /, in its own process group."""
        env = ["env", "-i"] + ([f"SWEEPLAKE_LOCK={lock}"] if lock else [])
        process = subprocess.Popen(
            [*env, str(self.checkout / "shell" / "runpipeline.sh"), *args],
            cwd="/",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.started.append(process)
        return process

    def start_holding_lock(self, lake: Path, workdir: Path) -> tuple[subprocess.Popen, Path, Path]:
        """A run that holds its lock until the test writes its trials into the FIFO it reads."""
        fifo = workdir / "params.fifo"
        os.mkfifo(fifo)
        lock = workdir / "sweep.lock"
        holder = self.start("--lake", str(lake), "--workers", "1", "--params", str(fifo), lock=lock)
        wait_until_locked(lock, holder)
        return holder, fifo, lock

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


@pytest.fixture
def launcher(checkout: Path) -> Launcher:
    started = Launcher(checkout)
    yield started
    started.kill_all()


def batches(lake: Path) -> list[Path]:
    return sorted(lake.glob("hyper/dt=*/*.json.gz"))


def wait_until_locked(lock: Path, holder: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline and holder.poll() is None:
        if lock.exists():
            with open(lock) as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return
                fcntl.flock(handle, fcntl.LOCK_UN)
        time.sleep(0.05)
    raise AssertionError(f"the first run never held {lock}")


@pytest.mark.parametrize("script", sorted(SHELL.glob("*.sh")), ids=lambda p: p.name)
def test_shellcheck_passes(script: Path) -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    result = subprocess.run([shellcheck, script], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_a_run_under_env_i_writes_a_batch(launcher: Launcher, lake: Path) -> None:
    run = launcher.start("--lake", str(lake), "--trials", "3", "--workers", "1")
    out, err = run.communicate(timeout=WAIT_SECONDS)
    assert run.returncode == 0, err
    assert len(batches(lake)) == 1
    lines = err.splitlines()
    assert "runpipeline" in lines[0] and f"start: python -m sweeplake run --lake {lake}" in lines[0]
    assert lines[-1].endswith("end: exit status 0")
    assert (launcher.checkout / "results" / "runpipeline.lock").exists()


def test_the_job_exit_status_comes_back(launcher: Launcher, lake: Path) -> None:
    run = launcher.start("--lake", str(lake), "--trials", "0")
    _, err = run.communicate(timeout=WAIT_SECONDS)
    assert run.returncode == 2
    assert "--trials must be at least 1" in err and err.splitlines()[-1].endswith("status 2")
    assert not lake.exists()


def test_an_overlapping_start_exits_at_once_and_writes_nothing(
    launcher: Launcher, lake: Path, tmp_path: Path
) -> None:
    first, fifo, lock = launcher.start_holding_lock(lake, tmp_path)
    second = launcher.start("--lake", str(lake), "--trials", "2", lock=lock)
    _, err = second.communicate(timeout=WAIT_SECONDS)
    assert second.returncode == EX_LOCKED
    assert "another run holds the lock" in err and "start:" not in err
    assert batches(lake) == []

    fifo.write_text(PARAMS)
    _, err = first.communicate(timeout=WAIT_SECONDS)
    assert first.returncode == 0, err
    assert len(batches(lake)) == 1


def test_a_lock_left_by_a_killed_run_does_not_block(
    launcher: Launcher, lake: Path, tmp_path: Path
) -> None:
    holder, _, lock = launcher.start_holding_lock(lake, tmp_path)
    os.killpg(holder.pid, signal.SIGKILL)  # the script and the job it started
    holder.communicate(timeout=WAIT_SECONDS)
    assert lock.exists()

    run = launcher.start("--lake", str(lake), "--trials", "2", "--workers", "1", lock=lock)
    _, err = run.communicate(timeout=WAIT_SECONDS)
    assert run.returncode == 0, err
    assert len(batches(lake)) == 1
