"""Per-series views of a lake's time-series trials: each trial's errors (RMSE, MAE, MAPE) in
each series, and the best trial of every series; `rank --series` prints them, the report
plots them.

MAPE is the mean of |y_true - y_pred| / |y_true| over the points, in percent; points whose
y_true is 0 have none and are left out of it (its `points` count says how many it holds).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplake.dataset import NO_FOLD, Dataset, load_dataset
from sweeplake.engines.sqlfiles import sql_literal
from sweeplake.errors import BadInput
from sweeplake.scores.metrics import mape

# Which predictions a view reads: the test points' from the facts, or the validated training
# points' out-of-fold predictions.
TABLES = {"test": "predict", "cv": "oof"}


@dataclass(frozen=True)
class Trial:
    hyper_id: str
    model: str
    dataset: str
    point_ids: np.ndarray
    y_pred: np.ndarray


def errors(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | int | None]:
    """RMSE, MAE and MAPE (percent) of these points; None where there is no point."""
    if len(y_true) == 0:
        return {"rmse": None, "mae": None, "mape": None, "points": 0}
    e = y_true - y_pred
    return {
        "rmse": float(np.sqrt(np.mean(e * e))),
        "mae": float(np.mean(np.abs(e))),
        "mape": mape(y_true, y_pred),
        "points": len(e),
    }


def timeseries_datasets(lake) -> dict[str, Dataset]:
    """Every time-series dataset the lake holds, by name."""
    found = {}
    for key in lake.keys("data/"):
        if not key.endswith(".json"):
            continue
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / Path(key).name
            path.write_bytes(lake.get(key))
            try:
                dataset = load_dataset(path)
            except BadInput:
                continue
        if dataset.timeseries is not None:
            found[dataset.name] = dataset
    return found


def trials(engine, names: list[str], by: str = "test") -> list[Trial]:
    """Every ok trial of these datasets with its predictions from `by`'s table."""
    if not names:
        return []
    quoted = ", ".join(sql_literal(name) for name in names)
    sql = (
        f"SELECT h.hyper_id, h.model, h.dataset, p.point_id, p.y_pred FROM {TABLES[by]} AS p "
        "JOIN hyperparams AS h ON h.hyper_id = p.hyper_id AND h.dt = p.dt "
        f"WHERE h.status = 'ok' AND p.y_pred IS NOT NULL AND h.dataset IN ({quoted}) "
        "ORDER BY h.hyper_id, p.point_id"
    )
    _, rows = engine.query(sql)
    found: dict[str, list] = {}
    for hyper_id, model, dataset, point_id, y_pred in rows:
        found.setdefault(hyper_id, [model, dataset, [], []])
        found[hyper_id][2].append(point_id)
        found[hyper_id][3].append(y_pred)
    return [
        Trial(h, m, d, np.array(p, dtype=np.int64), np.array(y, dtype=np.float64))
        for h, (m, d, p, y) in sorted(found.items())
    ]


def scored_points(dataset: Dataset, trial: Trial, by: str) -> tuple[np.ndarray, np.ndarray]:
    """The dataset rows and predictions `by` scores: test points, or validated ones."""
    rows = np.searchsorted(dataset.point_ids, trial.point_ids)
    keep = rows < len(dataset.point_ids)
    keep[keep] = dataset.point_ids[rows[keep]] == trial.point_ids[keep]
    rows, y_pred = rows[keep], trial.y_pred[keep]
    wanted = ~dataset.is_train if by == "test" else dataset.fold != NO_FOLD
    chosen = wanted[rows]
    return rows[chosen], y_pred[chosen]


def series_errors(dataset: Dataset, trial: Trial, by: str = "test") -> dict[str, dict]:
    """The trial's errors in each series, and over all of them under the key None."""
    rows, y_pred = scored_points(dataset, trial, by)
    series = dataset.timeseries.series[rows]
    y_true = dataset.y[rows]
    out: dict = {None: errors(y_true, y_pred)}
    for name in np.unique(dataset.timeseries.series):
        mine = series == name
        out[str(name)] = errors(y_true[mine], y_pred[mine])
    return out


def best_per_series(engine, lake, by: str = "test", dataset: str | None = None) -> list[dict]:
    """For every series of every time-series dataset, the trial of least RMSE there (on the
    test steps, or out of fold with `by` cv), with its errors in the series and overall."""
    datasets = timeseries_datasets(lake)
    if dataset is not None:
        datasets = {k: v for k, v in datasets.items() if k == dataset}
    # Sorted by the dataset's names in Python: a name never reaches SQL text unchecked.
    rows = []
    by_dataset: dict[str, list[Trial]] = {}
    for trial in trials(engine, sorted(datasets), by):
        by_dataset.setdefault(trial.dataset, []).append(trial)
    for name in sorted(by_dataset):
        scored = [(t, series_errors(datasets[name], t, by)) for t in by_dataset[name]]
        for series in sorted(np.unique(datasets[name].timeseries.series).tolist()):
            ranked = [(e[series]["rmse"], t.hyper_id, t, e) for t, e in scored]
            ranked = [r for r in ranked if r[0] is not None]
            if not ranked:
                continue
            _, _, best, found = min(ranked, key=lambda r: (r[0], r[1]))
            rows.append(
                {
                    "dataset": name,
                    "series": series,
                    "model": best.model,
                    "hyper_id": best.hyper_id,
                    f"{by}_rmse": found[series]["rmse"],
                    f"{by}_mae": found[series]["mae"],
                    f"{by}_mape": found[series]["mape"],
                    "points": found[series]["points"],
                    f"overall_{by}_mape": found[None]["mape"],
                }
            )
    return rows


def render_series(rows: list[dict], fmt: str) -> str:
    import csv
    import io
    import json

    if fmt == "json":
        return json.dumps(rows, indent=1) + "\n"
    if not rows:
        return "no time-series trial in this lake\n" if fmt == "table" else ""
    columns = list(rows[0])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    cells = [[shown(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines) + "\n"


def shown(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def rank_series(
    lake_uri: str, by: str = "test", fmt: str = "table", dataset: str | None = None
) -> str:
    """What `sweeplake rank --series` prints: the best trial of every series."""
    from sweeplake.lake import open_lake
    from sweeplake.rank import FORMATS, ORDERINGS, open_engine

    if by not in ORDERINGS:
        raise BadInput(f"unknown ranking {by!r:.40}: choose {', '.join(ORDERINGS)}")
    if fmt not in FORMATS:
        raise BadInput(f"unknown format {fmt!r:.40}: choose {', '.join(FORMATS)}")
    engine = open_engine(lake_uri, "duckdb", facts=True)
    return render_series(best_per_series(engine, open_lake(lake_uri), by, dataset), fmt)
