"""`python -m scripts <command>`: each command parses its flags and calls one library function."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from scripts.errors import BadInput, LakeUnreachable

log = logging.getLogger("sweeplake")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise BadInput(f"{self.prog}: {message}")


def build_parser() -> Parser:
    from scripts.run import DEFAULT_DATASET, DEFAULT_LAKE
    from scripts.space import DEFAULT_SPACE

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

    rank = commands.add_parser("rank", help="print the leaderboard")
    rank.add_argument("--lake", default=lake)
    rank.add_argument("--engine", default="duckdb", help="duckdb or athena")
    rank.add_argument("--limit", type=int, default=10)
    rank.add_argument("--format", default="table", help="table, csv or json")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )
    try:
        args = build_parser().parse_args(argv)
        return dispatch(args)
    except BadInput as exc:
        print(f"sweeplake: error: {exc}", file=sys.stderr)
        return 2
    except LakeUnreachable as exc:
        print(f"sweeplake: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sweeplake: interrupted", file=sys.stderr)
        return 130


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
        )
    elif args.command == "rank":
        from scripts.rank import leaderboard, open_engine, render

        if args.format not in ("table", "csv", "json"):
            raise BadInput(f"unknown format {args.format!r:.40}: choose table, csv or json")
        rows = leaderboard(open_engine(args.lake, args.engine), args.limit)
        sys.stdout.write(render(rows, args.format))
    return 0
