"""A batch's trials as Spark tasks: `run --runner spark`.

The driver samples and draws every trial's hyper_id, as the local runner does; each Spark task
takes a slice of the trials, prepares the batch's inputs once per Python worker, fits each trial
with the same `run_trial` the local workers call, and writes its own part of the batch's fact
(and, with CV, oof) objects straight into the lake under keys fixed by the batch and the
partition (lake/parts.py). Only the trials' outcomes, without their predictions, come back to
the driver, which checks that every part is in place before it writes the commit (hyper) and
the scores objects. A trial that raises is a failed trial, never a failed task; a task that
fails (its worker killed, the lake unreachable) is retried by Spark and overwrites its parts.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial

from sweeplake.dataset import Dataset
from sweeplake.errors import LakeUnreachable
from sweeplake.fitting.fit import Outcome, TrialInputs, prepare, run_trial
from sweeplake.ids import new_id
from sweeplake.lake import Batch, Gzipped, Lake, dataset_key, open_lake
from sweeplake.lake.parts import batch_keys, part_key
from sweeplake.samplers.space import Trial
from sweeplake.spark.frames import first_line, spark_errors, starved
from sweeplake.spark.session import spark_faults, spark_session

log = logging.getLogger("sweeplake.spark")
# Tasks per core Spark offers: a few, so a retried task redoes a small share of the batch,
# while the parts stay few (each is one object Athena opens).
TASKS_PER_CORE = 2


@dataclass(frozen=True)
class BatchSpec:
    """What every task of the batch reads, sent to the executors once (a broadcast)."""

    lake: str
    batch_id: str
    dt: str
    dataset: Dataset
    models: frozenset[str]
    cv: bool
    deadline: float  # seconds since the epoch: no trial starts that would end past it


def run_on_spark(
    lake: Lake,
    batch_id: str,
    dataset: Dataset,
    trials: Sequence[Trial],
    models: set[str],
    cv: bool,
    budget: float,
    master: str | None,
    dataset_held: bool,
    dt: str,
    encode: Callable[[list[Outcome]], Batch],
) -> list[Outcome]:
    """Fit the batch on Spark, then commit it: the hyper object, then the scores object.

    `dt` is the batch's day, fixed before the tasks start, so that their parts and the commit
    share it; `encode` makes the batch's hyper and scores objects from its outcomes."""
    spark_session(master)  # started (or refused) before anything is written
    if not dataset_held:
        write(lake, batch_id, dataset_key(dataset), dataset.canonical)
    outcomes = fit_on_spark(lake, batch_id, dt, dataset, trials, models, cv, budget, master)
    batch = encode(outcomes)
    for prefix, body in batch.objects.items():  # hyper, the commit, first
        write(lake, batch_id, batch.key(prefix), body)
    return outcomes


def write(lake: Lake, batch_id: str, key: str, body: bytes) -> None:
    """Put one object straight into the lake (no spool: the parts are there already)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        lake.put(key, body)
    except (OSError, BotoCoreError, ClientError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise LakeUnreachable(
            f"batch {batch_id} was NOT committed: writing {lake.uri}/{key} failed ({reason})"
        ) from None


def fit_on_spark(
    lake: Lake,
    batch_id: str,
    dt: str,
    dataset: Dataset,
    trials: Sequence[Trial],
    models: set[str],
    cv: bool,
    budget: float,
    master: str | None = None,
) -> list[Outcome]:
    """The trials' outcomes (by hyper_id, without their predictions), once every part of the
    batch's facts is in the lake; LakeUnreachable if the Spark job failed past its retries."""
    spark = spark_session(master)
    context = spark.sparkContext
    # Drawn here, once: a retried task fits the same trials under the same ids.
    planned = [(new_id(), trial) for trial in trials]
    slices = min(len(planned), max(1, context.defaultParallelism) * TASKS_PER_CORE)
    spec = BatchSpec(lake.uri, batch_id, dt, dataset, frozenset(models), cv, time.time() + budget)
    forward_settings(context.environment, context.master.startswith("local"))
    with spark_faults(f"batch {batch_id} was NOT written"):  # its JVM dying under the batch
        context.setJobGroup(f"sweeplake-{batch_id}", f"sweeplake batch {batch_id}")
        shared = context.broadcast(spec)
        log.info(
            "batch %s: %d trials in %d Spark tasks on %s",
            batch_id,
            len(planned),
            slices,
            context.master,
        )
        try:
            tasks = context.parallelize(planned, slices).mapPartitionsWithIndex(
                partial(fit_part, shared)
            )
            results = tasks.collect()
        except spark_errors() as exc:  # the job failed past Spark's retries
            if starved(exc):
                raise
            raise LakeUnreachable(
                f"batch {batch_id} was NOT written: its Spark job failed ({first_line(exc)})"
            ) from None
        finally:
            shared.destroy()
    outcomes = [outcome for _, outcome in results if outcome is not None]
    written = {key for key, _ in results if key is not None}
    check_parts(lake, batch_id, dt, written, ("fact", "oof"))
    return sorted(outcomes, key=lambda o: o.hyper_id)


def forward_settings(environment: dict[str, str], local: bool) -> None:
    """Give the tasks this process's lake settings: SWEEPLAKE_* always (the KMS key, the S3
    timeout); AWS_* (credentials, endpoint) only on a local master, where the tasks run on this
    machine as this user: a cluster's executors use their own (an instance role)."""
    forwarded = ("SWEEPLAKE_", "AWS_") if local else ("SWEEPLAKE_",)
    for name in [n for n in environment if n.startswith(forwarded)]:
        del environment[name]
    environment.update({n: v for n, v in os.environ.items() if n.startswith(forwarded)})


def check_parts(
    lake: Lake, batch_id: str, dt: str, written: set[str], prefixes: tuple[str, ...]
) -> None:
    """Every part the tasks wrote is in the lake, and no other: else the batch is not committed."""
    listed = {key for prefix in prefixes for key in batch_keys(lake, prefix, dt, batch_id)}
    if listed != written:
        missing, extra = sorted(written - listed), sorted(listed - written)
        raise LakeUnreachable(
            f"batch {batch_id} was NOT committed: its parts in {lake.uri} are not the ones "
            f"its tasks wrote (missing {missing[:3]}, unexpected {extra[:3]})"
        )


# Per Python worker: the inputs of the batch it last prepared, so that a worker Spark reuses
# for the batch's next task does not prepare them again.
_prepared: dict[str, TrialInputs] = {}


def inputs_for(spec: BatchSpec) -> TrialInputs:
    if spec.batch_id not in _prepared:
        _prepared.clear()
        _prepared[spec.batch_id] = prepare(spec.dataset, set(spec.models), cv=spec.cv)
    return _prepared[spec.batch_id]


def fit_part(
    shared, part: int, planned: Iterator[tuple[str, Trial]]
) -> Iterator[tuple[str | None, Outcome]]:
    """One Spark task: fit its trials, write its parts, yield (a part's key, None) per part
    and (None, outcome) per trial, the outcome without its predictions."""
    spec: BatchSpec = shared.value
    inputs = inputs_for(spec)
    packed = {"fact": Gzipped(), **({"oof": Gzipped()} if spec.cv else {})}
    outcomes, slowest = [], None
    for hyper_id, trial in planned:
        if slowest is not None and time.time() + slowest > spec.deadline:
            break  # as the local runner: no trial starts that would end past the budget
        outcome = run_trial(inputs, trial, hyper_id)
        spent = ((outcome.fit_ms or 0) + (outcome.predict_ms or 0) + (outcome.cv_ms or 0)) / 1000
        slowest = spent if slowest is None else max(slowest, spent)
        if outcome.ok:
            packed["fact"].write(outcome.facts)
            if spec.cv:
                packed["oof"].write(outcome.oof)
        outcomes.append(replace(outcome, facts=None, oof=None))
    lake = open_lake(spec.lake)
    if any(o.ok for o in outcomes):
        for prefix, gzipped in packed.items():
            key = part_key(prefix, spec.dt, spec.batch_id, part)
            lake.put(key, gzipped.close())
            yield key, None
    for outcome in outcomes:
        yield None, outcome
