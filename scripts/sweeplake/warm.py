"""`run --warm`: cron's starts forked from a process that has scikit-learn imported already.

A cold `run` spends about two CPU-seconds importing scikit-learn, SciPy and pandas before its
first fit: on a burstable instance started every minute, that is most of the CPU the batches
use. With --warm, `run` looks for a warm process of this user, this interpreter, this
sweeplake's files, this working directory and this environment (a Unix socket under
$XDG_RUNTIME_DIR, else the temp folder, in a folder only this user can enter). When there is
one, it hands over its arguments, environment, working directory and its stdin, stdout and
stderr (the descriptors themselves); the warm process forks, and the fork runs exactly what
`python -m sweeplake run` runs. The client waits, forwards SIGINT, SIGTERM and SIGHUP to the
fork, and exits with the fork's exit status. When there is no warm process, that start runs
cold, in its own process, and leaves a warm process behind for the next one.

What the cold path guarantees, the warm one keeps:
- A fork that loses its client (killed, even by kill -9) kills itself at once, as the cold
  process would have died: the lake's commit protocol makes that lose nothing.
- A fork killed by a signal is reported as such, one line, exit status 128 + the signal.
- A warm process that died leaves a socket nobody answers: the next start runs cold and
  starts another. A second warm process never starts beside a live one (a lock it holds).
- A signal the client was started ignoring (`nohup` ignores SIGHUP; a shell's background job,
  SIGINT) is neither forwarded nor heard by the fork: a cold run would have ignored it too.
- The warm process exits after `--idle` seconds without a start (10 minutes by default, so
  a cron start every minute keeps one alive), and on SIGTERM, once its forks have exited.
- Changed sweeplake files, another interpreter, working directory, environment, resource
  limits, niceness, cores or groups: another socket, so a start never runs stale code or under
  another's limits; the old warm process idles out.

The batch's timings say which start it was: `cold` is false for a fork of a warm process and
true for a --warm start that found none (null without --warm), and `startup_ms` runs from the
client's own start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import resource
import signal
import socket
import struct
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("sweeplake.warm")

IDLE_SECONDS = 600.0
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Environment variables a shell changes between two identical commands: not part of the key.
VOLATILE = frozenset({"_", "OLDPWD", "PWD", "SHLVL", "TERM_SESSION_ID"})
# What a batch imports before its first fit, imported once by the warm process.
PRELOAD = (
    "sweeplake.run",
    "sweeplake.dataset",
    "sweeplake.samplers.tpe",
    "sweeplake.scores.store",
    "sweeplake.lake.s3",
    "duckdb",
    "boto3",
)
REQUEST_LIMIT = 16 * 2**20
SOCKET_PATH_LIMIT = 107  # bytes of sun_path, less its terminating NUL (Linux)


def folder() -> Path:
    """This user's folder for warm sockets: made 0700, and refused when anyone else owns it or
    can enter it (another user's socket there could run our batches)."""
    import tempfile

    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    path = base / f"sweeplake-warm-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if not path.is_dir() or path.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} is not a folder of this user's alone")
    return path


def key(cwd: str, environ: dict[str, str]) -> str:
    """What a warm process was started with and imported: the interpreter, every file of the
    sweeplake package (name, size, modification time), the installed packages (their folders'
    modification times change with every install and removal, so an upgraded scikit-learn is
    never served by a process that imported the old one), the working directory (`python -m`
    imports from it), the environment (read by imports: thread counts, paths), the resource
    limits, niceness, cores and groups (`ulimit`, `nice`, `taskset`, `sg`: a fork has the warm
    process's, so a start under other ones needs a warm process started under them)."""
    package = Path(__file__).resolve().parent
    files = sorted(
        (str(p.relative_to(package)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in package.rglob("*")
        if p.suffix in {".py", ".sql"}
    )
    installed = sorted(
        (folder, os.stat(folder).st_mtime_ns)
        for folder in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
        if os.path.isdir(folder)
    )
    env = sorted((k, v) for k, v in environ.items() if k not in VOLATILE)
    limits = [
        [name, *resource.getrlimit(getattr(resource, name))]
        for name in sorted(dir(resource))
        if name.startswith("RLIMIT_")
    ]
    # What else a fork has of its warm process and a cold run of its own start: the niceness,
    # the cores it may run on (`taskset`; a run's default worker count) and its groups.
    process = [
        os.getpriority(os.PRIO_PROCESS, 0),
        sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        os.getegid(),
        sorted(os.getgroups()),
    ]
    text = json.dumps(
        [sys.executable, sys.version, str(package), files, installed, cwd, env, limits, process]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def socket_path(cwd: str | None = None, environ: dict[str, str] | None = None) -> Path:
    cwd = os.getcwd() if cwd is None else cwd
    path = folder() / f"{key(cwd, dict(os.environ) if environ is None else environ)}.sock"
    if len(os.fsencode(path)) > SOCKET_PATH_LIMIT:
        raise OSError(f"{path} is longer than a Unix socket's path may be: set XDG_RUNTIME_DIR")
    return path


# ---------------------------------------------------------------------------------- the client


def warm_start(argv: list[str]) -> int | None:
    """For `run --warm`: the exit status of the run a warm process forked for it, or None to
    run the command here (no `run --warm`, or no warm process forked it)."""
    if argv[:1] != ["run"] or "--warm" not in argv:
        return None
    from sweeplake.procinfo import configure_logging

    configure_logging()
    try:
        return run_warm(argv)
    except KeyboardInterrupt:  # before the fork's pid came back: the fork dies with us
        print("sweeplake: interrupted", file=sys.stderr)
        return 130


def run_warm(argv: list[str]) -> int | None:
    """`run --warm`: the exit status of the run a warm process forked for us, or None when no
    warm process answered (one has been started for the next start: run this one cold)."""
    try:
        path = socket_path()
    except OSError as exc:
        log.warning("no warm process (%s): this start runs cold", exc)
        runs_cold()
        return None
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(path))
    except OSError:
        client.close()
        try:
            start_server(path)
        except OSError as exc:
            log.warning("no warm process could be started (%s): this start runs cold", exc)
        runs_cold()
        return None
    with client:
        code = hand_over(client, argv)
    if code is None:
        runs_cold()
    return code


def runs_cold() -> None:
    """Record in the batch's timings that this `run --warm` runs cold (only then is sweeplake's
    timings module worth importing here: the cold run imports it anyway)."""
    from sweeplake import timings

    timings.started_cold = True


def hand_over(client: socket.socket, argv: list[str]) -> int | None:
    """The fork's exit status; None when the warm process forked nothing (nothing ran yet, so
    this start runs cold)."""
    from sweeplake.procinfo import process_age_ms

    # Read before any handler of ours replaces them: what this process was started ignoring.
    ignored = [int(s) for s in FORWARDED if signal.getsignal(s) == signal.SIG_IGN]
    request = json.dumps(
        {
            "argv": argv,
            "ignored": ignored,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": current_umask(),
            "age_ms": process_age_ms(),
        }
    ).encode()
    try:
        with standard_descriptors() as fds:
            socket.send_fds(client, [struct.pack("!I", len(request)) + request], fds)
        replies = client.makefile("r", encoding="ascii")
        first = replies.readline().split()
    except OSError as exc:
        first = [str(exc)]
    if first[:1] != ["pid"]:
        log.warning("the warm process forked no run (%s): this start runs cold", " ".join(first))
        return None
    pid = int(first[1])
    for signum in FORWARDED:
        if signum not in ignored:
            signal.signal(signum, lambda signum, frame: forward(pid, signum))
    last = replies.readline().split()
    if last[:1] == ["exit"]:
        return int(last[1])
    if last[:1] == ["signal"]:
        name = signal.Signals(int(last[1])).name
        print(f"sweeplake: the run was killed by {name}", file=sys.stderr)
        return 128 + int(last[1])
    print("sweeplake: the warm process ended before the run did", file=sys.stderr)
    return 1


def forward(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def standard_descriptors():
    """Descriptors 0, 1 and 2 to hand over; /dev/null for any that is closed (cron may)."""
    opened = []
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            opened.append(os.open(os.devnull, os.O_RDWR))
            fds.append(opened[-1])
    try:
        yield fds
    finally:
        for fd in opened:
            os.close(fd)


def start_server(path: Path) -> None:
    """A warm process for the next start, detached: its own session, no terminal, no
    descriptor of ours (a cron lock held through one would block every later start)."""
    import subprocess

    command = [sys.executable, "-m", "sweeplake", "warm", "--socket", str(path)]
    with open(path.with_suffix(".log"), "ab") as errors:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
            close_fds=True,
        )
    log.info("no warm process answered: this start runs cold and starts one for the next")


# ---------------------------------------------------------------------------------- the server


def serve(main: Callable[[list[str]], int], path: Path | None, idle: float = IDLE_SECONDS) -> int:
    """`sweeplake warm`: import what a batch needs, then fork one run per client until `idle`
    seconds pass without one, or SIGTERM; then wait for the forks and exit. Each fork runs
    `main` (the CLI's) on its client's arguments."""
    import fcntl
    import gc
    import selectors
    import threading
    import time

    from sweeplake.errors import BadInput

    try:
        path = socket_path() if path is None else path
    except OSError as exc:
        raise BadInput(f"no socket to listen on: {exc}") from None
    if len(os.fsencode(path)) > SOCKET_PATH_LIMIT:
        raise BadInput(f"--socket {path} is longer than a Unix socket's path may be")
    try:
        lock = open(path.with_suffix(".lock"), "a+")  # noqa: SIM115 held for the process's life
    except OSError as exc:
        raise BadInput(f"no lock file beside the socket: {exc}") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.info("a warm process already serves %s", path)
        return 0
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    preload()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    path.unlink(missing_ok=True)  # a dead warm process's socket: nobody holds the lock
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    log.info("warm process %d serves %s (idle exit after %.0f s)", os.getpid(), path, idle)
    forks: dict[int, socket.socket] = {}
    last = time.monotonic()
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        while not stopping.is_set() and (forks or time.monotonic() - last < idle):
            ready = selector.select(timeout=0.5)
            reap(forks, block=False)
            if ready:
                conn, _ = listener.accept()
                last = time.monotonic()
                started = fork_run(main, conn, listener, lock)
                if started is not None:
                    forks[started] = conn
                else:
                    conn.close()
    with contextlib.suppress(FileNotFoundError):
        if path.exists() and os.stat(path).st_ino == os.fstat(listener.fileno()).st_ino:
            path.unlink()
    listener.close()
    while forks:
        reap(forks, block=True)
    gc.unfreeze()  # DuckDB's binding reports every object left uncollected at exit as a leak
    return 0


def preload() -> None:
    import gc
    import importlib

    from sweeplake.models.registry import families

    for module in PRELOAD:
        importlib.import_module(module)
    for chosen in families().values():
        if chosen.warm:
            chosen.load()
    # Objects made by the imports are never collected: forks neither walk nor copy them.
    gc.collect()
    gc.freeze()


def reap(forks: dict[int, socket.socket], block: bool) -> None:
    """Collect exited forks; tell the client of one killed by a signal."""
    while forks:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:  # none left to wait for
            forks.clear()
            return
        if pid == 0:
            return
        conn = forks.pop(pid, None)
        if conn is None:
            continue
        with conn, contextlib.suppress(OSError):
            if os.WIFSIGNALED(status):
                conn.sendall(f"signal {os.WTERMSIG(status)}\n".encode())


def fork_run(main: Callable, conn: socket.socket, listener: socket.socket, lock) -> int | None:
    """Read one client's request and fork its run; the fork never returns."""
    try:
        conn.settimeout(10)
        request, fds = receive(conn)
        conn.settimeout(None)
    except (OSError, ValueError) as exc:
        log.warning("a client's request was unreadable: %s", exc)
        return None
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        pid = os.fork()
    except OSError as exc:  # out of memory or processes: the client runs cold
        log.warning("no fork for a client: %s", exc)
        for fd in fds:
            os.close(fd)
        return None
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    code = 1
    try:
        listener.close()
        lock.close()
        code = run_fork(main, conn, request, fds)
    finally:
        finish(conn, code)


def receive(conn: socket.socket) -> tuple[dict, list[int]]:
    head, fds, _, _ = socket.recv_fds(conn, 4, 3)
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError("a request starts with three descriptors")
    while head and len(head) < 4:
        head += conn.recv(4 - len(head))
    if len(head) != 4:
        raise ValueError("the request ended early")
    (size,) = struct.unpack("!I", head)
    if size > REQUEST_LIMIT:
        raise ValueError(f"a request of {size} bytes")
    body = bytearray()
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("the request ended early")
        body += chunk
    return json.loads(body), fds


def run_fork(main: Callable, conn: socket.socket, request: dict, fds: list[int]) -> int:
    """In the fork: become the client's process (descriptors, working directory, umask,
    environment, signals, logging), then run its command as `python -m sweeplake` would."""
    import threading

    from sweeplake import timings

    # The client's dispositions, as a cold run has them: what it ignored stays ignored (Python
    # leaves an inherited SIG_IGN as it is), SIGINT is KeyboardInterrupt, the rest default.
    ignored = set(request.get("ignored", ()))
    for signum in FORWARDED:
        signal.signal(signum, signal.SIG_IGN if signum in ignored else signal.SIG_DFL)
    if signal.SIGINT not in ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1 if os.isatty(1) else -1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    logging.root.handlers.clear()
    timings.client_age_ms = request["age_ms"]
    threading.Thread(target=die_with_client, args=(conn,), daemon=True).start()
    conn.sendall(f"pid {os.getpid()}\n".encode())
    sys.argv = ["sweeplake", *request["argv"]]
    try:
        return main(request["argv"])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def die_with_client(conn: socket.socket) -> None:
    """The client sends nothing after its request: the end of the connection is its end."""
    with contextlib.suppress(OSError):
        while conn.recv(64):
            pass
    os.kill(os.getpid(), signal.SIGKILL)


def finish(conn: socket.socket, code: int) -> None:
    """The interpreter's exit, for a fork: its exit handlers and flushes, the status to the
    client, then out without unwinding into the warm process's loop."""
    import atexit

    try:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        with contextlib.suppress(OSError):
            conn.sendall(f"exit {code}\n".encode())
    finally:
        os._exit(code)
