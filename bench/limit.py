"""The limit a `run` process is measured against: the fits alone, on the same trials.

The fits alone are what no run can skip: for each trial, libsvm on the precomputed kernel for
the full fit and every fold, and the predictions of every point and every held-out point, with
the data already in memory (the kernel's distances computed before the clock starts) and as
many processes as cores, each forked ready and started by one signal. Everything else a run
does (start the interpreter, import, read the space and the dataset, gzip and write the lake)
is what the ratio charges it for.

`python -m bench.limit` measures both side by side at 1,000 and 10,000 trials.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from sweeplake.dataset import Dataset
from sweeplake.fitting.fit import prepare
from sweeplake.models.registry import family
from sweeplake.models.svr import KernelFit
from sweeplake.samplers.space import load_space

TARGETS = {1000: 0.8, 10000: 0.9}
TARGET_NAMES = tuple(
    (f"run --warm / fits alone trials/s, {n:,} SVR trials", t) for n, t in TARGETS.items()
)


def fits_alone(dataset: Dataset, trials: int, seed: int) -> float:
    """Seconds for the fits of the trials `run --model svr --trials N --seed S --cv 5` fits."""
    inputs = prepare(dataset, {"svr"}, cv=True)
    sampled = load_space().sample(["svr"], trials, seed)
    cores = len(os.sched_getaffinity(0))
    svr = family("svr")

    def worker(share: list) -> None:
        for trial in share:
            # The family's own fit on the shared kernel, without its start's parameter checks.
            fitting = KernelFit(svr, inputs, trial)
            fitting.fit()
            fitting.predict()
            for split in range(len(inputs.splits)):
                fitting.fold(split)

    from bench.bench import forked_at_once

    shares = [(sampled[i::cores],) for i in range(cores)]
    return forked_at_once(worker, shares, "a fits-alone worker")


def side_by_side(
    dataset: Dataset, work: Path, sizes: tuple[int, ...], rounds: int, seed: int
) -> dict[int, tuple[float, float, float]]:
    """By trial count: (a warm run's seconds, a cold run's, the fits alone's), each the best of
    `rounds` interleaved rounds (other load only ever slows a run down). A warm run is cron's:
    `run --warm`, a fork of a warm process started before the clocks; a cold run starts its own
    interpreter and imports."""
    from bench.bench import run_process, warm_process

    best: dict[int, tuple[float, float, float]] = {}
    with warm_process():
        for trials in sizes:
            warm, cold, limits = [], [], []
            for n in range(rounds):
                flags = ["--model", "svr", "--trials", str(trials), "--budget", "3600"]
                flags += ["--cv", "5", "--seed", str(seed)]
                for start, times in (("warm", warm), ("cold", cold)):
                    lake = work / f"limit-{trials}-{start}-{n}"
                    started = time.perf_counter()
                    run_process(*flags, "--lake", str(lake), *(["--warm"] * (start == "warm")))
                    times.append(time.perf_counter() - started)
                limits.append(fits_alone(dataset, trials, seed))
            best[trials] = (min(warm), min(cold), min(limits))
    return best


def rows(measured: dict[int, tuple[float, float, float]]) -> list[tuple[str, float, float]]:
    """(target name, warm run / limit in trials per second, its limit) for each size."""
    names = dict(zip(TARGETS, TARGET_NAMES, strict=True))
    return [
        (names[n][0], limit / warm, TARGETS[n])
        for n, (warm, _, limit) in measured.items()
        if n in TARGETS
    ]


def lines(measured: dict[int, tuple[float, float, float]]) -> list[str]:
    """Each size's seconds and rates, the cold start's ratio beside the warm one's."""
    return [
        f"{trials:,} trials: run --warm {warm:.2f} s ({trials / warm:.0f} trials/s), "
        f"cold run {cold:.2f} s ({trials / cold:.0f} trials/s, {limit / cold:.2f}x the limit), "
        f"fits alone {limit:.2f} s ({trials / limit:.0f} trials/s)"
        for trials, (warm, cold, limit) in measured.items()
    ]


def main(argv: list[str] | None = None) -> int:
    from bench.bench import DATASET
    from sweeplake.dataset import load_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = tuple(int(n) for n in args.sizes.split(","))
    dataset = load_dataset(DATASET)
    print(f"python -m bench.limit --sizes {args.sizes} --rounds {args.rounds}")
    with tempfile.TemporaryDirectory(prefix="sweeplake-bench-") as scratch:
        os.environ["SWEEPLAKE_CACHE"] = str(Path(scratch) / "cache")
        measured = side_by_side(dataset, Path(scratch), sizes, args.rounds, args.seed)
    ok = True
    print("\n".join(lines(measured)))
    for name, ratio, target in rows(measured):
        passed = ratio >= target
        ok &= passed
        print(f"{name}: {ratio:.2f}x  limit >= {target:.2f}x  {'PASS' if passed else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
