"""Each point's past: what a sequence model (the LSTM) reads instead of the tabular features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class History:
    """A time series' points in some order (a batch's: training points first): each one's
    series, its step within the series, and every series' target values in time order, its
    warm-up (the steps before its first point) first."""

    series: np.ndarray
    step: np.ndarray
    values: dict[str, np.ndarray]
    warmup: dict[str, int]

    @classmethod
    def of(cls, dataset, order: np.ndarray) -> History:
        ts = dataset.timeseries
        step = ts.steps(dataset.point_ids)
        values, warmup = {}, {}
        for name in np.unique(ts.series):
            mine = np.flatnonzero(ts.series == name)
            mine = mine[np.argsort(step[mine])]
            before = np.asarray(ts.warmup.get(str(name), []), dtype=np.float64)
            values[str(name)] = np.concatenate([before, dataset.y[mine]])
            warmup[str(name)] = len(before)
        return cls(ts.series[order], step[order], values, warmup)

    def windows(self, rows: np.ndarray, length: int) -> np.ndarray:
        """The `length` target values before each of these points, oldest first: (rows, length).
        Where a series has fewer, its first value repeats in front (never a later one)."""
        out = np.empty((len(rows), length))
        for i, row in enumerate(rows):
            name = str(self.series[row])
            end = self.warmup[name] + int(self.step[row])  # the point's own value sits at `end`
            out[i] = past(self.values[name][:end], length)
        return out


def past(values: np.ndarray, length: int) -> np.ndarray:
    """The last `length` of `values`, front-padded with the first when too few."""
    if len(values) == 0:
        raise ValueError("a series point has no past value to read")
    if len(values) >= length:
        return values[len(values) - length :]
    return np.concatenate([np.full(length - len(values), values[0]), values])
