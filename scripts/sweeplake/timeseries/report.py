"""The report's time-series sections: the best trial's predictions against the real values
over time, per series with the test period marked; and the best trial of each model (the
forest, the LSTM, ...) out of fold on the same forward-chaining folds."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from sweeplake.dataset import NO_FOLD
from sweeplake.timeseries.folds import time_keys
from sweeplake.timeseries.ranking import series_errors, trials

COLORS = ("tab:green", "tab:orange", "tab:blue", "tab:purple", "tab:brown")


def sections(lake_uri: str, best: dict, dataset) -> list[tuple[str, str, bytes, str]]:
    """The sections for the best trial's dataset; none when it is not a time series."""
    from sweeplake.rank import open_engine

    if dataset.timeseries is None:
        return []
    engine = open_engine(lake_uri, "duckdb", facts=True)
    found = [
        (
            "timeseries-best",
            f"Real against predicted over time: best trial {best['hyper_id']}",
            over_time(dataset, predictions(engine, dataset, best["hyper_id"])),
            f"Each series of {dataset.name}: the real values (black) and the best trial's "
            f"({best['model']}) predictions, one step ahead; the shaded span is the test period.",
        )
    ]
    by_model = best_out_of_fold(engine, dataset)
    if by_model:
        shown = "; ".join(
            f"{model} {trial.hyper_id}: cv RMSE {rmse:.4g}, MAPE {mape:.3g}%"
            for model, (trial, rmse, mape) in by_model.items()
        )
        found.append(
            (
                "timeseries-models",
                "Models side by side on the same folds",
                out_of_fold(dataset, by_model),
                "Each model's best trial by out-of-fold RMSE, predicting each series' "
                f"validation windows from models fitted only on earlier steps ({shown}).",
            )
        )
    return found


def predictions(engine, dataset, hyper_id: str) -> np.ndarray:
    """The trial's prediction of every point of the dataset (NaN where it has none)."""
    for trial in trials(engine, [dataset.name], "test"):
        if trial.hyper_id == hyper_id:
            y = np.full(len(dataset.point_ids), np.nan)
            y[np.searchsorted(dataset.point_ids, trial.point_ids)] = trial.y_pred
            return y
    return np.full(len(dataset.point_ids), np.nan)


def best_out_of_fold(engine, dataset) -> dict:
    """Each model's trial of least out-of-fold RMSE: {model: (trial, rmse, mape)}."""
    best: dict = {}
    for trial in trials(engine, [dataset.name], "cv"):
        overall = series_errors(dataset, trial, "cv")[None]
        if overall["rmse"] is None:
            continue
        held = best.get(trial.model)
        if held is None or (overall["rmse"], trial.hyper_id) < (held[1], held[0].hyper_id):
            best[trial.model] = (trial, overall["rmse"], overall["mape"])
    return dict(sorted(best.items()))


def panels(dataset):
    names = sorted(set(dataset.timeseries.series.tolist()))
    figure = Figure(figsize=(11, 2.4 * len(names)))
    axes = np.atleast_1d(figure.subplots(len(names), 1, squeeze=False)[:, 0])
    when = time_keys(dataset.timeseries.time)
    if when.dtype.kind == "U":
        when = np.array(when, dtype="datetime64[s]")
    return figure, zip(names, axes, strict=True), when


def over_time(dataset, y_pred: np.ndarray) -> bytes:
    from sweeplake.report.figures import png

    figure, rows, when = panels(dataset)
    for name, axis in rows:
        mine = np.flatnonzero(dataset.timeseries.series == name)
        mine = mine[np.argsort(dataset.point_ids[mine])]
        test = mine[~dataset.is_train[mine]]
        if len(test):
            axis.axvspan(when[test[0]], when[test[-1]], color="tab:red", alpha=0.12, lw=0)
        axis.plot(when[mine], dataset.y[mine], color="black", lw=1.2, label="real")
        axis.plot(when[mine], y_pred[mine], color="tab:red", lw=1, label="predicted")
        axis.set_title(name or dataset.name, loc="left", fontsize=10)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    return png(figure)


def out_of_fold(dataset, by_model: dict) -> bytes:
    from sweeplake.report.figures import png

    figure, rows, when = panels(dataset)
    for name, axis in rows:
        mine = np.flatnonzero((dataset.timeseries.series == name) & (dataset.fold != NO_FOLD))
        mine = mine[np.argsort(dataset.point_ids[mine])]
        axis.plot(when[mine], dataset.y[mine], color="black", lw=1.2, label="real")
        for color, (model, (trial, _, _)) in zip(COLORS, by_model.items(), strict=False):
            y = np.full(len(dataset.point_ids), np.nan)
            y[np.searchsorted(dataset.point_ids, trial.point_ids)] = trial.y_pred
            axis.plot(when[mine], y[mine], color=color, lw=1, label=f"{model} (out of fold)")
        axis.set_title(name or dataset.name, loc="left", fontsize=10)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    return png(figure)
