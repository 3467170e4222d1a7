"""`sweeplake <command>` (or `python -m sweeplake <command>` in the repository): each command
parses its flags and calls one library function."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path

from sweeplake.errors import (
    AllTrialsFailed,
    BadInput,
    BatchLost,
    LakeRefused,
    LakeUnreachable,
    QueryFailed,
    SparkFailed,
)
from sweeplake.procinfo import configure_logging
from sweeplake.timeseries.cli import export_arguments, series_arguments, timeseries_arguments

log = logging.getLogger("sweeplake")


DESCRIPTION = """\
Hyperparameter sweeps that land in a data lake you read with SQL. Each `run` samples
hyperparameters for each model family, fits every trial on one dataset, predicts every
point and writes the batch to a lake: a local folder or s3://bucket/prefix. `rank`
prints every trial ranked by test R2, per dataset. Cron starts one `run` a minute."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise BadInput(f"{message} (see `{self.prog} --help`)")

    def parse_args(self, args=None, namespace=None) -> argparse.Namespace:
        # argparse finds unknown flags at the top level; point at the command that was meant.
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            where = " ".join(filter(None, (self.prog, getattr(parsed, "command", None))))
            raise BadInput(f"unrecognized arguments: {' '.join(extras)} (see `{where} --help`)")
        return parsed


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default; a flag whose default is None says in words what it means."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> Parser:
    from sweeplake.models.registry import families
    from sweeplake.paths import (
        DEFAULT_DATASET,
        DEFAULT_EXPORT,
        DEFAULT_LAKE,
        DEFAULT_MODEL,
        DEFAULT_REPORT,
        DEFAULT_TABLE_ROWS,
        DEFAULT_TRIALS,
        SPLIT_RANDOM_STATE,
        SPLIT_TEST_SIZE,
    )
    from sweeplake.warm import IDLE_SECONDS  # imported before this module (__main__.py)

    lake = os.environ.get("SWEEPLAKE_LAKE") or DEFAULT_LAKE
    lake_help = "a folder or s3://bucket/prefix; $SWEEPLAKE_LAKE sets the default"
    parser = Parser(
        prog="sweeplake",
        description=DESCRIPTION,
        epilog="`sweeplake COMMAND --help` explains a command's flags.",
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    from sweeplake import __version__

    parser.add_argument("--version", action="version", version=f"sweeplake {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=Parser, metavar="COMMAND"
    )

    def command(name: str, summary: str) -> Parser:
        return add_command(commands, name, summary)

    export = command("export-data", "write scikit-learn's diabetes data as a dataset file")
    export.add_argument(
        "--out", type=Path, default=DEFAULT_EXPORT, metavar="PATH", help="dataset file to write"
    )
    export_arguments(export)

    imported = command(
        "import-data",
        "write a dataset file from a numeric CSV with a header, or a time series from a "
        "long-format CSV or Parquet table (--time-column)",
    )
    source = imported.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="the CSV file to read (default: none; this or --parquet is required)",
    )
    source.add_argument(
        "--parquet",
        type=Path,
        metavar="PATH",
        help="a Parquet file or folder to read: streamed with --out X.parquet, or a time series "
        "with --time-column (default: none)",
    )
    imported.add_argument("--target", required=True, metavar="COLUMN", help="the column to predict")
    imported.add_argument(
        "--test-size",
        type=float,
        default=SPLIT_TEST_SIZE,
        metavar="FRACTION",
        help="fraction of rows held out as test points",
    )
    imported.add_argument(
        "--seed", type=int, default=SPLIT_RANDOM_STATE, metavar="N", help="the split's random_state"
    )
    imported.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="dataset file to write; its name names the dataset; X.parquet streams the source "
        "through DuckDB, for sources larger than memory "
        "(default: the CSV's path with .json in place of .csv)",
    )
    timeseries_arguments(imported)

    run = command("run", "sample, fit and write one batch of trials")
    run.add_argument(
        "--lake", default=lake, metavar="URI", help=f"where the batch goes: {lake_help}"
    )
    run.add_argument(
        "--dataset",
        default=DEFAULT_DATASET,
        metavar="PATH",
        help="dataset to fit and predict: a JSON lines file (see import-data), or Parquet with "
        "the same columns (a .parquet file or a folder of them, local or s3://)",
    )
    run.add_argument(
        "--model",
        metavar="MODEL",
        help=f"{', '.join(families())} or all (default: {DEFAULT_MODEL}; not with --params)",
    )
    run.add_argument(
        "--trials",
        type=int,
        metavar="N",
        help=f"trials in this start, split between the models "
        f"(default: {DEFAULT_TRIALS}; not with --params)",
    )
    run.add_argument(
        "--budget",
        type=float,
        default=45.0,
        metavar="SECONDS",
        help="no trial starts that would end past this many seconds, counted from the first fit",
    )
    run.add_argument(
        "--workers", type=int, metavar="N", help="worker processes that fit (default: one per core)"
    )
    run.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="0 to 2**32-1: the same seed samples the same trials "
        "(default: a fresh random seed each start)",
    )
    run.add_argument(
        "--params",
        type=Path,
        metavar="FILE",
        help="file of exact parameter sets, one JSON object a line, fitted instead of sampling; "
        "refused with --model or --trials, since the file names the models and the count "
        "(default: sample from --space)",
    )
    run.add_argument(
        "--space",
        type=Path,
        metavar="FILE",
        help="search space file to sample from, as JSON {model: {param: spec}} "
        "(default: each model family's own space)",
    )
    run.add_argument(
        "--sampler",
        default="random",
        help="random, or tpe: Optuna's TPE fed the lake's trials, optimising cv_r2",
    )
    run.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="cross-validate every trial on the dataset's K folds, 0 for none "
        "(default: every fold the dataset has)",
    )
    run.add_argument(
        "--runner",
        default="local",
        help="local (worker processes on this machine) or spark (the trials as Spark tasks)",
    )
    run.add_argument(
        "--spark-master",
        metavar="URL",
        help="with --runner spark: the master to start Spark on, as local[4] or yarn "
        "(default: the session spark-submit gives, else local[*])",
    )
    run.add_argument(
        "--prune",
        action="store_true",
        help="fit the folds first and stop a trial after any fold where its mean R2 so far is "
        "below the lake's median at that fold (recorded as pruned, no full fit)",
    )
    run.add_argument(
        "--groves",
        type=int,
        metavar="K",
        help="grow each random forest as K groves of its trees, each fitted apart by a worker "
        "and combined by sql/create_forest_predict.sql (default: one forest)",
    )

    run.add_argument(
        "--warm",
        action="store_true",
        help="fork the run from a warm process that has scikit-learn imported (sweeplake "
        "warm); without one, run cold and start one for the next start",
    )

    rank = command("rank", "print the trials ranked by test R2, per dataset")
    rank.add_argument("--lake", default=lake, metavar="URI", help=f"the lake to rank: {lake_help}")
    rank.add_argument("--engine", default="duckdb", help="duckdb (embedded) or athena")
    rank.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="the best N trials of each dataset "
        f"(default: {DEFAULT_TABLE_ROWS} for the table, every trial for csv and json)",
    )
    rank.add_argument("--format", default="table", help="table, csv or json")
    rank.add_argument(
        "--by",
        default="test",
        help="order by test R2 (test) or by cross-validated R2 (cv), test R2 beside it",
    )
    rank.add_argument(
        "--audit", action="store_true", help="check the scores against sql/rank_runs.sql"
    )
    rank.add_argument(
        "--dataset", metavar="NAME", help="rank only this dataset (default: every dataset)"
    )
    series_arguments(rank)
    add_athena_flags(rank)

    rescore = command("rescore", "write missing scores objects from the facts")
    rescore.add_argument("--lake", default=lake, metavar="URI", help=f"the lake: {lake_help}")

    compact = command("compact", "closed days' scores into Parquet, for Athena")
    compact.add_argument("--lake", default=lake, metavar="URI", help="s3://bucket/prefix")
    add_athena_flags(compact)

    setup = command("setup", "create the Athena database and tables over an S3 lake")
    setup.add_argument(
        "--lake", default=lake, metavar="URI", help="the s3://bucket/prefix the tables read"
    )
    setup.add_argument("--print", action="store_true", help="print the statements and run nothing")
    setup.add_argument(
        "--first-day",
        metavar="YYYY-MM-DD",
        help="the day the partitions start at (default: the lake's first)",
    )
    add_athena_flags(setup)

    spool = command("spool", "list, ship or drop the batches waiting for an S3 lake")
    actions = spool.add_subparsers(
        dest="action", required=True, parser_class=Parser, metavar="ACTION", help="what to do"
    )

    add_command(actions, "list", "every waiting batch: its id, lake, age and size")
    ship = add_command(actions, "ship", "ship the waiting batches now")
    ship.add_argument(
        "--lake", metavar="URI", help="only those for this s3:// lake (default: every lake)"
    )
    drop = add_command(actions, "drop", "delete one waiting batch for good: its trials are lost")
    drop.add_argument("batch_id", metavar="BATCH_ID", help="as `spool list` shows it")
    drop.add_argument("--yes", action="store_true", help="drop it (without: only say what is lost)")

    report = command("report", "write the lake's report: one self-contained HTML page of plots")
    report.add_argument("--lake", default=lake, metavar="URI", help=f"the lake: {lake_help}")
    report.add_argument(
        "--out", type=Path, default=DEFAULT_REPORT, metavar="PATH", help="HTML file to write"
    )

    promote = command("promote", "refit a trial, check it against its facts, store it as a model")
    promote.add_argument("--lake", default=lake, metavar="URI", help=f"the lake: {lake_help}")
    chosen = promote.add_mutually_exclusive_group()
    chosen.add_argument(
        "--hyper-id", metavar="ID", help="the trial to promote (default: the best, see --by)"
    )
    chosen.add_argument(
        "--by",
        metavar="SCORE",
        help="the best by test or cv R2 (default: cv when the lake has it, else test)",
    )

    clear = command("clear", "delete a lake's batches: say what would go, or with --yes delete it")
    clear.add_argument("--lake", default=lake, metavar="URI", help=f"the lake: {lake_help}")
    clear.add_argument(
        "--before",
        metavar="YYYY-MM-DD",
        help="only batches of days before this one (UTC; default: every day)",
    )
    clear.add_argument(
        "--dataset", metavar="NAME", help="only batches of this dataset (default: every dataset)"
    )
    clear.add_argument(
        "--yes", action="store_true", help="delete them (without: only print what would go)"
    )

    serve = command("serve", "serve a promoted model over HTTP (FastAPI, docs at /docs)")
    serve.add_argument("--lake", default=lake, metavar="URI", help=f"the lake: {lake_help}")
    serve.add_argument(
        "--model", metavar="ID", help="hyper_id of a promoted model (default: the latest)"
    )
    serve.add_argument("--host", default="127.0.0.1", metavar="HOST", help="address to listen on")
    serve.add_argument(
        "--port", type=int, default=8000, metavar="N", help="port to listen on; 0 picks a free one"
    )
    warm = command("warm", "keep a warm process that forks each `run --warm` (made by run)")
    warm.add_argument(
        "--socket",
        type=Path,
        metavar="PATH",
        help="where to listen (default: the socket `run --warm` looks for, from here)",
    )
    warm.add_argument(
        "--idle",
        type=float,
        default=IDLE_SECONDS,
        metavar="SECONDS",
        help="exit after this long without a run",
    )
    return parser


def add_command(commands: argparse._SubParsersAction, name: str, summary: str) -> Parser:
    return commands.add_parser(
        name,
        help=summary,
        description=summary,
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )


def add_athena_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--database",
        metavar="NAME",
        help="Glue database (default: $SWEEPLAKE_DATABASE, else sweeplake)",
    )
    command.add_argument(
        "--workgroup",
        metavar="NAME",
        help="Athena workgroup (default: $SWEEPLAKE_ATHENA_WORKGROUP, else primary)",
    )
    command.add_argument(
        "--output",
        metavar="S3URI",
        help="s3:// location for Athena's query results "
        "(default: $SWEEPLAKE_ATHENA_OUTPUT, else the workgroup's)",
    )


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    try:
        args = build_parser().parse_args(argv)
        return dispatch(args)
    except BadInput as exc:
        print(f"sweeplake: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except (LakeUnreachable, BatchLost, QueryFailed, SparkFailed) as exc:
        print(f"sweeplake: {one_line(exc)}", file=sys.stderr)
        return 1
    except LakeRefused as exc:
        print(f"sweeplake: {one_line(exc)}", file=sys.stderr)
        return 3
    except AllTrialsFailed as exc:
        print(f"sweeplake: {one_line(exc)}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        print("sweeplake: interrupted", file=sys.stderr)
        return 130


def console(warm_tried: bool = False) -> int:
    """The `sweeplake` command and `python -m sweeplake`: main, then a quick exit. `run
    --warm` hands the whole command to a warm process when one answers (sweeplake/warm.py);
    `python -m sweeplake` tries that before importing this module (`warm_tried`)."""
    argv = sys.argv[1:]
    if not warm_tried:
        from sweeplake.warm import warm_start

        code = warm_start(argv)
        if code is not None:
            return code
    try:
        return main(argv)
    finally:
        # The interpreter's last garbage collection at exit walks every object the imports
        # made (sklearn, scipy): ~0.15 s of a ~1 s start. Frozen objects are skipped; atexit
        # handlers, flushes and closes still run. Not once DuckDB is loaded: its binding counts
        # its objects at exit and prints a leak report for each one left uncollected.
        if "_duckdb" not in sys.modules:
            gc.freeze()


def one_line(exc: Exception) -> str:
    """The message with anything unprintable escaped: a user's bytes never break the line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(exc))


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "export-data" and args.stocks:
        from sweeplake.paths import DEFAULT_EXPORT
        from sweeplake.timeseries.examples import export_stocks

        export_stocks(args.out.with_name("stocks.json") if args.out == DEFAULT_EXPORT else args.out)
    elif args.command == "export-data":
        from sweeplake.dataset import export_diabetes

        log.info("wrote %s", export_diabetes(args.out))
    elif args.command == "import-data" and args.time_column:
        from sweeplake.timeseries.cli import import_command

        import_command(args)
    elif args.command == "import-data":
        if args.out is not None and args.out.suffix == ".parquet":
            from sweeplake.importbig import import_parquet

            source = args.csv or args.parquet
            import_parquet(source, args.target, args.test_size, args.seed, args.out)
        elif args.parquet is not None:
            raise BadInput("--parquet is read by streaming: give --out a .parquet path")
        else:
            from sweeplake.importcsv import import_csv

            import_csv(args.csv, args.target, args.test_size, args.seed, args.out)
    elif args.command == "run":
        from sweeplake.run import run

        run(
            lake=args.lake,
            dataset=args.dataset,
            model=args.model,
            trials=args.trials,
            budget=args.budget,
            workers=args.workers,
            seed=args.seed,
            params=args.params,
            space=args.space,
            cv=args.cv,
            sampler=args.sampler,
            runner=args.runner,
            spark_master=args.spark_master,
            prune=args.prune,
            groves=args.groves,
        )
    elif args.command == "warm":
        from sweeplake.warm import serve

        if args.idle <= 0:
            raise BadInput(f"--idle must be a positive number of seconds, got {args.idle}")
        return serve(main, args.socket, args.idle)
    elif args.command == "rank" and args.series:
        from sweeplake.timeseries.ranking import rank_series

        sys.stdout.write(rank_series(args.lake, args.by, args.format, args.dataset))
    elif args.command == "rank" and args.audit:
        from sweeplake.rank import audit

        agrees, report = audit(
            args.lake,
            args.engine,
            workgroup=args.workgroup,
            output=args.output,
            database=args.database,
        )
        sys.stdout.write(report)
        return 0 if agrees else 1
    elif args.command == "rank":
        from sweeplake.rank import rank

        sys.stdout.write(
            rank(
                args.lake,
                args.engine,
                args.limit,
                args.format,
                dataset=args.dataset,
                workgroup=args.workgroup,
                output=args.output,
                database=args.database,
                by=args.by,
            )
        )
    elif args.command == "rescore":
        from sweeplake.scores.rebuild import rescore

        rescore(args.lake)
    elif args.command == "compact":
        from sweeplake.scores.compact import compact

        compact(args.lake, args.database, args.workgroup, args.output)
    elif args.command == "setup":
        from sweeplake.engines.athena import resolve_database
        from sweeplake.engines.tables import printable, setup, setup_statements

        if args.print:
            database = resolve_database(args.database)
            sys.stdout.write(printable(setup_statements(args.lake, database, args.first_day)))
        else:
            setup(args.lake, args.database, args.workgroup, args.output, args.first_day)
    elif args.command == "spool":
        from sweeplake import spooled

        if args.action == "list":
            sys.stdout.write(spooled.list_spool())
        elif args.action == "ship":
            log.info("%d batch(es) shipped", spooled.ship_spool(args.lake))
        else:
            log.warning(spooled.drop_batch(args.batch_id, args.yes))
    elif args.command == "report":
        from sweeplake.report.build import report

        report(args.lake, args.out)
    elif args.command == "promote":
        from sweeplake.models.promote import promote

        promote(args.lake, args.hyper_id, args.by)
    elif args.command == "clear":
        from sweeplake.clear import clear

        sys.stdout.write(clear(args.lake, args.before, args.dataset, args.yes))
    elif args.command == "serve":
        from sweeplake.api import serve

        serve(args.lake, args.model, args.host, args.port)
    return 0
