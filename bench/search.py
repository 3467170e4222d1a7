"""Search quality: how good a trial each sampler finds after 50, 100 and 200 trials.

Every contender searches the same space (sweeplake's default, or the bench's forest space
below) for the best cv_r2 on the same folds of the same training points. The
peers, Optuna's TPE and random samplers in one process, score their trials with scikit-learn's
cross_val_score; sweeplake runs as cron runs it, batches of 20, each batch a separate
`python -m sweeplake run` process that reads the lake, and its cv_r2 comes from the lake's
scores. The best trial each contender reports is scored again with scikit-learn, so that a
wrong cv_r2 in the lake cannot flatter it.
"""

from __future__ import annotations

import gzip
import json
import math
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplake.dataset import Dataset
from sweeplake.lake import params as lake_params
from sweeplake.models.registry import family
from sweeplake.samplers.space import SEED_LIMIT, Param, SearchSpace

BATCH = 20
CHECKPOINTS = (50, 100, 200)
SKLEARN_NAMES = {"gamma": "gamma", "c": "C", "epsilon": "epsilon"}
# The cv_r2 the lake holds and scikit-learn's may differ by rounding only.
AGREEMENT = 1e-9


@dataclass(frozen=True)
class Scored:
    """One trial of a search, in the order the search ran it: None values when it failed."""

    params: dict[str, float | int]
    seed: int
    cv_r2: float | None
    test_r2: float | None


@dataclass(frozen=True)
class Search:
    contender: str
    model: str
    runs: list[list[Scored]]  # one per seed

    def best(self, trials: int) -> list[Scored]:
        """Each seed's best trial among its first `trials` (by cv_r2, never by test R²)."""
        return [
            max((t for t in run[:trials] if t.cv_r2 is not None), key=lambda t: t.cv_r2)
            for run in self.runs
        ]


class Objective:
    """cv_r2 as the scores define it (the mean of the folds' R²), and the test R², both by
    scikit-learn on the dataset's folds."""

    def __init__(self, dataset: Dataset) -> None:
        train = dataset.is_train
        self.x_train, self.y_train = dataset.x[train], dataset.y[train]
        self.x_test, self.y_test = dataset.x[~train], dataset.y[~train]
        self.folds = folds(dataset)

    def __call__(self, model: str, params: dict[str, float | int], seed: int) -> Scored:
        from sklearn.metrics import r2_score
        from sklearn.model_selection import cross_val_score

        estimator = sklearn_estimator(model, params, seed)
        folds = cross_val_score(estimator, self.x_train, self.y_train, cv=self.folds, scoring="r2")
        fitted = estimator.fit(self.x_train, self.y_train)
        test_r2 = r2_score(self.y_test, fitted.predict(self.x_test))
        return Scored(params, seed, float(np.mean(folds)), float(test_r2))


def folds(dataset: Dataset):
    """The dataset's own folds of its training points, as scikit-learn's splitter."""
    from sklearn.model_selection import PredefinedSplit

    return PredefinedSplit(dataset.fold[dataset.is_train])


def sklearn_estimator(model: str, params: dict[str, float | int], seed: int):
    if model == "svr":
        from sklearn.svm import SVR

        return SVR(kernel="rbf", **{SKLEARN_NAMES[k]: v for k, v in params.items()})
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(**params, random_state=seed, n_jobs=1)


def optuna_search(
    objective: Objective,
    space: SearchSpace,
    model: str,
    sampler: str,
    seeds: int,
    trials: int,
    jobs: int = 1,
) -> Search:
    """One study per seed; `jobs` seeds at a time, each study in a process of its own."""
    name = "Optuna TPESampler, 1 process" if sampler == "tpe" else "Optuna RandomSampler"
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(jobs, mp_context=fork) as pool:
        studies = [
            pool.submit(optuna_run, objective, space, model, sampler, seed, trials)
            for seed in range(seeds)
        ]
        return Search(name, model, [study.result() for study in studies])


def optuna_run(
    objective: Objective, space: SearchSpace, model: str, sampler: str, seed: int, trials: int
) -> list[Scored]:
    """One study, its trials one after the other, each told its cv_r2 before the next is asked.

    A forest's random_state is drawn per trial from the study's seed, as sweeplake draws its
    trials' seeds. Numbering them by trial instead (0, 1, 2, ...) gives every study the same
    forests' seeds, and the seed moves a forest's cv_r2 more than the search does near the best
    (standard deviation 0.008 to 0.010 over random_state 0-99 for three good forests on these
    folds): a median over studies would rest on one draw of seeds, lucky or not, instead of
    averaging over many.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler == "tpe":
        chosen = optuna.samplers.TPESampler(seed=seed)
    else:
        chosen = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=chosen)
    scored: list[Scored] = []
    forest_seeds = np.random.default_rng([seed, 1])

    def evaluate(trial: optuna.Trial) -> float:
        params = {p.name: suggest(trial, p) for p in space.models[model]}
        scored.append(objective(model, params, int(forest_seeds.integers(SEED_LIMIT))))
        return scored[-1].cv_r2

    study.optimize(evaluate, n_trials=trials)
    return scored


def suggest(trial, param: Param) -> float | int:
    if param.kind == "int":
        return trial.suggest_int(param.name, int(param.low), int(param.high), log=param.log)
    return trial.suggest_float(param.name, param.low, param.high, log=param.log)


def sweeplake_search(
    run: Callable[..., None],
    work: Path,
    model: str,
    sampler: str,
    seeds: int,
    trials: int,
    processes: int = 1,
    space: Path | None = None,
    jobs: int = 1,
) -> Search:
    """One lake per seed, `jobs` seeds at a time (each seed's searches stay as cron runs them)."""
    shown = f"sweeplake {sampler}, batches of {BATCH}"
    if processes > 1:
        shown += f", {processes} processes at once"
    if sampler == "random":
        shown = f"sweeplake random, one start of {trials}"
    lakes = [work / f"{model}-{sampler}-{processes}-{seed}" for seed in range(seeds)]

    def search(seed: int) -> None:
        cron_run(run, lakes[seed], model, sampler, seed, trials, processes, space)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(search, range(seeds)))
    return Search(shown, model, [lake_trials(lake) for lake in lakes])


def cron_run(
    run: Callable[..., None],
    lake: Path,
    model: str,
    sampler: str,
    seed: int,
    trials: int,
    processes: int,
    space: Path | None,
) -> None:
    """Batches of BATCH trials, each one `run` process; `processes` of them at a time on one
    lake, each running its share of the batches back to back, as that many machines would.
    Random search, which reads no history, runs as one start of every trial."""
    # Random search reads no history: one start of every trial draws from the same distribution
    # as many batches would, at a tenth of the interpreter starts.
    size = trials if sampler == "random" else BATCH
    batches = list(range(trials // size))
    extra = ["--space", str(space)] if space else []

    def instance(first: int) -> None:
        for batch in batches[first::processes]:
            flags = [
                "--model",
                model,
                "--sampler",
                sampler,
                "--trials",
                str(size),
                "--budget",
                "3600",
            ]
            run(*flags, "--seed", str(seed * 1000 + batch), "--lake", str(lake), *extra)

    with ThreadPoolExecutor(processes) as pool:
        list(pool.map(instance, range(processes)))


def lake_trials(lake: Path) -> list[Scored]:
    """The lake's trials in the order they were proposed (hyper ids sort by time)."""
    from sweeplake.scores.store import open_scores

    store = open_scores(str(lake))
    store.refresh()
    rows = store.connection.execute(
        "SELECT * FROM scores ORDER BY hyper_id"  # the bench's own look, not a product query
    ).fetchall()
    names = [d[0] for d in store.connection.description]
    scored = []
    for values in rows:
        row = dict(zip(names, values, strict=True))
        params = lake_params.decode(row, family(row["model"]).params)
        scored.append(Scored(params, row["seed"], row["cv_r2"], row["test_r2"]))
    return scored


def check_against_sklearn(objective: Objective, search: Search) -> None:
    """The best trials a sweeplake search reports, scored again by scikit-learn."""
    for trials in CHECKPOINTS:
        for best in search.best(trials):
            again = objective(search.model, best.params, best.seed)
            if (
                abs(again.cv_r2 - best.cv_r2) > AGREEMENT
                or abs(again.test_r2 - best.test_r2) > AGREEMENT
            ):
                sys.exit(
                    f"bench: {search.contender} reports cv_r2 {best.cv_r2} and test R² "
                    f"{best.test_r2} for {json.dumps(best.params)}; scikit-learn gives "
                    f"{again.cv_r2} and {again.test_r2}"
                )


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def median_best(search: Search, trials: int) -> float:
    return statistics.median(t.cv_r2 for t in search.best(trials))


def quality_rows(searches: list[Search], checkpoints: tuple[int, ...]) -> list[tuple[str, ...]]:
    rows = [("model", "contender", "trials", "best cv_r2", "IQR", "its test R²")]
    for search in searches:
        for trials in checkpoints:
            if trials > min(len(r) for r in search.runs):
                continue
            best = search.best(trials)
            q1, median, q3 = quartiles([t.cv_r2 for t in best])
            test = statistics.median(t.test_r2 for t in best)
            spread = f"{q1:.4f}-{q3:.4f}"
            rows.append(
                (
                    search.model,
                    search.contender,
                    str(trials),
                    f"{median:.4f}",
                    spread,
                    f"{test:.4f}",
                )
            )
    return rows


HISTORY_ROUNDS = 3  # starts timed by history_seconds, each after one more batch


def history_seconds(
    run: Callable[..., None],
    lake: Path,
    copies: int,
    dataset: Dataset,
    rounds: int = HISTORY_ROUNDS,
    space_file: Path | None = None,
) -> float:
    """What the history adds to a start on a lake of many trials, after the first read: the
    best of `rounds` starts, each after one more real batch arrived (as every timing of the
    bench, the best: other load only ever slows a start down).

    The lake is one real batch of 40 trials (every model `--model all` fits on the dataset) and
    `copies` copies of its hyper and scores objects under new ids: the sampler reads those,
    never the facts, so the copies need none. The first read ingests them all; then one real
    batch arrives, and the timed part is a start's history: reading what is new, and proposing
    a batch of 40 of the same models. The sampler must have seen every trial of each.
    `space_file`: a search space of the run's own (the tests' has small forests), else the
    default.
    """
    from sweeplake.samplers import open_sampler
    from sweeplake.samplers.space import load_space

    # Whole batches of 40 however loaded the machine: the default budget would stop one short.
    batch = ("--model", "all", "--trials", "40", "--budget", "3600", "--lake", str(lake))
    batch += ("--space", str(space_file)) if space_file is not None else ()
    run(*batch, "--sampler", "random")
    copy_batches(lake, copies)
    space = load_space(space_file)
    open_sampler("tpe", str(lake), dataset.sha256)  # this machine's first read
    best = math.inf
    for arrived in range(1, rounds + 1):
        run(*batch, "--sampler", "tpe")
        held: dict[str, int] = {}
        for path in lake.glob("hyper/dt=*/*.json.gz"):
            for line in gzip.decompress(path.read_bytes()).splitlines():
                model = json.loads(line)["model"]
                held[model] = held.get(model, 0) + 1
        started = time.perf_counter()
        proposal = open_sampler("tpe", str(lake), dataset.sha256).propose(
            space, sorted(held), 40, arrived
        )
        best = min(best, time.perf_counter() - started)
        expected = 40 * (copies + 1 + arrived)
        if len(proposal.trials) != 40 or proposal.history != held or sum(held.values()) != expected:
            sys.exit(
                f"bench: the sampler saw {proposal.history} trials of {held} in the lake, "
                f"which should hold {expected} ({len(proposal.trials)} proposed)"
            )
    return best


def copy_batches(lake: Path, copies: int) -> None:
    """Copies of the lake's one batch (hyper and scores objects) under fresh ids."""
    from sweeplake.ids import new_id
    from sweeplake.lake import gzip_text

    (hyper,) = lake.glob("hyper/dt=*/*.json.gz")
    (scores,) = lake.glob("scores/dt=*/*.json.gz")
    lines = {
        p: gzip.decompress(o.read_bytes()).decode().splitlines()
        for p, o in (("hyper", hyper), ("scores", scores))
    }
    for _ in range(copies):
        batch_id = new_id()
        ids = {json.loads(line)["hyper_id"]: new_id() for line in lines["hyper"]}
        for prefix, source in (("hyper", hyper), ("scores", scores)):
            records = [json.loads(line) for line in lines[prefix]]
            for record in records:
                record["hyper_id"], record["batch_id"] = ids[record["hyper_id"]], batch_id
            text = "".join(json.dumps(r) + "\n" for r in records)
            target = source.parent / f"{batch_id}.json.gz"
            target.write_bytes(gzip_text(text))


def forest_space(work: Path, trees: int) -> Path:
    """A space file of the forest family alone, with at most `trees` trees (the default 200
    would take hours at the bench's seed counts)."""
    import copy

    from sweeplake.samplers.space import default_space_doc

    spec = copy.deepcopy(default_space_doc())
    spec["random_forest"]["n_estimators"]["high"] = trees
    path = work / f"forest-space-{trees}.json"
    path.write_text(json.dumps({"random_forest": spec["random_forest"]}))
    return path
