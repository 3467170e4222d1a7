"""What a person watching `run` sees: one line, redrawn in place as trials finish."""

from __future__ import annotations

import math
import time
from typing import TextIO

from sweeplake.fitting.fit import Outcome

# The score the line shows, the first a trial has: the honest one when the batch has it.
SCORES = (("cv_r2", "CV R²"), ("test_r2", "test R²"))
# Redrawing for every trial of a fast batch would cost more than the trials on a slow terminal.
REDRAW_SECONDS = 0.1


class Progress:
    """Trials done out of the cap, the best score so far and the budget left.

    Drawn only on a terminal: in cron's log the job stays one line per event. Also keeps what
    the end line tells: whether the budget, not the cap, ended the batch.
    """

    def __init__(self, cap: int, deadline: float, stream: TextIO | None) -> None:
        self.cap = cap
        self.deadline = deadline
        self.stream = stream if stream is not None and stream.isatty() else None
        self.done = self.failed = 0
        self.best: tuple[float, str, str] | None = None  # score, its label, the model
        self.refused = False  # set when the budget keeps a trial from starting
        self.drawn_at = -math.inf

    def record(self, outcome: Outcome) -> None:
        self.done += 1
        self.failed += outcome.status == "failed"
        for key, label in SCORES:
            value = (outcome.metrics or {}).get(key)
            if value is not None:
                if self.best is None or value > self.best[0]:
                    self.best = (value, label, outcome.trial.model)
                break
        now = time.monotonic()
        if self.stream and (now - self.drawn_at >= REDRAW_SECONDS or self.done == self.cap):
            self.drawn_at = now
            self.stream.write(f"\r{self.line(now)}\x1b[K")
            self.stream.flush()

    def line(self, now: float) -> str:
        best = "no ok trial yet"
        if self.best is not None:
            score, label, model = self.best
            best = f"best {label} {score:.4f} ({model})"
        left = max(0.0, self.deadline - now)
        return f"{self.done}/{self.cap} trials, {self.failed} failed · {best} · {left:.0f} s left"

    @property
    def cut_short(self) -> bool:
        return self.refused and self.done < self.cap

    def close(self) -> None:
        """Clear the line: the end log line that follows says it all again."""
        if self.stream and self.drawn_at > -math.inf:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
