"""One start of the job: trials in; a fact, (with CV) an oof, a hyper and a scores object out."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache, partial
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from sweeplake import __version__
from sweeplake.dataset import Dataset, load_dataset
from sweeplake.errors import AllTrialsFailed, BadInput, LakeUnreachable
from sweeplake.fitting.fit import Outcome, prepare, run_trial
from sweeplake.fitting.groves import check_groves, fit_groves
from sweeplake.fitting.prune import MIN_HISTORY, Rungs, history_rungs
from sweeplake.fitting.workers import WorkerPool
from sweeplake.ids import derived_ids, new_id
from sweeplake.lake import Batch, Gzipped, gzip_text, open_lake
from sweeplake.lake import params as lake_params
from sweeplake.lake.pending import ANNOUNCED, GRACE_SECONDS, announce, withdraw
from sweeplake.models.registry import family
from sweeplake.paths import DEFAULT_DATASET, DEFAULT_LAKE, DEFAULT_MODEL, DEFAULT_TRIALS
from sweeplake.progress import Progress
from sweeplake.samplers import SAMPLERS, Proposal, open_sampler
from sweeplake.samplers.space import SearchSpace, Trial, load_space, read_params
from sweeplake.scores.records import scores_record
from sweeplake.timings import PhaseClock, Start, command_start, process_cpu_s, write_timings

if TYPE_CHECKING:
    from sweeplake.scores.store import ScoresStore

log = logging.getLogger("sweeplake.run")
# How long past the budget a trial may still run before its worker is stopped.
OVERRUN_SECONDS = 10.0
# A start whose sampler has fewer trials of a model's history than THIN_HISTORY fits in rounds
# of ROUND trials (or one per core, when there are more cores), each a batch of its own.
THIN_HISTORY = 100
ROUND = 3
RUNNERS = ("local", "spark")


@dataclass(frozen=True)
class RunSummary:
    batch_id: str
    trials: int
    failed: int
    seconds: float
    lake: str


def run(
    lake: str = DEFAULT_LAKE,
    dataset: Path | str = DEFAULT_DATASET,
    model: str | None = None,
    trials: int | None = None,
    budget: float = 45.0,
    workers: int | None = None,
    seed: int | None = None,
    params: Path | None = None,
    space: Path | None = None,
    cv: int | None = None,
    sampler: str = "random",
    runner: str = "local",
    spark_master: str | None = None,
    start: Start | None = None,
    batch_key: tuple[str, str] | None = None,
    groves: int | None = None,
    prune: bool = False,
) -> RunSummary:
    """Check everything, fit the trials, then write the batch: bad input writes nothing.

    `model` (default all) and `trials` (default 40) shape the sampling; with `params` the file
    names the models and the count, so giving either as well is refused. `start` says how the
    process began (for the batch's timings); `batch_key`, the batch id and day a retried unit of
    work must reuse (default: a new id, today). `groves` grows each forest as that many groves
    (fitting/groves.py). `prune` stops a trial between folds (fitting/prune.py).
    """
    started = time.monotonic()
    clock = PhaseClock(start or command_start())
    if params is not None and (model is not None or trials is not None):
        given = " and ".join(
            f for f, v in (("--model", model), ("--trials", trials)) if v is not None
        )
        raise BadInput(
            f"--params fits every set in its file, so {given} would be ignored: "
            f"leave out {given}, or edit the file"
        )
    model = DEFAULT_MODEL if model is None else model
    trials = DEFAULT_TRIALS if trials is None else trials
    search_space = load_space(space)
    # `all` leaves out the families Spark fits: they are fitted when named.
    models = [m for m in search_space.models if not family(m).on_spark]
    models = models if model == "all" else [model]
    if any(m not in search_space.models for m in models):
        raise BadInput(
            f"unknown model {model!r:.40}: choose {', '.join(search_space.models)} or all"
        )
    if trials < 1:
        raise BadInput(f"--trials must be at least 1, got {trials}")
    if budget <= 0:
        raise BadInput(f"--budget must be positive, got {budget}")
    if workers is not None and workers < 1:
        raise BadInput(f"--workers must be at least 1, got {workers}")
    if seed is not None and not 0 <= seed < 2**32:
        raise BadInput(f"--seed must be in [0, 2**32), got {seed}")
    if runner not in RUNNERS:
        raise BadInput(f"unknown runner {runner!r:.40}: choose {' or '.join(RUNNERS)}")
    if sampler not in SAMPLERS:
        raise BadInput(f"unknown sampler {sampler!r:.40}: choose {' or '.join(SAMPLERS)}")
    given = read_params(params, search_space) if params is not None else None
    on_spark = spark_fitted(models if given is None else {t.model for t in given})
    if spark_master is not None and runner != "spark" and not on_spark:
        raise BadInput("--spark-master applies to --runner spark alone: add it, or leave both out")
    if workers is not None and (runner == "spark" or on_spark):
        raise BadInput("--workers applies to --runner local: Spark's master sets the cores")
    check_groves(groves)
    if groves is not None and (runner != "local" or on_spark):
        raise BadInput("--groves applies to --runner local: the workers fit the groves")
    if prune and (runner != "local" or on_spark):
        raise BadInput("--prune applies to --runner local: Spark's tasks fit every fold")
    if on_spark:
        return run_spark_fitted(
            lake, dataset, models, trials, budget, seed, given, search_space, cv, sampler,
            spark_master, clock, batch_key, started,
        )  # fmt: skip
    data = load_dataset(dataset)
    refused = {m: family(m).refuses(data) for m in models}
    if model != "all" and refused[model]:
        raise BadInput(refused[model])
    models = [m for m in models if not refused[m]]
    if cv is None:
        cv = data.folds
    if cv not in (0, data.folds):
        raise BadInput(
            f"--cv must be 0 (off) or the {data.folds} folds of the dataset {data.name}, got {cv}"
        )
    if sampler == "tpe" and cv == 0 and params is None:
        raise BadInput("--sampler tpe optimises cv_r2: it needs --cv, not --cv 0")
    if prune and cv == 0:
        raise BadInput("--prune stops trials between folds: it needs --cv, not --cv 0")
    if prune and groves is not None:
        raise BadInput(
            "--prune and --groves do not go together: a grove is part of a forest, and the "
            "history's medians are those of whole forests"
        )
    target = open_lake(lake)
    target.check_writable()
    dataset_held = target.check_dataset(data)
    target.ship_waiting()  # before the sampler reads the history: these batches are part of it
    # One scores store for the start, opened on first use (a random start without --prune never
    # loads DuckDB): --prune's history and every round's sampler share its DuckDB, where each
    # opened its own (a connect costs about 20 ms of CPU; a thin-lake start has up to 14 rounds).
    from sweeplake.scores.store import open_scores

    scores = cache(partial(open_scores, lake))
    rungs = pruning_rungs(scores(), data, search_space, models) if prune else None

    used = set(models[:trials]) if given is None else {t.model for t in given}
    total = trials if given is None else len(given)
    # A start of the local runner whose sampler learns from a thin history fits in rounds,
    # each a batch of its own, so that its next trials (and other machines') learn from them.
    in_rounds = runner == "local" and batch_key is None
    cores = workers or available_cores()
    size = max(ROUND, cores) if in_rounds else None
    deadline = progress = None
    outcomes: list[Outcome] = []
    batch_ids: list[str] = []
    while len(outcomes) < total:
        left = total - len(outcomes)
        round_seed = seed if seed is None or not batch_ids else round_seed_of(seed, len(batch_ids))
        # Models take turns across rounds as within one batch.
        turn = len(outcomes) % len(models)
        chosen, proposal = plan(
            sampler, given, search_space, models[turn:] + models[:turn], left, round_seed, lake,
            data.sha256, size, scores,
        )  # fmt: skip
        planned = proposal.trials
        batch_id, dt = batch_key or (new_id(), today())
        pending = announce_plan(target, batch_id, data.sha256, search_space, planned, budget)
        log_plan(batch_id, len(planned), data, chosen, proposal)
        if deadline is None:
            # The budget covers the fits alone: a slow lake before them never turns trials
            # into failures.
            deadline = time.monotonic() + budget
            progress = Progress(total, deadline, sys.stderr)
        lineage = trial_lineage(search_space, chosen, proposal.history)
        clock.lap("prepare")
        if runner == "spark":
            from sweeplake.spark.runner import run_on_spark

            progress.close()  # the tasks' progress is Spark's to show
            done = run_on_spark(
                target,
                batch_id,
                data,
                planned,
                used,
                cv > 0,
                budget,
                spark_master,
                dataset_held,
                dt,
                encoder(batch_id, data, lineage, dt),
            )
            clock.lap("fitting")  # on Spark, the tasks write their parts as they go
        else:
            # A retried unit of work gives its trials the same ids: it rewrites the same records.
            ids = derived_ids(batch_id) if batch_key else new_id
            if groves is None:
                done, facts = fit_batch(
                    data, planned, used, cores, deadline, cv > 0, progress, ids, rungs
                )
            else:
                done, facts = fit_groves(
                    data, planned, used, cores, deadline, groves, cv > 0, progress, ids,
                    execute=execute,
                )  # fmt: skip
            progress.close()
            clock.lap("fitting")
            batch = encode_batch(batch_id, data, done, lineage, facts, dt)
            clock.lap("encode")
            target.write_batch(batch, None if dataset_held else data)
            dataset_held = True
            clock.lap("write")
        withdraw(target, pending)
        write_timings(target, clock.record(batch_id, dt, host_name(), done))
        outcomes += done
        batch_ids.append(batch_id)
        if len(planned) < left:
            log_round(batch_id, done)
        if progress.refused or len(done) < len(planned) or time.monotonic() >= deadline:
            break  # the budget ended the start
        clock = PhaseClock(Start(clock.start.runner, clock.start.cold, None, process_cpu_s()))
    cut_short = progress.cut_short and total
    return summarised(batch_ids, outcomes, started, target.uri, budget, cut_short)


def encoder(batch_id: str, data: Dataset, lineage: dict, dt: str) -> Callable:
    """The records of a batch of these outcomes, with no facts (Spark's tasks write those)."""
    return lambda done: encode_batch(batch_id, data, done, lineage, {}, dt)


def spark_fitted(models) -> bool:
    """Whether the models are families Spark fits; BadInput if some are and some are not."""
    on_spark = {m for m in models if family(m).on_spark}
    if on_spark and on_spark != set(models):
        raise BadInput(
            f"{', '.join(sorted(on_spark))}: fitted by Spark, in batches of their own; "
            "give the other models another run"
        )
    return bool(on_spark)


def plan(
    sampler: str,
    given: list[Trial] | None,
    search_space: SearchSpace,
    models: list[str],
    trials: int,
    seed: int | None,
    lake: str,
    dataset_sha256: str,
    round_size: int | None = None,
    scores: Callable[[], ScoresStore] | None = None,
) -> tuple[str, Proposal]:
    """The batch's trials: the --params file's, or the sampler's (from the lake's history).
    With `round_size`, a sampler whose history holds fewer than THIN_HISTORY trials of one of
    the models proposes that many at most: the rest come in later rounds, learning from these.
    `scores`: the start's scores store, for a sampler that reads the history (default: its own)."""
    if given is not None:
        return "params", Proposal(given)
    # Drawn per start, never from the clock: machines starting in the same minute differ.
    seed = int.from_bytes(os.urandom(4), "big") if seed is None else seed
    chosen = open_sampler(sampler, lake, dataset_sha256, scores)
    if round_size is not None:
        seen = chosen.seen(search_space, models)
        if seen is not None and seen < THIN_HISTORY:
            trials = min(trials, round_size)
    return sampler, chosen.propose(search_space, models, trials, seed)


def round_seed_of(seed: int, round_index: int) -> int:
    """The seed of a start's later round, from the start's: distinct from every other start's
    seed of the same sweep (seeds N and N + 1 would repeat random trials)."""
    digest = hashlib.sha256(f"{seed}/{round_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def announce_plan(target, batch_id: str, dataset_sha256: str, space, planned, budget: float):
    """The batch's first trials left in the lake as pending (lake/pending.py), until the fits'
    deadline and the time to write the batch have passed."""
    announced = list(islice(planned, ANNOUNCED))
    expires = time.time() + budget + OVERRUN_SECONDS + GRACE_SECONDS
    return announce(target, batch_id, dataset_sha256, space, announced, expires)


def log_plan(batch_id: str, trials: int, data, sampler: str, proposal: Proposal) -> None:
    seen = ", ".join(f"{model} {n}" for model, n in proposal.history.items())
    seen = f" (trials of history: {seen})" if seen else ""
    if proposal.pending:
        running = ", ".join(f"{model} {n}" for model, n in proposal.pending.items())
        seen += f" (pending in other batches: {running})"
    log.info(
        "batch %s: %d trials on %s (sha256 %s) from sampler %s%s",
        batch_id,
        trials,
        data.name,
        data.sha256[:12],
        sampler,
        seen,
    )


def summarised(
    batch_ids: list[str],
    outcomes: list[Outcome],
    started: float,
    lake: str,
    budget: float,
    cut_short: int | None = None,
) -> RunSummary:
    """The start's last log line and summary, over its batches (one, or one per round);
    AllTrialsFailed when no trial ended ok. `cut_short`: the trials planned, when the budget
    left some out."""
    failed = sum(o.status == "failed" for o in outcomes)
    seconds = time.monotonic() - started
    log.info(
        "%s: %s in %.1f s written to %s%s",
        batches_named(batch_ids),
        counted(outcomes),
        seconds,
        lake,
        f"; the {budget:g} s budget, not the cap of {cut_short}, ended it" if cut_short else "",
    )
    if outcomes and failed == len(outcomes):
        raise AllTrialsFailed(every_trial_failed(batches_named(batch_ids), outcomes))
    return RunSummary(batch_ids[-1], len(outcomes), failed, seconds, lake)


def batches_named(batch_ids: list[str]) -> str:
    if len(batch_ids) == 1:
        return f"batch {batch_ids[0]}"
    return f"{len(batch_ids)} batches, {batch_ids[0]} to {batch_ids[-1]}"


def counted(outcomes: list[Outcome]) -> str:
    failed = sum(o.status == "failed" for o in outcomes)
    pruned = sum(o.status == "pruned" for o in outcomes)
    return f"{len(outcomes)} trials ({failed} failed{f', {pruned} pruned' if pruned else ''})"


def log_round(batch_id: str, outcomes: list[Outcome]) -> None:
    log.info(
        "batch %s: %s written; a round of a start whose history is thin, the next one "
        "learns from it",
        batch_id,
        counted(outcomes),
    )


def run_spark_fitted(
    lake: str,
    dataset: Path | str,
    models: list[str],
    trials: int,
    budget: float,
    seed: int | None,
    given: list[Trial] | None,
    search_space: SearchSpace,
    cv: int | None,
    sampler: str,
    spark_master: str | None,
    clock: PhaseClock,
    batch_key: tuple[str, str] | None,
    started: float,
) -> RunSummary:
    """A batch of a family Spark fits: the dataset read, checked and hashed by Spark (never
    by this process), the trials fitted and their facts written by Spark
    (sweeplake.spark.estimators), then the commit (hyper) and scores objects written here."""
    from sweeplake.spark.estimators import fit_frame_batch
    from sweeplake.spark.frames import identify, read_frame
    from sweeplake.spark.runner import forward_settings, write
    from sweeplake.spark.session import spark_faults, spark_session

    named = sorted({t.model for t in given} if given is not None else models)
    spark = spark_session(spark_master, needed_by=f"--model {', '.join(named)}")
    context = spark.sparkContext  # the tasks write into the lake with this process's settings
    forward_settings(context.environment, context.master.startswith("local"))
    with spark_faults("batch NOT written"):
        data = read_frame(spark, dataset)
        folds = len(data.folds)
        if cv is None:
            cv = folds
        if cv not in (0, folds):
            held = f"the {folds} folds of" if folds else "a fold column in"
            raise BadInput(f"--cv must be 0 (off) or {held} the dataset {data.name}, got {cv}")
        if sampler == "tpe" and cv == 0 and given is None:
            raise BadInput("--sampler tpe optimises cv_r2: it needs the dataset's folds and --cv")
        target = open_lake(lake)
        target.check_writable()
        data = identify(data, target.uri, held_sha256(target, data.key))
        target.ship_waiting()
        sampler, proposal = plan(
            sampler, given, search_space, models, trials, seed, lake, data.sha256
        )
        batch_id, dt = batch_key or (new_id(), today())
        pending = announce_plan(
            target, batch_id, data.sha256, search_space, proposal.trials, budget
        )
        log_plan(batch_id, len(proposal.trials), data, sampler, proposal)
        lineage = trial_lineage(search_space, sampler, proposal.history)
        ids = derived_ids(batch_id) if batch_key else new_id
        planned = [(ids(), trial) for trial in proposal.trials]
        clock.lap("prepare")
        deadline = time.monotonic() + budget
        outcomes = fit_frame_batch(spark, target, batch_id, dt, data, planned, cv > 0, deadline)
        clock.lap("fitting")
        batch = encode_batch(batch_id, data, outcomes, lineage, {}, dt)
        clock.lap("encode")
        for prefix, body in batch.objects.items():  # hyper, the commit, first
            write(target, batch_id, batch.key(prefix), body)
        clock.lap("write")
        withdraw(target, pending)
        write_timings(target, clock.record(batch_id, dt, host_name(), outcomes))
        cut_short = len(planned) if len(outcomes) < len(planned) else None
    return summarised([batch_id], outcomes, started, target.uri, budget, cut_short)


def held_sha256(lake, key: str) -> str | None:
    """The sha256 of the lake's object at key (None: there is none), or LakeUnreachable."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return lake.held_dataset_sha256(key)
    except (BotoCoreError, ClientError) as exc:
        raise LakeUnreachable(f"cannot read {lake.uri}/{key}: {type(exc).__name__}") from None


def today() -> str:
    """The day partition (dt) of a batch written now."""
    return datetime.now(UTC).strftime("%Y-%m-%d")


def pruning_rungs(
    store: ScoresStore, data: Dataset, space: SearchSpace, models: list[str]
) -> Rungs:
    """--prune: the history of each model's ok trials in the lake of the scores `store`, to
    which the batch's own are added as they finish."""
    spaces = {model: space.sha256(model) for model in models}
    rungs = history_rungs(store, data.sha256, spaces, data.folds)
    for model in models:
        medians = rungs.medians(model)
        if medians is not None:
            shown = ", ".join(f"{m:.4f}" for m in medians)
            log.info(
                "pruning %s trials below the median after each fold of %d ok trials so far "
                "(%s); the batch's own join them as they finish",
                model,
                rungs.known(model),
                shown,
            )
        else:
            log.info(
                "not pruning %s trials yet: the lake holds %d ok ones with their folds, and "
                "pruning starts at %d (the batch's own count as they finish)",
                model,
                rungs.known(model),
                MIN_HISTORY,
            )
    return rungs


def every_trial_failed(batches: str, outcomes: list[Outcome]) -> str:
    """One line: the batches, and their most common error (the first line, the exception)."""
    errors = Counter(((o.error or "").strip().splitlines() or [""])[0][:300] for o in outcomes)
    error, count = errors.most_common(1)[0]
    return (
        f"every trial of {batches} failed ({len(outcomes)} of {len(outcomes)}; it is in "
        f"the lake all the same); the most common error, {count} time(s): {error}"
    )


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def fit_batch(
    dataset: Dataset,
    trials: Sequence[Trial],
    models: set[str],
    workers: int,
    deadline: float,
    cv: bool = False,
    progress: Progress | None = None,
    ids: Callable[[], str] = new_id,
    rungs: Rungs | None = None,
) -> tuple[list[Outcome], dict[str, bytes]]:
    """The outcomes, by id and without their facts, and the ok ones' facts, already gzipped, by
    prefix: "fact", then with `cv` "oof" (every training point's out-of-fold prediction; a
    pruned trial's for the folds it got)."""
    packed = {"fact": Gzipped(), **({"oof": Gzipped()} if cv else {})}
    outcomes = []
    fitted = execute(
        dataset, trials, models, workers, deadline, cv, progress, ids, rungs, deflated=True
    )
    for outcome in fitted:
        if outcome.ok:
            packed["fact"].write(outcome.facts)
        if cv and outcome.oof is not None:
            packed["oof"].write(outcome.oof)
        outcomes.append(replace(outcome, facts=None, oof=None))  # held compressed only from here
    facts = {prefix: gzipped.close() for prefix, gzipped in packed.items()}
    return sorted(outcomes, key=lambda o: o.hyper_id), facts


def execute(
    dataset: Dataset,
    trials: Sequence[Trial],
    models: set[str],
    workers: int,
    deadline: float,
    cv: bool = False,
    progress: Progress | None = None,
    ids: Callable[[], str] = new_id,
    rungs: Rungs | None = None,
    deflated: bool = False,
) -> Iterator[Outcome]:
    """Fit trials in order until done or until the next one would pass the deadline; `ids`
    gives each trial its id, in that order. With `rungs` (--prune) each trial is handed the
    medians of the ok trials known then, the batch's finished ones among them. With
    `deflated`, lines fitted by worker processes come back deflated (for Gzipped.write only).

    Yields each outcome as it finishes, in no particular order.
    """
    inputs = prepare(dataset, models, cv=cv)
    clock = Deadline(deadline, progress, rungs)

    def medians(trial: Trial) -> tuple[float, ...] | None:
        return rungs.medians(trial.model) if rungs is not None else None

    if workers == 1 or len(trials) == 1:
        for trial in trials:
            if clock.near():
                break
            yield clock.record(run_trial(inputs, trial, ids(), medians(trial)))
        return

    workers = min(workers, len(trials))
    upcoming = iter(trials)
    hard_stop = deadline + OVERRUN_SECONDS
    with WorkerPool(inputs, workers, deflated) as pool:
        while True:
            while pool.workers and pool.has_room() and not clock.near():
                trial = next(upcoming, None)
                if trial is None:
                    break
                if not pool.submit(trial, ids(), medians(trial)):
                    break
            if not pool.busy():
                break
            if time.monotonic() > hard_stop:
                log.warning("trials still running %.0f s past the budget: stopped", OVERRUN_SECONDS)
                yield from pool.abandon()
                break
            for outcome in pool.results(timeout=max(0.0, hard_stop - time.monotonic())):
                yield clock.record(outcome)
            if pool.lost:
                log.warning("%d worker process(es) died; the batch goes on", pool.lost)
                pool.lost = 0


class Deadline:
    """Whether one more trial would likely end after the deadline, judged by the slowest yet;
    what it records and refuses goes on to the progress shown to people, and what it records
    to the pruning rungs (--prune), which the next trials are judged by."""

    def __init__(
        self, deadline: float, progress: Progress | None = None, rungs: Rungs | None = None
    ) -> None:
        self.deadline = deadline
        self.slowest: float | None = None
        self.progress = progress or Progress(0, deadline, None)
        self.rungs = rungs

    def record(self, outcome: Outcome) -> Outcome:
        spent = ((outcome.fit_ms or 0) + (outcome.predict_ms or 0) + (outcome.cv_ms or 0)) / 1000
        self.slowest = spent if self.slowest is None else max(self.slowest, spent)
        self.progress.record(outcome)
        if self.rungs is not None:
            fold_r2 = (outcome.metrics or {}).get("cv_fold_r2")
            self.rungs.record(outcome.trial.model, outcome.status, fold_r2)
        return outcome

    def near(self) -> bool:
        near = self.slowest is not None and time.monotonic() + self.slowest > self.deadline
        self.progress.refused |= near
        return near


def trial_lineage(space: SearchSpace, sampler: str, history: dict[str, int]) -> dict[str, dict]:
    """By model, what proposed its trials: the sampler, the space, the history it saw."""
    return {
        model: {
            "sampler": sampler,
            "space_sha256": space.sha256(model),
            "history": history.get(model, 0),
        }
        for model in space.models
    }


def host_name() -> str:
    # SWEEPLAKE_HOST names the worker where the machine's name does not (several on one box).
    return os.environ.get("SWEEPLAKE_HOST") or socket.gethostname()


def encode_batch(
    batch_id: str,
    dataset: Dataset,
    outcomes: list[Outcome],
    lineage: dict[str, dict],
    facts: dict[str, bytes],
    dt: str | None = None,
) -> Batch:
    """The batch's objects: `facts` already gzipped (fact, and oof with CV), then one hyper line
    and one scores line per outcome; the scores object is derived, so it goes after hyper, the
    commit."""
    host = host_name()
    dt = dt or today()
    common = {"dataset": dataset.name, "dataset_sha256": dataset.sha256}
    hyper_lines, scores_lines = [], []
    for o in outcomes:
        record = {
            "hyper_id": o.hyper_id,
            "model": o.trial.model,
            **lake_params.encode(o.trial.params),
            "status": o.status,
            "error": o.error,
            **common,
            **lineage[o.trial.model],
            "seed": o.trial.seed,
            "batch_id": batch_id,
            "created_at": o.created_at,
            "fit_ms": o.fit_ms,
            "predict_ms": o.predict_ms,
            "cv_ms": o.cv_ms,
            "host": host,
            "version": __version__,
        }
        hyper_lines.append(json.dumps(record, allow_nan=False) + "\n")
        scores_lines.append(
            json.dumps(scores_record(record, dt, o.metrics), allow_nan=False) + "\n"
        )
    objects = {**facts, "hyper": gzip_text("".join(hyper_lines))}
    objects["scores"] = gzip_text("".join(scores_lines))
    return Batch(batch_id, dt, objects)
