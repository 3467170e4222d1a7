"""`python -m sweeplake serve` in a subprocess, on a free loopback port that it picks itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ADDRESS = re.compile(r"serving \S+ \(\S+\) on (http://127\.0\.0\.1:\d+) ")


class Served:
    """Ready once the server logs the address it listens on: no sleeps, no port guessing."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}
        full_env.update(env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sweeplake", "serve", "--port", "0", *args],
            cwd=REPO,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.seen: list[str] = []
        for line in self.process.stderr:
            self.seen.append(line)
            found = ADDRESS.search(line)
            if found:
                self.url = found[1]
                return
        self.process.wait()
        raise RuntimeError(f"serve exited {self.process.returncode}: {''.join(self.seen)}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> str:
        """Stop the server; everything it wrote to stderr."""
        self.process.terminate()
        rest = self.process.communicate(timeout=60)[1]
        return "".join(self.seen) + rest
