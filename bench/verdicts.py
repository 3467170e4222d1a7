"""Verdicts on search quality from paired seeds: the median of the per-seed differences and its
bootstrap interval, so that a target passes on what the seeds support, not on one median."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 10_000
LEVEL = 0.90


@dataclass(frozen=True)
class Paired:
    """The median of `ours - theirs` over seeds, and its two-sided bootstrap interval."""

    median: float
    low: float
    high: float
    seeds: int

    def shown(self) -> str:
        return f"{self.median:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def paired(ours: Sequence[float], theirs: Sequence[float], seed: int = 0) -> Paired:
    """Seed k of `ours` against seed k of `theirs`: both searches started from that seed."""
    if len(ours) != len(theirs) or len(ours) < 2:
        raise ValueError(f"paired seeds needed, 2 or more: got {len(ours)} and {len(theirs)}")
    differences = np.asarray(ours, dtype=float) - np.asarray(theirs, dtype=float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(differences), size=(RESAMPLES, len(differences)))
    medians = np.median(differences[draws], axis=1)
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(medians, [tail, 1 - tail])
    return Paired(statistics.median(differences), float(low), float(high), len(differences))
