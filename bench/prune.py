"""Pruning: `run --prune` against no pruning and against Optuna's pruners, on the same folds.

sweeplake runs as cron runs it, random batches of 20 into a lake of its own per seed, with and
without --prune. The same seed proposes the same trials either way, so the pairs differ by
pruning alone. CPU-seconds are every run process's user and system time, its workers
included. Optuna samples at random too, one study per seed in this process, reports the mean R²
of the folds so far after each fold as an intermediate value, and asks its MedianPruner or
SuccessiveHalvingPruner; its CPU-seconds are this process's during the study.

`python -m bench.prune --seeds 20` runs this section alone.
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


def sweeplake_seed(lake: Path, seed: int, trials: int, prune: bool) -> tuple[list, float]:
    """One seed's search: its trials in proposal order, and the CPU-seconds of its runs."""
    from bench.bench import run_process

    before = children_cpu()
    for batch in range(trials // BATCH):
        flags = ["--model", "svr", "--trials", str(BATCH), "--budget", "3600"]
        flags += ["--seed", str(seed * 1000 + batch), "--lake", str(lake)]
        run_process(*flags, *(["--prune"] if prune else []))
    return lake_outcomes(lake), children_cpu() - before


def lake_outcomes(lake: Path) -> list[tuple[str, float | None]]:
    """(status, cv_r2) of each trial, oldest first, from the lake's scores."""
    from sweeplake.scores.store import open_scores

    store = open_scores(str(lake))
    store.refresh()
    rows = store.connection.execute(
        "SELECT status, cv_r2 FROM scores ORDER BY hyper_id"  # the bench's own look
    ).fetchall()
    return [(status, value) for status, value in rows]


def best_ok(outcomes: list[tuple[str, float | None]], trials: int) -> float:
    return max(v for s, v in outcomes[:trials] if s == "ok" and v is not None)


def optuna_seed(objective: quality.Objective, pruner: str, seed: int, trials: int):
    """One Optuna study with a pruner, random sampling: best complete cv_r2 and CPU-seconds."""
    import optuna
    from sklearn.metrics import r2_score

    from sweeplake.samplers.space import load_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    chosen = (
        optuna.pruners.MedianPruner()
        if pruner == "median"
        else optuna.pruners.SuccessiveHalvingPruner()
    )
    space = load_space().models["svr"]
    splits = list(objective.folds.split())
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed), pruner=chosen
    )

    def evaluate(trial: optuna.Trial) -> float:
        params = {p.name: quality.suggest(trial, p) for p in space}
        scores = []
        for step, (fit_rows, held_out) in enumerate(splits):
            model = quality.sklearn_estimator("svr", params, 0)
            model.fit(objective.x_train[fit_rows], objective.y_train[fit_rows])
            predicted = model.predict(objective.x_train[held_out])
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


def main(argv: list[str] | None = None) -> int:
    from bench.bench import DATASET, render
    from sweeplake.dataset import load_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--trials", type=int, default=100)
    args = parser.parse_args(argv)
    print(f"python -m bench.prune --seeds {args.seeds} --trials {args.trials}")
    objective = quality.Objective(load_dataset(DATASET))
    plain, pruned = [], []
    with tempfile.TemporaryDirectory(prefix="sweeplake-bench-") as scratch:
        os.environ["SWEEPLAKE_CACHE"] = str(Path(scratch) / "cache")
        for seed in range(args.seeds):
            plain.append(sweeplake_seed(Path(scratch) / f"plain-{seed}", seed, args.trials, False))
            pruned.append(sweeplake_seed(Path(scratch) / f"prune-{seed}", seed, args.trials, True))
    peers = {
        name: [optuna_seed(objective, name, seed, args.trials) for seed in range(args.seeds)]
        for name in ("median", "halving")
    }
    rows = [("contender", "median best cv_r2", "CPU-s per seed", "trials per CPU-s")]
    ours = {
        "sweeplake, no pruning": [(best_ok(o, args.trials), cpu) for o, cpu in plain],
        "sweeplake --prune": [(best_ok(o, args.trials), cpu) for o, cpu in pruned],
        "Optuna MedianPruner": peers["median"],
        "Optuna SuccessiveHalvingPruner": peers["halving"],
    }
    for name, runs in ours.items():
        cpu = statistics.median(c for _, c in runs)
        best = statistics.median(b for b, _ in runs)
        rows.append((name, f"{best:.4f}", f"{cpu:.1f}", f"{args.trials / cpu:.1f}"))
    print(render(rows))
    share = statistics.median(p[1] / q[1] for p, q in zip(pruned, plain, strict=True))
    quality_gap = paired([b for b, _ in ours["sweeplake --prune"]], [b for b, _ in ours[
        "sweeplake, no pruning"]])  # fmt: skip
    rate = args.trials / statistics.median(c for _, c in ours["sweeplake --prune"])
    best_peer = max(
        ("Optuna MedianPruner", "Optuna SuccessiveHalvingPruner"),
        key=lambda n: args.trials / statistics.median(c for _, c in ours[n]),
    )
    peer_rate = args.trials / statistics.median(c for _, c in ours[best_peer])
    checks = [
        (
            "--prune CPU-s / no pruning's, median of pairs",
            share,
            f"<= {CPU_SHARE}",
            share <= CPU_SHARE,
        ),
        (
            "--prune - no pruning, best cv_r2, 90% CI low",
            quality_gap.low,
            f">= {-MARGIN}",
            quality_gap.low >= -MARGIN,
        ),
        (f"--prune / {best_peer} trials per CPU-s", rate / peer_rate, "> 1", rate > peer_rate),
    ]
    print(f"\npaired: --prune - no pruning, best cv_r2 {quality_gap.shown()}")
    for name, value, limit, ok in checks:
        print(f"{name}: {value:+.4f}  limit {limit}  {'PASS' if ok else 'FAIL'}")
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
