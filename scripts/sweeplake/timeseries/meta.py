"""What a time-series dataset file says about itself, beside its points.

Its first line carries a `timeseries` object (the time and series columns, the feature spec,
the fold scheme and each series' warm-up: the target's values before its first point, which
the windows read); every line carries its point's `series` and `time`. Points are in time
order within each series, and point_id follows that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sweeplake.errors import BadInput
from sweeplake.timeseries.features import Spec

META_KEY = "timeseries"
POINT_KEYS = ("series", "time")


@dataclass(frozen=True)
class TimeSeries:
    meta: dict
    series: np.ndarray  # each point's series name (str)
    time: np.ndarray  # each point's time, as the dataset writes it (str)

    @property
    def spec(self) -> Spec:
        return Spec.from_json(self.meta["spec"])

    @property
    def gap(self) -> int:
        return int(self.meta["gap"])

    @property
    def warmup(self) -> dict[str, list[float]]:
        return self.meta["warmup"]

    def steps(self, point_ids: np.ndarray) -> np.ndarray:
        """Each point's step within its series (0 for its first point), by point_id order."""
        step = np.empty(len(point_ids), dtype=np.int64)
        for name in np.unique(self.series):
            mine = np.flatnonzero(self.series == name)
            step[mine[np.argsort(point_ids[mine], kind="stable")]] = np.arange(len(mine))
        return step


def check_meta(where: str, meta: object) -> dict:
    wanted = {"time_column", "series_column", "folds", "gap", "test_size", "spec", "warmup"}
    if not isinstance(meta, dict) or set(meta) != wanted:
        raise BadInput(f"{where}: the timeseries object must hold exactly {sorted(wanted)}")
    try:
        Spec.from_json(meta["spec"])
    except (KeyError, TypeError, BadInput) as exc:
        raise BadInput(f"{where}: the timeseries spec is not readable ({exc})") from None
    if type(meta["gap"]) is not int or meta["gap"] < 0:
        raise BadInput(f"{where}: the timeseries gap must be an integer >= 0")
    return meta


def point_values(where: str, record: dict) -> tuple[str, str]:
    series, time = record.get("series"), record.get("time")
    if not isinstance(series, str) or not isinstance(time, str):
        raise BadInput(f"{where}: a time-series point needs a series and a time, both strings")
    return series, time


def check_order(path, point_ids: np.ndarray, series: np.ndarray, time: np.ndarray) -> None:
    """Point ids must run in time order within each series: the windows and folds rely on it."""
    for name in np.unique(series):
        mine = np.flatnonzero(series == name)
        times = time[mine[np.argsort(point_ids[mine], kind="stable")]]
        if len(set(times.tolist())) != len(times):
            raise BadInput(f"dataset {path}: series {name!r:.40} repeats a time")


def card_section(dataset, model: str) -> dict | None:
    """What a model card says of a time-series model's dataset (None for a tabular one)."""
    ts = dataset.timeseries
    if ts is None:
        return None
    spec = ts.spec
    return {
        "time_column": ts.meta["time_column"],
        "series_column": ts.meta["series_column"],
        "spec": spec.to_json(),
        "columns": list(spec.columns),
        "series": sorted(set(ts.series.tolist())),
    }
