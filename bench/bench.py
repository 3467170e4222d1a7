"""`make bench`: sweeplake against the tools a user would otherwise pick, in one run.

Every contender samples the same SVR search space (the SVR family's default) and
scores each trial by 5-fold cross-validation on the same folds of the same training points
(data/diabetes.json), the same number of trials each, one after the other on this machine. The
peers are timed around their search call only (their imports and interpreter start are free);
sweeplake is timed as a whole `python -m sweeplake run` process, start to exit, so its figure
includes everything a cron start pays.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import operator
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import concurrent, lambda_start, prune, spark, timeseries
from bench import limit as fits_limit
from bench import scale as synthetic
from bench import search as quality
from bench.api import CLIENTS, served_loads, table_rows
from bench.report_build import WITH_FACTS, time_report
from bench.scale import ScaleRow, athena_bytes, scale_rows
from bench.verdicts import Paired, paired
from sweeplake.dataset import Dataset, load_dataset
from sweeplake.samplers.space import Param, load_space
from sweeplake.texttable import aligned

REPO = Path(__file__).resolve().parent.parent
DATASET = REPO / "data" / "diabetes.json"
# The objects of a batch, every one counted in its bytes per trial.
BATCH = ("fact", "oof", "hyper", "scores")
PREVIOUS_RATE = 1 / 60  # the previous system: one trial per cron start, one start a minute
# Each target: what is measured, how it must compare with the limit, and how both are shown.
TARGETS = (
    ("sweeplake / RandomizedSearchCV trials/s", ">=", 1.5, "{:.2f}x"),
    ("sweeplake / Optuna+SQLite trials/s", ">=", 4.0, "{:.2f}x"),
    *((name, ">=", target, "{:.2f}x") for name, target in fits_limit.TARGET_NAMES),
    ("lake bytes per SVR trial", "<=", 12000, "{:,.0f} B"),
    ("one-trial start / bare import sklearn.svm, both gc-frozen", "<=", 1.5, "{:.2f}x"),
    ("first rank, largest lake", "<=", 10.0, "{:.2f} s"),
    ("first rank's peak RSS, largest lake", "<=", 512, "{:,.0f} MiB"),
    ("rank after one more batch, largest lake", "<=", 2.0, "{:.2f} s"),
    ("peak RSS of any rank", "<=", 1024, "{:,.0f} MiB"),
    ("report, warm scores cache", "<=", 15.0, "{:.2f} s"),
    ("report's peak RSS, cold or warm", "<=", 768, "{:,.0f} MiB"),
    ("Athena leaderboard bytes / full query's", "<=", 2.0, "{:.2f}%"),
    ("svr @100: tpe - Optuna TPE, 90% CI low", ">=", -0.002, "{:+.4f}"),
    ("forest @100: tpe - Optuna TPE, 90% CI low", ">=", -0.002, "{:+.4f}"),
    ("svr @100: tpe - random, 90% CI low", ">", 0.0, "{:+.4f}"),
    *((name, ">=", -concurrent.MARGIN, "{:+.4f}") for name in concurrent.TARGET_NAMES),
    ("{history_trials:,}-trial lake: new history + propose 40", "<=", 1.0, "{:.2f} s"),
    ("API single-row requests/s", ">=", 1000, "{:,.0f} req/s"),
    ("API single-row p99", "<=", 20.0, "{:.2f} ms"),
    ("Lambda cold start beside the fits", "<=", lambda_start.TARGET_SECONDS, "{:.2f} s"),
)
COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt}


NOTES = """\
sweeplake: a whole `python -m sweeplake run` process (start, imports, a fit on the training
  points and one per fold, every prediction of every point and every out-of-fold prediction
  gzipped into the lake, exit); bytes/trial = fact + oof + hyper + scores + timings objects
  / trials.
RandomizedSearchCV, Optuna: their search call only (imports free); 5 fits per trial, one per
  fold, predicting the held-out fold alone. Optuna's bytes/trial: its SQLite file (parameters
  and cv R², no predictions)."""


@dataclass(frozen=True)
class Result:
    contender: str
    trials: int
    seconds: float
    bytes_per_trial: float | None = None

    @property
    def rate(self) -> float:
        return self.trials / self.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000, help="SVR trials per contender")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; best counts")
    parser.add_argument("--starts", type=int, default=5, help="timed runs of each start")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", default="10000,100000,1000000", help="synthetic lake sizes")
    parser.add_argument(
        "--facts-up-to", type=int, default=10000, help="largest synthetic lake given facts"
    )
    parser.add_argument("--requests", type=int, default=8000, help="single-row API requests")
    parser.add_argument("--report-trials", type=int, default=1_000_000, help="trials in the lake")
    parser.add_argument("--seeds", type=int, default=30, help="SVR searches per contender")
    parser.add_argument(
        "--forest-seeds", type=int, default=60, help="forest searches per contender"
    )
    parser.add_argument("--svr-trials", type=int, default=200, help="per search, search bench")
    parser.add_argument("--forest-trials", type=int, default=100, help="per search, search bench")
    parser.add_argument("--forest-trees", type=int, default=30, help="most trees, search bench")
    parser.add_argument("--copies", type=int, default=2500, help="of a 40-trial batch: history")
    parser.add_argument("--jobs", type=int, default=4, help="searches at once, search bench")
    parser.add_argument("--prune-seeds", type=int, default=20, help="paired pruning seeds")
    parser.add_argument("--prune-trials", type=int, default=100, help="SVR trials, pruning")
    parser.add_argument("--prune-forests", type=int, default=60, help="forest trials, pruning")
    parser.add_argument("--spark-trials", type=int, default=2000, help="SVR trials per runner")
    parser.add_argument("--forest-rows", type=int, default=10_000_000, help="Spark forest points")
    parser.add_argument("--spark-forests", type=int, default=2, help="Spark-fitted forests")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.scale.split(",")]
    if min(args.seeds, args.forest_seeds) < 2:
        print("bench: --seeds and --forest-seeds need 2 or more (an IQR)", file=sys.stderr)
        return 2
    smallest = {
        "--svr-trials": (args.svr_trials, quality.BATCH),
        "--forest-trials": (args.forest_trials, quality.BATCH),
        "--prune-trials": (args.prune_trials, prune.BATCH),
        "--prune-forests": (args.prune_forests, prune.BATCH),
    }
    for flag, (given, batch) in smallest.items():
        if given < batch:
            print(f"bench: {flag} needs {batch} or more (a search's batch)", file=sys.stderr)
            return 2
    day = synthetic.BATCH * synthetic.BATCHES_A_DAY
    if sizes[-1] < day:
        print(
            f"bench: the last --scale lake needs {day:,} trials or more: the "
            "Athena count reads one whole day of its batches",
            file=sys.stderr,
        )
        return 2

    space = load_space().models["svr"]
    dataset = load_dataset(DATASET)
    cores = len(os.sched_getaffinity(0))
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items())
    print(f"python -m bench.bench {flags}")
    print(
        f"{args.trials} SVR trials per contender (SVR only in throughput figures), {cores} cores,"
    )
    print(f"the models' default search space, the {dataset.folds} folds of {DATASET.name}")
    with tempfile.TemporaryDirectory(prefix="sweeplake-bench-") as scratch:
        work = Path(scratch)
        os.environ["SWEEPLAKE_CACHE"] = str(work / "cache")  # for the scores of its lakes
        rounds = [
            [
                time_sweeplake(work / f"lake-{n}", args.trials, args.seed),
                time_randomized_search(dataset, space, args.trials, args.seed),
                time_optuna(dataset, space, args.trials, args.seed, work / f"optuna-{n}.db"),
                time_optuna_memory(dataset, space, args.trials, args.seed),
                time_optuna_journal(
                    dataset, space, args.trials, args.seed, work / f"optuna-{n}.journal"
                ),
            ]
            for n in range(args.rounds)
        ]
        # Other load on the machine only ever slows a run down: each contender's best round.
        results = [min(runs, key=lambda r: r.seconds) for runs in zip(*rounds, strict=True)]
        limits = fits_limit.side_by_side(
            dataset, work, tuple(fits_limit.TARGETS), args.rounds, args.seed
        )
        start, bare = time_starts(work / "start-lake", args.starts)
        scale = scale_rows(work, dataset, sizes, args.facts_up_to)
        month = athena_bytes(work / f"lake-{sizes[-1]}", scale[-1].batch, dataset)
        served, loads = served_loads(work, args.requests, args.requests // 10)
        report_cold, report_warm = time_report(work, dataset, args.report_trials)
        searches = search_quality(dataset, work, args)
        pruning = [
            prune.section("svr", args.prune_seeds, args.prune_trials, work),
            prune.section(
                "random_forest",
                args.prune_seeds,
                args.prune_forests,
                work,
                quality.forest_space(work, args.forest_trees),
            ),
        ]
        history = quality.history_seconds(run_process, work / "history-lake", args.copies, dataset)
        on_spark, spark_measured = spark.spark_section(work / "spark", args.spark_trials, args.seed)
        (work / "forests").mkdir()
        forests, forest_measured = spark.forest_section(
            work / "forests", args.forest_rows, args.spark_forests
        )
        cold_text, cold_start = lambda_start.measure(work / "lambda", starts=3)
    print()
    print(f"best of {args.rounds} interleaved rounds per contender:")
    print(results_table(results))
    print(NOTES)
    print()
    print("the run process against the fits alone (bench/limit.py), best of each:")
    for line in fits_limit.lines(limits):
        print(f"  {line}")
    print()
    print(f"one-trial start (median of {args.starts}): {start:.2f} s; ", end="")
    print(f'python -c "{BARE_IMPORT}": {bare:.2f} s; ratio {start / bare:.2f}x')
    print()
    print(scale_table(scale, args.facts_up_to))
    print()
    print(athena_table(month))
    print()
    print(f"the prediction API: {CLIENTS} concurrent keep-alive clients on loopback, serving the")
    print(f"best of 40 SVR trials ({served}):")
    print(render(table_rows(loads)))
    print()
    print(f"report of a {args.report_trials:,}-trial lake (bench/scale.py's, {WITH_FACTS:,} with")
    print(f"facts): {report_cold.seconds:.1f} s with a cold scores cache, then ", end="")
    print(
        f"{report_warm.seconds:.1f} s; peak RSS {report_cold.peak_rss / 2**20:.0f} MiB, then ",
        end="",
    )
    print(f"{report_warm.peak_rss / 2**20:.0f} MiB")
    single = loads[0]
    print(
        SEARCH_NOTES.format(
            seeds=args.seeds,
            forest_seeds=args.forest_seeds,
            trees=args.forest_trees,
            forests=args.forest_trials,
        )
    )
    print(render(quality.quality_rows(searches, quality.CHECKPOINTS)))
    trials = 40 * (args.copies + 2)
    print(
        f"\n{trials:,}-trial lake: reading the new batch and proposing 40 took {history:.2f} s "
        f"(best of {quality.HISTORY_ROUNDS} starts, each after one more batch)"
    )
    print()
    print(on_spark)
    print(forests)
    print()
    print(cold_text)
    ours, randomized, optuna, *_ = results
    ranks = [t for row in scale for t in (row.first, row.again)]
    best = {(s.model, s.contender): s for s in searches}

    def versus(model: str, ours: str, theirs: str, trials: int) -> Paired:
        """Seed k of one search against seed k of the other, each seed's best cv_r2."""
        return paired(
            [t.cv_r2 for t in best[model, ours].best(trials)],
            [t.cv_r2 for t in best[model, theirs].best(trials)],
        )

    tpe, peer = f"sweeplake tpe, batches of {quality.BATCH}", "Optuna TPESampler, 1 process"
    randomly = f"sweeplake random, one start of {args.svr_trials}"
    verdicts = {
        "svr @100: tpe - Optuna TPE": versus("svr", tpe, peer, 100),
        "forest @100: tpe - Optuna TPE": versus("random_forest", tpe, peer, 100),
        "svr @100: tpe - random": versus("svr", tpe, randomly, 100),
        **{
            name: versus("svr", concurrent.MANY, tpe, n)
            for name, n in zip(concurrent.TARGET_NAMES, concurrent.CHECKPOINTS, strict=True)
        },
    }
    for text, _ in pruning:
        print()
        print(text)
    print("\npaired by seed, each seed's best cv_r2: median [90% bootstrap interval]")
    print(render([(name, d.shown()) for name, d in verdicts.items()]))
    measured = (
        ours.rate / randomized.rate,
        ours.rate / optuna.rate,
        *(ratio for _, ratio, _ in fits_limit.rows(limits)),
        ours.bytes_per_trial,
        start / bare,
        scale[-1].first.seconds,
        scale[-1].first.peak_rss / 2**20,
        scale[-1].again.seconds,
        max(t.peak_rss for t in ranks) / 2**20,
        report_warm.seconds,
        max(report_cold.peak_rss, report_warm.peak_rss) / 2**20,
        100 * month["leaderboard"] / month["full"],
        *(d.low for d in verdicts.values()),
        history,
        single.rate,
        single.percentile(99) * 1000,
        cold_start,
    )
    table, passed = targets_table(
        measured + spark_measured + forest_measured + tuple(v for _, m in pruning for v in m),
        TARGETS
        + spark.TARGETS
        + spark.FOREST_TARGETS
        + prune.target_names("svr")
        + prune.target_names("random_forest"),
        {"history_trials": trials, "spark_trials": args.spark_trials},
    )
    print()
    print(table)
    print()
    passed = timeseries.main([]) == 0 and passed  # its own section: python -m bench.timeseries
    return 0 if passed else 1


SEARCH_NOTES = """\
search quality: the best cv_r2 among each search's first N trials (its median over {seeds} seeds
  for SVR, {forest_seeds} for forests, the interquartile range) and that trial's test R² (median).
  Same space, same 5 folds; the peers score with scikit-learn, sweeplake with its own lake, its
  best trials checked against scikit-learn. Every trial's forest gets a seed of its own, drawn
  from its search's seed. Forests: at most {trees} trees (the space's 200 would take hours),
  {forests} trials, more seeds because a forest's seed moves its cv_r2 by as much as the margin
  in question; 4 processes at once on SVR only."""


def search_quality(dataset: Dataset, work: Path, args: argparse.Namespace) -> list[quality.Search]:
    """Every contender on SVR and on (smaller) forests; 4 processes at once on SVR only."""
    objective = quality.Objective(dataset)
    svr_space, forest_file = load_space(), quality.forest_space(work, args.forest_trees)
    forest_space = load_space(forest_file)
    found = []
    for model, space, file, trials, seeds in (
        ("svr", svr_space, None, args.svr_trials, args.seeds),
        ("random_forest", forest_space, forest_file, args.forest_trials, args.forest_seeds),
    ):
        lakes = work / "search"
        ours = [
            quality.sweeplake_search(
                run_process, lakes, model, sampler, seeds, trials, space=file, jobs=args.jobs
            )
            for sampler in ("tpe", "random")
        ]
        if model == "svr":
            parallel = quality.sweeplake_search(
                run_process,
                lakes,
                model,
                "tpe",
                seeds,
                trials,
                processes=4,
                jobs=max(1, args.jobs // 4),
            )
            ours.append(parallel)
        for found_by_us in ours:
            quality.check_against_sklearn(objective, found_by_us)
        peers = [
            quality.optuna_search(objective, space, model, sampler, seeds, trials, args.jobs)
            for sampler in ("tpe", "random")
        ]
        found += ours + peers
    return found


def run_process(*flags: str) -> None:
    """One `python -m sweeplake run` start, as cron makes it."""
    time_process(sweeplake("run", *flags))


def time_sweeplake(lake: Path, trials: int, seed: int) -> Result:
    """One cron-like start, wall clock from spawn to exit, then every record counted."""
    command = ["run", "--model", "svr", "--trials", str(trials), "--budget", "3600", "--cv", "5"]
    seconds = time_process(sweeplake(*command, "--seed", str(seed), "--lake", str(lake)))
    objects = sorted(lake.glob("*/dt=*/*.json.gz"))
    lines = {part: sum(count_lines(p) for p in objects if p.parts[-3] == part) for part in BATCH}
    data = (lake / "data" / "diabetes.json").read_text().splitlines()
    points, train_points = len(data), sum('"is_train": true' in line for line in data)
    expected = {"fact": points, "oof": train_points, "hyper": 1, "scores": 1}
    if any(lines[part] != trials * per_trial for part, per_trial in expected.items()):
        sys.exit(f"bench: {trials} trials, yet the lake holds these lines: {lines}")
    size = sum(p.stat().st_size for p in objects)
    return Result("sweeplake run -> local lake (end to end)", trials, seconds, size / trials)


def time_randomized_search(dataset: Dataset, space: tuple[Param, ...], trials: int, seed: int):
    from sklearn.model_selection import RandomizedSearchCV
    from sklearn.svm import SVR

    distributions = {quality.SKLEARN_NAMES[p.name]: scipy_distribution(p) for p in space}
    search = RandomizedSearchCV(
        SVR(kernel="rbf"),
        distributions,
        n_iter=trials,
        scoring="r2",
        cv=quality.folds(dataset),
        n_jobs=-1,
        refit=False,
        random_state=seed,
    )
    train = dataset.is_train
    started = time.perf_counter()
    search.fit(dataset.x[train], dataset.y[train])
    seconds = time.perf_counter() - started
    return Result("RandomizedSearchCV n_jobs=-1 (persists nothing)", trials, seconds)


def forked_at_once(work, shares: list[tuple], what: str) -> float:
    """Seconds from the moment every forked process, one per share, is ready and told to go
    until the last ends: `work(*share)` in each; exits naming `what` if one failed."""
    import multiprocessing

    fork = multiprocessing.get_context("fork")
    go, ready = fork.Event(), fork.Semaphore(0)

    def started(*share) -> None:
        ready.release()
        go.wait()
        work(*share)

    workers = [fork.Process(target=started, args=share) for share in shares]
    for process in workers:
        process.start()
    for _ in workers:
        ready.acquire()
    begun = time.perf_counter()
    go.set()
    for process in workers:
        process.join()
    seconds = time.perf_counter() - begun
    if any(p.exitcode for p in workers):
        sys.exit(f"bench: {what} failed")
    return seconds


def optuna_objective(dataset: Dataset, space: tuple[Param, ...]):
    """Optuna's objective as its documentation writes one: suggest, cross_val_score, the mean."""
    import optuna
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVR

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    train, split = dataset.is_train, quality.folds(dataset)

    def objective(trial: optuna.Trial) -> float:
        params = {
            quality.SKLEARN_NAMES[p.name]: trial.suggest_float(p.name, p.low, p.high, log=p.log)
            for p in space
        }
        model = SVR(kernel="rbf", **params)
        scores = cross_val_score(model, dataset.x[train], dataset.y[train], cv=split, scoring="r2")
        return scores.mean()

    return objective


def time_optuna(dataset: Dataset, space: tuple[Param, ...], trials: int, seed: int, db: Path):
    """Optuna with SQLite storage, threads in one process (n_jobs=-1)."""
    import optuna

    objective = optuna_objective(dataset, space)
    study = optuna.create_study(
        storage=f"sqlite:///{db}",
        sampler=optuna.samplers.RandomSampler(seed=seed),
        direction="maximize",
    )
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_jobs=-1)
    seconds = time.perf_counter() - started
    contender = "Optuna RandomSampler + SQLite, n_jobs=-1"
    return Result(contender, trials, seconds, db.stat().st_size / trials)


def time_optuna_memory(dataset: Dataset, space: tuple[Param, ...], trials: int, seed: int):
    """Optuna at its fastest in one process: in-memory storage, threads (n_jobs=-1)."""
    import optuna

    objective = optuna_objective(dataset, space)
    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=seed), direction="maximize"
    )
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_jobs=-1)
    seconds = time.perf_counter() - started
    return Result("Optuna RandomSampler, in memory, n_jobs=-1", trials, seconds)


def time_optuna_journal(
    dataset: Dataset, space: tuple[Param, ...], trials: int, seed: int, journal: Path
) -> Result:
    """Optuna across processes as its documentation shares a study: a journal file, one worker
    process per core, each running its share of the trials. The workers are forked with Optuna
    and scikit-learn loaded and wait for one start signal: the clock runs from that signal to
    the last worker's end."""

    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    cores = len(os.sched_getaffinity(0))
    objective = optuna_objective(dataset, space)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    name = optuna.create_study(storage=storage, direction="maximize").study_name

    def worker(index: int, share: int) -> None:
        study = optuna.load_study(
            study_name=name,
            storage=JournalStorage(JournalFileBackend(str(journal))),
            sampler=optuna.samplers.RandomSampler(seed=seed * 1000 + index),
        )
        study.optimize(objective, n_trials=share)

    shares = [trials // cores + (i < trials % cores) for i in range(cores)]
    seconds = forked_at_once(worker, list(enumerate(shares)), "an Optuna journal worker")
    done = optuna.load_study(study_name=name, storage=storage).trials
    if len(done) != trials:
        sys.exit(f"bench: the Optuna journal holds {len(done)} trials, not {trials}")
    contender = f"Optuna RandomSampler + journal file, {cores} processes"
    return Result(contender, trials, seconds, journal.stat().st_size / trials)


# The baseline exits as sweeplake does: its objects frozen, so that the interpreter's last
# collection skips them on both sides alike.
BARE_IMPORT = "import gc, sklearn.svm; gc.freeze()"


def time_starts(lake: Path, starts: int) -> tuple[float, float]:
    """Median wall time of a one-trial start and of the bare import, runs interleaved."""
    one_trial = sweeplake("run", "--model", "svr", "--trials", "1", "--lake", str(lake))
    bare = [sys.executable, "-c", BARE_IMPORT]
    time_process(one_trial), time_process(bare)  # warm the page cache; the lake gets its data
    times = [(time_process(one_trial), time_process(bare)) for _ in range(starts)]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def sweeplake(*args: str) -> list[str]:
    return [sys.executable, "-m", "sweeplake", *args]


def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}
    env["SWEEPLAKE_CACHE"] = os.environ["SWEEPLAKE_CACHE"]  # the bench's own, in its scratch
    return env


def time_process(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=bench_env(), check=True, capture_output=True)
    return time.perf_counter() - started


@contextlib.contextmanager
def warm_process() -> Iterator[None]:
    """A warm process for `run --warm` starts (as cron's line runs them), started here as the
    bench's own child before any clock starts, and stopped at the end: its imports are paid
    once per warm process, not per batch."""
    process = subprocess.Popen(
        sweeplake("warm", "--idle", "86400"),
        cwd=REPO,
        env=bench_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stderr:
        if "serves" in line:
            break
    else:
        sys.exit(f"bench: the warm process did not start (exit status {process.wait()})")
    try:
        yield
    finally:
        process.terminate()
        process.communicate()


def count_lines(path: Path, packed: bool = True) -> int:
    opener = gzip.open if packed else open
    with opener(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def scipy_distribution(param: Param):
    from scipy.stats import loguniform, uniform

    if param.kind != "float":
        raise ValueError(f"the bench samples float parameters only, not {param.name}")
    if param.log:
        return loguniform(param.low, param.high)
    return uniform(param.low, param.high - param.low)


def results_table(results: list[Result]) -> str:
    ours = results[0].rate
    header = ("contender", "trials", "seconds", "trials/s", "vs sweeplake", "bytes/trial")
    rows = [header]
    for r in results:
        size = "-" if r.bytes_per_trial is None else f"{r.bytes_per_trial:,.0f}"
        rate = f"{r.rate:.1f}"
        rows.append(
            (r.contender, str(r.trials), f"{r.seconds:.2f}", rate, ratio(r.rate / ours), size)
        )
    previous = ("previous system (1 trial per start)", "1", "60.00", f"{PREVIOUS_RATE:.4f}")
    rows.append((*previous, ratio(PREVIOUS_RATE / ours), "-"))
    return render(rows)


def targets_table(
    measured: tuple[float, ...], targets: tuple = TARGETS, sizes: dict[str, int] | None = None
) -> tuple[str, bool]:
    """The targets' table and whether all passed; a name's {fields} are filled from `sizes`
    (the run's sizes: a target named after one says the size this run measured)."""
    rows = [("target", "measured", "limit", "result")]
    passed = True
    for (name, op, limit, shown), value in zip(targets, measured, strict=True):
        ok = COMPARE[op](value, limit)
        passed &= ok
        label = name.format_map(sizes) if sizes else name
        rows.append(
            (label, shown.format(value), f"{op} {shown.format(limit)}", "PASS" if ok else "FAIL")
        )
    return render(rows), passed


def scale_table(rows: list[ScaleRow], facts_up_to: int) -> str:
    header = ("trials", "facts", "made in", "first rank", "peak RSS", "rank +1 batch", "peak RSS")
    cells = [(*header, "plain DuckDB", "peak RSS")]
    for row in rows:
        plain = (f"{row.plain.seconds:.1f} s", mib(row.plain.peak_rss)) if row.plain else ("-",) * 2
        cells.append(
            (
                f"{row.trials:,}",
                f"{row.trials * 442:,}" if row.plain else "left out",
                f"{row.made:.0f} s",
                f"{row.first.seconds:.1f} s",
                mib(row.first.peak_rss),
                f"{row.again.seconds:.1f} s",
                mib(row.again.peak_rss),
                *plain,
            )
        )
    return "\n".join(
        [
            "rank --limit 10 on synthetic local lakes (the job's exact format, 40 trials a batch,",
            "1,440 batches a day), each rank a whole process with its own cache: the first",
            "scores everything, the next follows one more real 40-trial batch (each the best",
            f"of {synthetic.ROUNDS} runs, its peak RSS the highest of them); plain DuckDB is",
            "sql/rank_runs.sql over every fact, run where the facts were written",
            f"(<= {facts_up_to:,} trials: the issue measured 8.7 GB at 100,000). Load average",
            f"when done: {os.getloadavg()[0]:.1f} on {len(os.sched_getaffinity(0))} cores.",
            render(cells),
        ]
    )


def athena_table(month: dict) -> str:
    per_batch = " + ".join(f"{month[p]:,.0f}" for p in ("fact", "oof", "hyper"))
    scans = ", ".join(
        f"{n} columns ({size:,} B a day)"
        for n, size in zip(month["scan_columns"], month["scan_bytes_day"], strict=True)
    )
    rows = [
        ("one month of the default schedule (43,200 batches of 40 trials)", "bytes read", "share"),
        (
            f"full query: every fact + oof + hyper object ({per_batch} B a batch)",
            f"{month['full']:,.0f}",
            "100%",
        ),
        (
            "per-batch JSON scores alone (no compaction), read as often",
            f"{month['json_only']:,.0f}",
            f"{100 * month['json_only'] / month['full']:.2f}%",
        ),
        (
            f"leaderboard: 27 Parquet days ({month['parquet_day']:,} B whole) + 3 days of JSON "
            f"({month['scores_object']:,.0f} B a batch), scanned {month['all_scores_reads']}x",
            f"{month['leaderboard']:,.0f}",
            f"{100 * month['leaderboard'] / month['full']:.2f}%",
        ),
    ]
    return (
        "Athena: JSON objects counted whole; of the Parquet days, the column chunks each scan of "
        f"all_scores in sql/rank_scores.sql reads, as DuckDB plans it: {scans}\n" + render(rows)
    )


def mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def ratio(value: float) -> str:
    return f"{value:.2f}x" if value >= 0.01 else f"{value:.5f}x"


def render(rows: list[tuple[str, ...]]) -> str:
    """The first column (what was measured) to the left, the figures to the right."""
    return aligned(rows, right=range(1, len(rows[0])))


if __name__ == "__main__":
    sys.exit(main())
