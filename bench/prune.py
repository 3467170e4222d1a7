"""Pruning: `run --prune` against no pruning and against Optuna's pruners, on the same folds.

sweeplake runs as cron runs it, random batches of 20 into a lake of its own per seed, with and
without --prune, each start `run --warm` (the cron line's): a fork of one warm process started
before the section. The same seed proposes the same trials either way, so the pairs differ by
pruning alone. CPU-seconds are every `run` client's user and system time, and every fork's
with its workers (its batch's cpu_ms); the warm process's own (its imports, once) is printed
apart. Optuna samples at random too, one study per seed in this process, reports the mean R²
of the folds so far after each fold as an intermediate value, and asks its MedianPruner or
SuccessiveHalvingPruner; its CPU-seconds are this process's during the study.

SVR by default; `--model random_forest` runs forests of at most `--forest-trees` trees, the
search bench's smaller space. `make bench` runs both; `python -m bench.prune --seeds 20` runs
this section alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import search as quality
from bench.verdicts import paired

BATCH = 20
MARGIN = 0.002
CPU_SHARE = 0.5


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sweeplake_seed(
    lake: Path, model: str, seed: int, trials: int, prune: bool, space: Path | None = None
) -> tuple[list, float]:
    """One seed's search, started as cron's line starts it (`run --warm`, each batch a fork of
    the warm process bench.bench.warm_process started): its trials in proposal order, and its
    CPU-seconds. Those are every `run` client's (this process's children) and every fork's with
    its workers (their batches' cpu_ms): the warm process is reaped only at the section's end."""
    from bench.bench import run_process

    before = children_cpu()
    for batch in range(trials // BATCH):
        flags = ["--model", model, "--trials", str(BATCH), "--budget", "3600", "--warm"]
        flags += ["--seed", str(seed * 1000 + batch), "--lake", str(lake)]
        flags += ["--space", str(space)] if space is not None else []
        run_process(*flags, *(["--prune"] if prune else []))
    clients = children_cpu() - before
    records = batch_timings(lake)
    if any(r["cold"] is not False for r in records):
        sys.exit(f"bench: a --warm start into {lake} found no warm process")
    return lake_outcomes(lake), clients + sum(r["cpu_ms"] for r in records) / 1000


def batch_timings(lake: Path) -> list[dict]:
    import gzip
    import json

    return [
        json.loads(line)
        for path in lake.glob("timings/dt=*/*.json.gz")
        for line in gzip.decompress(path.read_bytes()).splitlines()
    ]


def lake_outcomes(lake: Path) -> list[tuple[str, float | None]]:
    """(status, cv_r2) of each trial, oldest first, from the lake's scores."""
    from sweeplake.scores.store import open_scores

    store = open_scores(str(lake))
    store.refresh()
    rows = store.connection.execute(
        "SELECT status, cv_r2 FROM scores ORDER BY hyper_id"  # the bench's own look
    ).fetchall()
    return [(status, value) for status, value in rows]


def fitting_seconds(lake: Path) -> float:
    """The batches' fitting phases (wall seconds, from their timings objects): what pruning
    saves, without each batch's start and lake reads and writes."""
    return sum(record["fitting_ms"] / 1000 for record in batch_timings(lake))


def best_ok(outcomes: list[tuple[str, float | None]], trials: int) -> float:
    return max(v for s, v in outcomes[:trials] if s == "ok" and v is not None)


def optuna_seed(
    objective: quality.Objective, spaces, model: str, pruner: str, seed: int, trials: int
):
    """One Optuna study with a pruner, random sampling: best complete cv_r2 and CPU-seconds."""
    import optuna
    from sklearn.metrics import r2_score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    chosen = (
        optuna.pruners.MedianPruner()
        if pruner == "median"
        else optuna.pruners.SuccessiveHalvingPruner()
    )
    space = spaces.models[model]
    splits = list(objective.folds.split())
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed), pruner=chosen
    )

    def evaluate(trial: optuna.Trial) -> float:
        params = {p.name: quality.suggest(trial, p) for p in space}
        scores = []
        for step, (fit_rows, held_out) in enumerate(splits):
            fitted = quality.sklearn_estimator(model, params, trial.number)
            fitted.fit(objective.x_train[fit_rows], objective.y_train[fit_rows])
            predicted = fitted.predict(objective.x_train[held_out])
            scores.append(r2_score(objective.y_train[held_out], predicted))
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    started = time.process_time()
    study.optimize(evaluate, n_trials=trials)
    cpu = time.process_time() - started
    complete = [t.value for t in study.trials if t.value is not None]
    return max(complete), cpu


def section(
    model: str, seeds: int, trials: int, work: Path, space: Path | None = None
) -> tuple[str, tuple[float, float, float]]:
    """The pruning table and verdicts for one model, and the three measured values in the order
    of target_names(model)."""
    from bench.bench import DATASET, render, warm_process
    from sweeplake.dataset import load_dataset
    from sweeplake.samplers.space import load_space

    objective = quality.Objective(load_dataset(DATASET))
    spaces = load_space(space) if space is not None else load_space()
    plain, pruned = [], []
    fits: dict[str, list[float]] = {"plain": [], "prune": []}
    before = children_cpu()
    with warm_process():
        for seed in range(seeds):
            for name, runs in (("plain", plain), ("prune", pruned)):
                lake = work / f"prune-{model}-{name}-{seed}"
                runs.append(sweeplake_seed(lake, model, seed, trials, name == "prune", space))
                fits[name].append(fitting_seconds(lake))
    # Reaped now: the warm process, its forks and theirs; less what the seeds were charged.
    warm_own = children_cpu() - before - sum(cpu for _, cpu in plain + pruned)
    peers = {
        name: [optuna_seed(objective, spaces, model, name, seed, trials) for seed in range(seeds)]
        for name in ("median", "halving")
    }
    rows = [("contender", "median best cv_r2", "CPU-s per seed", "trials per CPU-s")]
    ours = {
        "sweeplake, no pruning": [(best_ok(o, trials), cpu) for o, cpu in plain],
        "sweeplake --prune": [(best_ok(o, trials), cpu) for o, cpu in pruned],
        "Optuna MedianPruner": peers["median"],
        "Optuna SuccessiveHalvingPruner": peers["halving"],
    }
    for name, runs in ours.items():
        cpu = statistics.median(c for _, c in runs)
        best = statistics.median(b for b, _ in runs)
        rows.append((name, f"{best:.4f}", f"{cpu:.1f}", f"{trials / cpu:.1f}"))
    share = statistics.median(p[1] / q[1] for p, q in zip(pruned, plain, strict=True))
    quality_gap = paired([b for b, _ in ours["sweeplake --prune"]], [b for b, _ in ours[
        "sweeplake, no pruning"]])  # fmt: skip
    rate = trials / statistics.median(c for _, c in ours["sweeplake --prune"])
    best_peer = max(
        ("Optuna MedianPruner", "Optuna SuccessiveHalvingPruner"),
        key=lambda n: trials / statistics.median(c for _, c in ours[n]),
    )
    peer_rate = trials / statistics.median(c for _, c in ours[best_peer])
    fitting = statistics.median(p / q for p, q in zip(fits["prune"], fits["plain"], strict=True))
    text = "\n".join(
        [
            f"pruning, {model}: {seeds} seeds of {trials} trials, random batches of {BATCH}, "
            f"each `run --warm` (cron's line)",
            render(rows),
            f"the warm process itself (its imports, once, and its loop): {warm_own:.1f} CPU-s over "
            f"{2 * seeds * (trials // BATCH)} starts, charged to none",
            f"the batches' fitting phases alone, --prune / no pruning, median of pairs: "
            f"{fitting:.2f}x (the rest of a batch's CPU is its start and its lake reads/writes)",
            f"paired: --prune - no pruning, best cv_r2 {quality_gap.shown()}; "
            f"best Optuna peer by trials per CPU-s: {best_peer}",
        ]
    )
    return text, (share, quality_gap.low, rate / peer_rate)


def target_names(model: str) -> tuple[tuple[str, str, float, str], ...]:
    """(name, comparison, limit, format) of the pruning targets, as bench.bench's TARGETS."""
    return (
        (f"{model} --prune CPU-s / no pruning's, median of pairs", "<=", CPU_SHARE, "{:.2f}x"),
        (f"{model} --prune - no pruning, best cv_r2, 90% CI low", ">=", -MARGIN, "{:+.4f}"),
        (f"{model} --prune / best Optuna pruner, trials per CPU-s", ">", 1.0, "{:.2f}x"),
    )


def main(argv: list[str] | None = None) -> int:
    from bench.bench import targets_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--model", choices=("svr", "random_forest"), default="svr")
    parser.add_argument("--forest-trees", type=int, default=30, help="most trees, forests")
    args = parser.parse_args(argv)
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items())
    print(f"python -m bench.prune {flags}")
    with tempfile.TemporaryDirectory(prefix="sweeplake-bench-") as scratch:
        work = Path(scratch)
        os.environ["SWEEPLAKE_CACHE"] = str(work / "cache")
        forests = args.model == "random_forest"
        space = quality.forest_space(work, args.forest_trees) if forests else None
        text, measured = section(args.model, args.seeds, args.trials, work, space)
    print(text)
    table, passed = targets_table(measured, target_names(args.model))
    print(table)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
