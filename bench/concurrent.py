"""Four machines at once against one: the best cv_r2 sweeplake's TPE reaches after 50 and 100
SVR trials when four `run` processes write one lake at the same time, each seeing the others'
pending trials, against one process alone; paired by seed, decided by a bootstrap interval.

`python -m bench.concurrent` runs this section alone; `make bench` runs it within the search
section.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench import search as quality
from bench.verdicts import Paired, paired

CHECKPOINTS = (50, 100)
PROCESSES = 4
MARGIN = 0.002  # the 90% interval of (4 processes - 1 process) must not reach below -MARGIN
ONE = f"sweeplake tpe, batches of {quality.BATCH}"
MANY = f"{ONE}, {PROCESSES} processes at once"
TARGET_NAMES = tuple(f"svr @{n}: tpe {PROCESSES} processes - 1, 90% CI low" for n in CHECKPOINTS)


def differences(searches: list[quality.Search]) -> dict[int, Paired]:
    """By checkpoint: 4 processes - 1 process, best cv_r2 of each seed's first N trials."""
    found = {s.contender: s for s in searches if s.model == "svr"}
    return {
        trials: paired(
            [t.cv_r2 for t in found[MANY].best(trials)], [t.cv_r2 for t in found[ONE].best(trials)]
        )
        for trials in CHECKPOINTS
    }


def targets(found: dict[int, Paired]) -> list[tuple[str, float, str]]:
    """(name, the interval's low end, how the median and interval read) for each checkpoint."""
    return [(name, d.low, d.shown()) for name, d in zip(TARGET_NAMES, found.values(), strict=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30, help="paired SVR searches")
    parser.add_argument("--trials", type=int, default=max(CHECKPOINTS), help="per search")
    parser.add_argument("--jobs", type=int, default=2, help="single-process searches at once")
    args = parser.parse_args(argv)
    from bench.bench import render, run_process

    print(f"python -m bench.concurrent --seeds {args.seeds} --trials {args.trials}")
    with tempfile.TemporaryDirectory(prefix="sweeplake-bench-") as scratch:
        work = Path(scratch)
        os.environ["SWEEPLAKE_CACHE"] = str(work / "cache")
        searches = [
            quality.sweeplake_search(
                run_process,
                work,
                "svr",
                "tpe",
                args.seeds,
                args.trials,
                processes=processes,
                jobs=jobs,
            )
            for processes, jobs in ((1, args.jobs), (PROCESSES, 1))
        ]
    checkpoints = tuple(n for n in CHECKPOINTS if n <= args.trials)
    print(render(quality.quality_rows(searches, checkpoints)))
    ok = True
    print(f"\npaired over {args.seeds} seeds: median [90% bootstrap interval]")
    for name, low, shown in targets(differences(searches)):
        passed = low >= -MARGIN
        ok &= passed
        print(f"{name}: {shown}  limit >= {-MARGIN:+.4f}  {'PASS' if passed else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
