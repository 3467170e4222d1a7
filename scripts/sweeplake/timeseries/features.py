"""The features of a time series, each computed from its series' past alone.

For the point at step t of a series: each lag k of the target is the target at t-k; each
rolling statistic of a column over w steps is taken over the w steps before t (t-w .. t-1,
never t itself); every other numeric column enters as its value at t-1. The same functions
build a dataset at import and the features of a series' next step in the prediction API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from sweeplake.errors import BadInput

STATS = ("mean", "median", "std", "min", "max", "sum")


@dataclass(frozen=True)
class Rolling:
    column: str
    stat: str
    window: int

    @property
    def text(self) -> str:
        return f"{self.column}:{self.stat}:{self.window}"


@dataclass(frozen=True)
class Spec:
    """What the features of a series are made of: the raw columns, the target's lags, the
    rolling statistics and the other numeric columns (each lagged one step)."""

    target: str
    lags: tuple[int, ...]
    rolling: tuple[Rolling, ...]
    others: tuple[str, ...]

    @property
    def warmup(self) -> int:
        """The steps a series needs before its first complete row of features."""
        needs = [*self.lags, *(r.window for r in self.rolling), 1 if self.others else 0]
        return max(needs, default=0)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every raw column the features read, target first."""
        used = [self.target, *(r.column for r in self.rolling), *self.others]
        return tuple(dict.fromkeys(used))

    def names(self) -> tuple[str, ...]:
        """The features' names in the dataset, as lowercase SQL names, all distinct."""
        raw = [f"{self.target} lag {k}" for k in self.lags]
        raw += [f"{r.column} {r.stat} {r.window}" for r in self.rolling]
        raw += [f"{c} lag 1" for c in self.others]
        names = [re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:64] for text in raw]
        names = [n if n and not n[0].isdigit() else f"x_{n}"[:64] for n in names]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise BadInput(f"two features would both be named {repeated[0]!r}: rename a column")
        return tuple(names)

    def to_json(self) -> dict:
        return {
            "target": self.target,
            "lags": list(self.lags),
            "rolling": [r.text for r in self.rolling],
            "others": list(self.others),
        }

    @classmethod
    def from_json(cls, value: dict) -> Spec:
        return cls(
            value["target"],
            tuple(value["lags"]),
            parse_rolling(",".join(value["rolling"])),
            tuple(value["others"]),
        )


def parse_lags(text: str) -> tuple[int, ...]:
    """'1,2,5' -> (1, 2, 5); each a whole number of steps >= 1, none twice."""
    lags = []
    for part in (p.strip() for p in text.split(",")):
        if not part.isdigit() or int(part) < 1:
            raise BadInput(f"--lags {text!r:.60}: {part!r:.20} is not a whole number >= 1")
        if int(part) in lags:
            raise BadInput(f"--lags {text!r:.60}: {part} appears twice")
        lags.append(int(part))
    return tuple(lags)


def parse_rolling(text: str) -> tuple[Rolling, ...]:
    """'Volume:mean:30,Adj Close:median:30' -> one Rolling each: COLUMN:STAT:WINDOW."""
    found: list[Rolling] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        column, _, rest = part.rpartition(":")
        column, _, stat = column.rpartition(":")
        if not column or not rest.isdigit() or int(rest) < 1:
            raise BadInput(
                f"--rolling {part!r:.60}: write COLUMN:STAT:WINDOW, e.g. Volume:mean:30, "
                "with a window of 1 step or more"
            )
        if stat not in STATS:
            raise BadInput(f"--rolling {part!r:.60}: statistic {stat!r:.20} is not one of {STATS}")
        rolling = Rolling(column, stat, int(rest))
        if rolling in found:
            raise BadInput(f"--rolling {part!r:.60} appears twice")
        found.append(rolling)
    return tuple(found)


def series_features(spec: Spec, table: dict[str, np.ndarray]) -> np.ndarray:
    """Every step's features of one series (rows in time order), NaN where a window reaches
    before the series' start. `table` holds each raw column of spec.columns."""
    steps = len(table[spec.target])
    out = np.full((steps, len(spec.lags) + len(spec.rolling) + len(spec.others)), np.nan)
    column = 0
    for k in spec.lags:
        out[k:, column] = table[spec.target][: steps - k]
        column += 1
    for rolling in spec.rolling:
        out[:, column] = past_window(table[rolling.column], rolling.stat, rolling.window)
        column += 1
    for other in spec.others:
        out[1:, column] = table[other][:-1]
        column += 1
    return out


def past_window(values: np.ndarray, stat: str, window: int) -> np.ndarray:
    """Each step's statistic over the `window` steps before it; NaN until there are that many."""
    out = np.full(len(values), np.nan)
    if len(values) <= window:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(values[:-1], window)
    if stat == "std":
        reduced = np.std(windows, axis=1, ddof=1) if window > 1 else np.full(len(windows), np.nan)
    else:
        reduced = getattr(np, stat)(windows, axis=1)
    out[window:] = reduced
    return out


def next_features(spec: Spec, history: dict[str, np.ndarray]) -> np.ndarray:
    """The features of the step after the last one of `history` (raw columns, time order):
    what a model of the series predicts the next value from."""
    extended = {c: np.append(np.asarray(v, dtype=np.float64), np.nan) for c, v in history.items()}
    return series_features(spec, extended)[-1]
