"""A real multi-series dataset that ships in a package, and large synthetic series.

The real one is `stocks.csv` of the vega_datasets package (MIT licence): the monthly closing
price of five stocks (AAPL, AMZN, GOOG, IBM, MSFT) from January 2000 to March 2010, the
stocks example of the Vega visualisation project. It is read from the installed package's
files, never from the network, and without importing the package (which imports pandas).
"""

from __future__ import annotations

import csv
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from sweeplake.errors import BadInput

# How `export-data --stocks` imports it: the last fifth of each stock's months as test, three
# forward-chaining folds one month apart, the price 1, 2, 3 and 12 months back and its mean
# over the 6 months before.
STOCKS = {
    "target": "price",
    "time_column": "date",
    "series_column": "symbol",
    "time_format": "%b %d %Y",
    "lags": "1,2,3,12",
    "rolling": "price:mean:6",
    "gap": 1,
    "test_size": 0.2,
    "folds": 3,
}


def stocks_csv() -> Path:
    spec = find_spec("vega_datasets")
    if spec is None or not spec.submodule_search_locations:
        raise BadInput("the vega_datasets package is not installed: `make .venv/.runtime`")
    path = Path(spec.submodule_search_locations[0]) / "_data" / "stocks.csv"
    if not path.is_file():
        raise BadInput(f"{path} is missing from the vega_datasets package")
    return path


def export_stocks(out: Path) -> Path:
    from sweeplake.timeseries.importer import import_timeseries

    return import_timeseries(stocks_csv(), out=out, **STOCKS)


def synthetic_csv(out: Path, series: int, steps: int, seed: int = 0) -> Path:
    """`series` series of `steps` days each, as a long-format CSV (series, day, value, volume):
    a random walk with a weekly season and a volume that follows the walk's moves."""
    rng = np.random.default_rng(seed)
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["series", "day", "value", "volume"])
        for s in range(series):
            moves = rng.normal(0, 1, steps)
            level = 100 + np.cumsum(moves) + 5 * np.sin(2 * np.pi * np.arange(steps) / 7)
            volume = 1000 + 200 * np.abs(moves) + rng.normal(0, 10, steps)
            for day in range(steps):
                writer.writerow(
                    [f"s{s:04d}", day, repr(float(level[day])), repr(float(volume[day]))]
                )
    return out
