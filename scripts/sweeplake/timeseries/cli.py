"""The flags of `sweeplake import-data` that make a time-series dataset, and their command."""

from __future__ import annotations

import argparse


def timeseries_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("time series (with --time-column)")
    group.add_argument(
        "--time-column",
        metavar="COLUMN",
        help="the column of each row's time: makes a time-series dataset, split by time "
        "(default: none: a tabular dataset, shuffled)",
    )
    group.add_argument(
        "--series-column",
        metavar="COLUMN",
        help="the column naming each row's series (a firm, a symbol) (default: one series)",
    )
    group.add_argument(
        "--time-format",
        metavar="FORMAT",
        help="strptime format of the time column (default: numbers or ISO 8601)",
    )
    group.add_argument(
        "--lags",
        default="1",
        metavar="K,K",
        help="lags of the target, in steps, each a feature (default: 1)",
    )
    group.add_argument(
        "--rolling",
        metavar="COLUMN:STAT:WINDOW,...",
        help="rolling statistics over the WINDOW steps before each step (STAT: mean, median, "
        "std, min, max, sum), e.g. 'Volume:mean:30,Adj Close:median:30' (default: none)",
    )
    group.add_argument(
        "--gap",
        type=int,
        default=0,
        metavar="N",
        help="steps left out between a fold's training end and its validation start",
    )
    group.add_argument(
        "--folds",
        type=int,
        default=5,
        metavar="K",
        help="forward-chaining (expanding window) folds over each series' training steps",
    )


def import_command(args: argparse.Namespace) -> None:
    from sweeplake.timeseries.importer import import_timeseries

    import_timeseries(
        args.csv or args.parquet,
        args.target,
        args.time_column,
        series_column=args.series_column,
        lags=args.lags,
        rolling=args.rolling or "",
        gap=args.gap,
        test_size=args.test_size,
        folds=args.folds,
        time_format=args.time_format,
        out=args.out,
    )


def export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stocks",
        action="store_true",
        help="write the monthly prices of five stocks (2000-2010, shipped in the vega_datasets "
        "package) as a time-series dataset instead (default --out: stocks.json beside the "
        "diabetes file)",
    )


def series_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--series",
        action="store_true",
        help="on time-series datasets: the best trial of every series, by its RMSE on the "
        "series' test steps (or out of fold, with --by cv), with MAE and MAPE there and the "
        "trial's MAPE over every series",
    )
