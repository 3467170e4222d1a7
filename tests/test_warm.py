"""`run --warm`: a fork of a warm process runs what a cold start runs, and every way it can end
(bad input, a signal, its client killed, the warm process gone) ends as a cold start would."""

from __future__ import annotations

import gzip
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env, sweeplake
from tests.lakeread import records
from tests.processes import children, read_until, wait_for, wait_gone


class Warm:
    """A warm process started as `sweeplake warm` in a runtime folder of the test's own."""

    def __init__(self, runtime: Path) -> None:
        self.runtime = runtime  # short: a socket's path has at most 107 bytes
        self.env = {"XDG_RUNTIME_DIR": str(self.runtime)}
        self.process: subprocess.Popen | None = None

    def start(self) -> Warm:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sweeplake", "warm", "--idle", "300"],
            cwd=REPO,
            env=cli_env(self.env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = read_until(self.process.stderr, "serves")
        assert "serves" in lines[-1], "".join(lines)[:3000]
        return self

    def pids(self) -> list[int]:
        """The live warm processes' pids, from their lock files: this one's, and any a start
        under other limits or another environment left."""
        texts = [lock.read_text().strip() for lock in self.runtime.glob("sweeplake-warm-*/*.lock")]
        return [int(t) for t in texts if t and Path(f"/proc/{t}").exists()]

    def run(
        self, *args: str, ignoring: tuple[signal.Signals, ...] = (), files: int | None = None
    ) -> subprocess.Popen:
        """`run --warm` started with the signals in `ignoring` ignored and the others it forwards
        at their defaults, whatever this process has: a shell's background job (this suite
        started with `&`) hands its children SIGINT ignored, `nohup` SIGHUP. With `files`,
        under `ulimit -n FILES` (the soft limit)."""
        command = [sys.executable, "-m", "sweeplake", "run", "--warm", *args]
        dispositions = " ".join(
            f"signal.signal({int(s)}, signal.{'SIG_IGN' if s in ignoring else 'SIG_DFL'});"
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        )
        if files is not None:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            dispositions += f" resource.setrlimit(resource.RLIMIT_NOFILE, ({files}, {hard}));"
        starter = (
            f"import os, resource, signal, sys; {dispositions} "
            f"os.execv(sys.executable, {command!r})"
        )
        return subprocess.Popen(
            [sys.executable, "-c", starter],
            cwd=REPO,
            env=cli_env(self.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> None:
        pids = self.pids()
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        assert wait_gone(pids) == []
        if self.process is not None:
            self.process.wait()


@pytest.fixture
def warm() -> Iterator[Warm]:
    with tempfile.TemporaryDirectory(prefix="sweeplake-") as runtime:
        server = Warm(Path(runtime))
        yield server
        server.stop()


def timings(lake: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(lake.glob("timings/dt=*/*.json.gz"))
        for line in gzip.decompress(path.read_bytes()).splitlines()
    ]


def starts(lake: Path) -> list[bool | None]:
    """Each batch's `cold`, oldest first."""
    return [t["cold"] for t in sorted(timings(lake), key=lambda t: t["batch_id"])]


def finish(process: subprocess.Popen) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


def test_a_warm_run_is_a_fork_that_writes_what_a_cold_run_writes(warm, tmp_path) -> None:
    flags = ["--model", "svr", "--trials", "12", "--seed", "7", "--workers", "2"]
    cold = sweeplake("run", "--lake", str(tmp_path / "cold"), *flags)
    assert cold.returncode == 0, cold.stderr
    warm.start()
    run = warm.run("--lake", str(tmp_path / "warm"), *flags)
    code, stderr = finish(run)
    assert code == 0, stderr
    assert "12 trials (0 failed)" in stderr
    for part in ("hyper", "scores"):
        got = {r["hyper_id"]: r for r in records(tmp_path / "warm", part)}
        expected = {r["hyper_id"]: r for r in records(tmp_path / "cold", part)}
        assert len(got) == len(expected) == 12

        def content(rows: dict) -> list:
            drop = {"hyper_id", "batch_id", "created_at", "dt", "fit_ms", "predict_ms", "cv_ms"}
            return sorted(
                json.dumps({k: v for k, v in r.items() if k not in drop}, sort_keys=True)
                for r in rows.values()
            )

        assert content(got) == content(expected)
    # The batch's own record of its start: a fork of the warm process, not a cold start.
    assert [t["cold"] for t in timings(tmp_path / "warm")] == [False]
    assert [t["cold"] for t in timings(tmp_path / "cold")] == [None]


def test_bad_input_through_a_warm_process_is_one_line_and_exit_2(warm, tmp_path) -> None:
    warm.start()
    code, stderr = finish(warm.run("--lake", str(tmp_path / "lake"), "--trials", "0"))
    assert code == 2
    assert stderr.splitlines() == ["sweeplake: error: --trials must be at least 1, got 0"]
    assert not (tmp_path / "lake").exists()


def test_a_start_without_a_warm_process_runs_cold_and_leaves_one(warm, tmp_path) -> None:
    lake = tmp_path / "lake"
    code, stderr = finish(warm.run("--lake", str(lake), "--model", "svr", "--trials", "3"))
    assert code == 0, stderr
    assert wait_for(lambda: any(warm.runtime.glob("*/*.sock"))), "no warm process was left"
    code, stderr = finish(warm.run("--lake", str(lake), "--model", "svr", "--trials", "3"))
    assert code == 0, stderr
    assert starts(lake) == [True, False]


def test_a_dead_warm_process_is_replaced_and_its_start_runs_cold(warm, tmp_path) -> None:
    warm.start()
    os.kill(warm.process.pid, signal.SIGKILL)
    warm.process.wait()
    lake = tmp_path / "lake"
    code, stderr = finish(warm.run("--lake", str(lake), "--model", "svr", "--trials", "3"))
    assert code == 0, stderr
    assert [t["cold"] for t in timings(lake)] == [True]
    assert wait_for(warm.pids), "no new warm process"


def started_fork(warm: Warm, run: subprocess.Popen) -> tuple[int, list[int]]:
    """Once the run has announced its batch and started its workers: the fork's pid and its
    workers' pids."""
    assert "trials on" in read_until(run.stderr, "trials on")[-1]
    fork = wait_for(lambda: children(warm.process.pid))
    assert fork and len(fork) == 1
    workers = wait_for(lambda: len(found := children(fork[0])) == 2 and found)
    assert workers, "the fork never had its two workers"
    return fork[0], workers


def test_a_killed_client_takes_its_run_and_workers_with_it(warm, tmp_path) -> None:
    warm.start()
    lake = tmp_path / "lake"
    run = warm.run("--lake", str(lake), "--model", "svr", "--trials", "100000", "--budget", "120")
    fork, workers = started_fork(warm, run)
    run.kill()
    run.wait()
    assert wait_gone([fork, *workers]) == []
    assert not list(lake.glob("scores/dt=*/*.json.gz"))  # nothing committed: as a cold kill
    assert warm.process.poll() is None
    code, stderr = finish(warm.run("--lake", str(lake), "--model", "svr", "--trials", "3"))
    assert code == 0, stderr


def test_a_fork_killed_by_a_signal_is_one_line_and_128_plus_it(warm, tmp_path) -> None:
    warm.start()
    lake = tmp_path / "lake"
    run = warm.run("--lake", str(lake), "--model", "svr", "--trials", "100000", "--budget", "120")
    fork, _ = started_fork(warm, run)
    os.kill(fork, signal.SIGKILL)
    code, stderr = finish(run)
    assert code == 128 + signal.SIGKILL
    assert stderr.splitlines()[-1] == "sweeplake: the run was killed by SIGKILL"


def test_sigint_to_the_client_interrupts_its_run(warm, tmp_path) -> None:
    warm.start()
    lake = tmp_path / "lake"
    run = warm.run("--lake", str(lake), "--model", "svr", "--trials", "100000", "--budget", "120")
    fork, workers = started_fork(warm, run)
    run.send_signal(signal.SIGINT)
    code, stderr = finish(run)
    assert (code, stderr.splitlines()[-1]) == (130, "sweeplake: interrupted")
    assert wait_gone([fork, *workers]) == []


def test_a_signal_the_client_was_started_ignoring_is_ignored_by_its_run(warm, tmp_path) -> None:
    """`nohup sweeplake run --warm`: a cold run would ignore hang-ups, so the fork does too. A
    SIGHUP to the client, then to the fork itself, leaves the batch fitting; Ctrl-C then ends
    it as usual (the client still forwards what it does not ignore)."""
    warm.start()
    lake = tmp_path / "lake"
    flags = ("--lake", str(lake), "--model", "svr", "--trials", "100000", "--budget", "120")
    run = warm.run(*flags, ignoring=(signal.SIGHUP,))
    fork, workers = started_fork(warm, run)
    run.send_signal(signal.SIGHUP)  # ignored: discarded as it is sent
    os.kill(fork, signal.SIGHUP)
    run.send_signal(signal.SIGINT)
    code, stderr = finish(run)
    assert (code, stderr.splitlines()[-1]) == (130, "sweeplake: interrupted"), stderr[-2000:]
    assert wait_gone([fork, *workers]) == []


def test_two_warm_runs_at_once_both_land(warm, tmp_path) -> None:
    warm.start()
    lake = tmp_path / "lake"
    runs = [
        warm.run("--lake", str(lake), "--model", "svr", "--trials", "20", "--seed", str(seed))
        for seed in (1, 2)
    ]
    assert [finish(run)[0] for run in runs] == [0, 0]
    scores = records(lake, "scores")
    assert len(scores) == len({s["hyper_id"] for s in scores}) == 40
    assert [t["cold"] for t in timings(lake)] == [False, False]


def test_a_changed_environment_is_another_warm_process(tmp_path) -> None:
    from sweeplake.warm import key

    assert key("/a", {"X": "1"}) == key("/a", {"X": "1", "PWD": "/b"})
    assert key("/a", {"X": "1"}) != key("/a", {"X": "2"})
    assert key("/a", {"X": "1"}) != key("/b", {"X": "1"})


def test_other_cores_or_groups_are_another_warm_process(monkeypatch) -> None:
    """`taskset -c 0 sweeplake run --warm` runs on core 0 alone, with one worker by default;
    `sg` runs under another group: a fork of a warm process started otherwise would not."""
    from sweeplake.warm import key

    before = key("/a", {})
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7, 8})
    after = key("/a", {})
    assert after != before
    monkeypatch.setattr(os, "getgroups", lambda: [os.getegid(), 424242])
    assert key("/a", {}) not in (before, after)


def test_a_start_under_other_limits_is_another_warm_process(warm, tmp_path) -> None:
    """`ulimit -n 512 && sweeplake run --warm` must not be forked from a warm process that has
    another limit (a fork has its warm process's): that start runs cold, under its own limit,
    and leaves a warm process of that limit, which forks the next such start. A start under
    the first warm process's limits is still its fork."""
    warm.start()
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    other = 512 if soft != 512 else 500
    lake = tmp_path / "lake"
    flags = ("--lake", str(lake), "--model", "svr", "--trials", "3")
    assert finish(warm.run(*flags, "--seed", "1", files=other))[0] == 0
    assert finish(warm.run(*flags, "--seed", "2"))[0] == 0
    assert starts(lake) == [True, False]
    assert wait_for(lambda: len(list(warm.runtime.glob("*/*.sock"))) == 2), "none was left"
    code, stderr = finish(warm.run(*flags, "--seed", "3", files=other))
    assert code == 0, stderr
    assert starts(lake) == [True, False, False]


def test_a_runtime_folder_too_deep_for_a_socket_runs_cold_with_a_warning(tmp_path) -> None:
    runtime = tmp_path / ("deep" * 30)
    runtime.mkdir(mode=0o700)
    lake = tmp_path / "lake"
    flags = ["--lake", str(lake), "--model", "svr", "--trials", "3", "--warm"]
    result = sweeplake("run", *flags, env={"XDG_RUNTIME_DIR": str(runtime)})
    assert result.returncode == 0, result.stderr
    assert "longer than a Unix socket's path may be" in result.stderr
    assert [t["cold"] for t in timings(lake)] == [True]
    assert not list(runtime.glob("*/*.lock"))  # no warm process was started
    served = sweeplake("warm", "--idle", "1", env={"XDG_RUNTIME_DIR": str(runtime)})
    assert served.returncode == 2
    assert served.stderr.startswith("sweeplake: error: no socket to listen on:")


def test_an_install_or_removal_of_a_package_is_another_warm_process(tmp_path, monkeypatch) -> None:
    """A warm process keeps the libraries it imported: after `pip install -U scikit-learn` the
    next start must not be its fork. The installed packages' folders stand in for the venv's."""
    import sysconfig

    from sweeplake.warm import key

    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sysconfig, "get_path", lambda name: str(site))
    before = key("/a", {})
    (site / "scikit_learn-9.9.dist-info").mkdir()
    os.utime(site, ns=(0, site.stat().st_mtime_ns + 1))  # a coarse clock: a tick later
    assert key("/a", {}) != before


def test_a_warm_process_that_forks_nothing_leaves_the_start_to_run_cold(
    warm, tmp_path, monkeypatch
) -> None:
    """Something answers at the socket but forks no run (a warm process out of memory, or one
    dying): nothing ran, so the start runs cold, once."""
    import socket
    import threading

    from sweeplake.warm import socket_path

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(warm.runtime))
    env = cli_env(warm.env)
    path = socket_path(cwd=str(REPO), environ=env)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    answered = []

    def answer_and_hang_up() -> None:
        conn, _ = listener.accept()
        with conn:
            answered.append(conn.recv(4))

    thread = threading.Thread(target=answer_and_hang_up, daemon=True)
    thread.start()
    lake = tmp_path / "lake"
    with listener:
        code, stderr = finish(warm.run("--lake", str(lake), "--model", "svr", "--trials", "3"))
        thread.join(timeout=60)
    assert answered, "the start never reached the socket"
    assert code == 0, stderr
    assert "forked no run" in stderr
    assert "3 trials (0 failed)" in stderr
    assert [t["cold"] for t in timings(lake)] == [True]
    assert len(records(lake, "scores")) == 3


def test_the_client_imports_no_more_than_the_standard_library_before_handing_over(
    warm, tmp_path
) -> None:
    """Cron's line starts a client every minute: its imports are its CPU (-X importtime lists
    every module the client process imports; the fork's are the warm process's, made once)."""
    warm.start()
    lake = tmp_path / "lake"
    client = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sweeplake", "run", "--warm"]
        + ["--lake", str(lake), "--model", "svr", "--trials", "3"],
        cwd=REPO,
        env=cli_env(warm.env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert client.returncode == 0, client.stderr[-3000:]
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in client.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "sweeplake.warm" in imported
    ours = {name for name in imported if name.startswith("sweeplake")}
    assert ours == {"sweeplake", "sweeplake.warm", "sweeplake.procinfo"}, ours
    assert not imported & {"numpy", "argparse", "subprocess", "isal", "duckdb"}
    assert [t["cold"] for t in timings(lake)] == [False]
