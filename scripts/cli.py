"""`python -m scripts <command>`: each command parses its flags and calls one library function."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from scripts.errors import BadInput, BatchLost, LakeUnreachable, QueryFailed

log = logging.getLogger("sweeplake")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise BadInput(f"{self.prog}: {message}")


def build_parser() -> Parser:
    from scripts.paths import DEFAULT_DATASET, DEFAULT_LAKE
    from scripts.samplers.space import DEFAULT_SPACE

    lake = os.environ.get("SWEEPLAKE_LAKE") or DEFAULT_LAKE
    parser = Parser(prog="sweeplake", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    export = commands.add_parser("export-data", help="write the fixed dataset from scikit-learn")
    export.add_argument("--out", type=Path, default=DEFAULT_DATASET)

    run = commands.add_parser("run", help="sample, fit and ship one batch of trials")
    run.add_argument("--lake", default=lake, help="folder or s3://bucket/prefix")
    run.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    run.add_argument("--model", default="all", help="svr, random_forest or all")
    run.add_argument("--trials", type=int, default=40, help="at most this many trials")
    run.add_argument("--budget", type=float, default=45.0, help="seconds; no trial starts past it")
    run.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--params", type=Path, default=None, help="exact sets, one JSON per line")
    run.add_argument("--space", type=Path, default=DEFAULT_SPACE, help="search space file")
    run.add_argument(
        "--cv", type=int, default=None, help="cross-validate on the dataset's folds (default) or 0"
    )
    run.add_argument("--sampler", default="random", help="random or tpe (learns from the lake)")

    rank = commands.add_parser("rank", help="print the leaderboard")
    rank.add_argument("--lake", default=lake)
    rank.add_argument("--engine", default="duckdb", help="duckdb or athena")
    rank.add_argument("--limit", type=int, default=10)
    rank.add_argument("--format", default="table", help="table, csv or json")
    rank.add_argument("--by", default="test", help="test (R² on the test points) or cv")
    rank.add_argument(
        "--audit", action="store_true", help="check the scores against sql/rank_runs.sql"
    )
    add_athena_flags(rank)

    rescore = commands.add_parser("rescore", help="write missing scores objects from the facts")
    rescore.add_argument("--lake", default=lake)

    setup = commands.add_parser("setup", help="create the Athena database and tables")
    setup.add_argument("--lake", default=lake, help="s3://bucket/prefix the tables read")
    setup.add_argument("--print", action="store_true", help="print the statements, run nothing")
    setup.add_argument(
        "--first-day", help="YYYY-MM-DD the partitions start at (default: the lake's first)"
    )
    add_athena_flags(setup)
    return parser


def add_athena_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument("--database", help="Glue database (SWEEPLAKE_DATABASE, sweeplake)")
    command.add_argument(
        "--workgroup", help="Athena workgroup (SWEEPLAKE_ATHENA_WORKGROUP, primary)"
    )
    command.add_argument("--output", help="s3:// query results location (SWEEPLAKE_ATHENA_OUTPUT)")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )
    # botocore's INFO lines (where it found credentials, which endpoint) are not the job's events.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        args = build_parser().parse_args(argv)
        return dispatch(args)
    except BadInput as exc:
        print(f"sweeplake: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except (LakeUnreachable, BatchLost, QueryFailed) as exc:
        print(f"sweeplake: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sweeplake: interrupted", file=sys.stderr)
        return 130


def one_line(exc: Exception) -> str:
    """The message with anything unprintable escaped: a user's bytes never break the line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(exc))


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "export-data":
        from scripts.dataset import export_diabetes

        log.info("wrote %s", export_diabetes(args.out))
    elif args.command == "run":
        from scripts.run import run

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
        )
    elif args.command == "rank" and args.audit:
        from scripts.rank import audit

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
        from scripts.rank import rank

        sys.stdout.write(
            rank(
                args.lake,
                args.engine,
                args.limit,
                args.format,
                workgroup=args.workgroup,
                output=args.output,
                database=args.database,
                by=args.by,
            )
        )
    elif args.command == "rescore":
        from scripts.scores.rebuild import rescore

        rescore(args.lake)
    elif args.command == "setup":
        from scripts.engines.athena import resolve_database
        from scripts.engines.tables import printable, setup, setup_statements

        if args.print:
            database = resolve_database(args.database)
            sys.stdout.write(printable(setup_statements(args.lake, database, args.first_day)))
        else:
            setup(args.lake, args.database, args.workgroup, args.output, args.first_day)
    return 0
