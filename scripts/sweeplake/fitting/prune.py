"""Pruning across folds (`run --prune`), decided from the lake's history and the batch's own.

A trial's folds are its rungs: after fold k (in fold order) its partial cv score is the mean
R² of folds 0..k. The rule is the median rule, as Optuna's MedianPruner applies it to a study:
a trial stops after rung k when its partial score is below the median of what the ok trials
had after the same rung. Those ok trials are the history's (every machine's, same dataset,
model family and search space, the most recent RECENT of them) and, as they finish, the batch's
own: a trial is judged against every ok trial finished when it was handed to a worker, as
Optuna judges one against the trials completed before it. Median, not successive halving: the
history is a pool of finished trials from many machines, never a bracket of trials started
together, and the median of that pool asks no coordination, needs no rung bookkeeping in the
lake, and keeps the rule stateless per trial. The last rung never prunes: a trial that got every
fold is a survivor and gets its full fit, as without --prune.

No rung prunes until MIN_HISTORY ok trials with their folds' R² are known: on an empty lake the
first ten trials of a batch get every fold, and the rest are judged against them and those
after them.
"""

from __future__ import annotations

import json
from bisect import insort
from collections.abc import Iterable, Sequence

from sweeplake.engines.sqlfiles import read_sql

MIN_HISTORY = 10
RECENT = 500


class Rungs:
    """The ok trials' partial scores after each rung but the last, by model, kept sorted as
    trials are added; the medians a trial must reach come from them."""

    def __init__(self, folds: int, models: Iterable[str]) -> None:
        self.folds = folds
        self.partial: dict[str, list[list[float]]] = {
            m: [[] for _ in range(folds - 1)] for m in models
        }

    def add(self, model: str, fold_r2: Sequence[float]) -> None:
        """One ok trial's folds' R², in fold order; a trial without all of them is left out."""
        if model not in self.partial or len(fold_r2) != self.folds:
            return
        total = 0.0
        for k, sorted_scores in enumerate(self.partial[model]):
            total += fold_r2[k]
            insort(sorted_scores, total / (k + 1))

    def known(self, model: str) -> int:
        """How many ok trials of `model` the medians are over."""
        rungs = self.partial.get(model)
        return len(rungs[0]) if rungs else 0

    def medians(self, model: str) -> tuple[float, ...] | None:
        """The median partial score after each rung but the last; None while fewer than
        MIN_HISTORY ok trials of `model` are known (its trials are then never pruned)."""
        if self.known(model) < MIN_HISTORY:
            return None
        return tuple(median(s) for s in self.partial[model])

    def record(self, model: str, status: str, cv_fold_r2: str | None) -> None:
        """A finished trial of the batch: an ok one with its folds joins the history."""
        if status == "ok" and cv_fold_r2 is not None:
            self.add(model, json.loads(cv_fold_r2))


def median(ordered: Sequence[float]) -> float:
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def history_rungs(store, dataset_sha256: str, spaces: dict[str, str], folds: int) -> Rungs:
    """The history for each model (its space's sha256 in `spaces`) in the lake of the scores
    `store` (a ScoresStore), refreshed first."""
    store.refresh()
    rungs = Rungs(folds, spaces)
    for model, space_sha256 in spaces.items():
        query = {
            "dataset_sha256": dataset_sha256,
            "model": model,
            "space_sha256": space_sha256,
            "recent": RECENT,
        }
        rows = store.connection.execute(read_sql("prune_history.sql"), query).fetchall()
        for (text,) in rows:
            rungs.add(model, json.loads(text))
    return rungs


def stops(partial: float, rung: int, medians: tuple[float, ...]) -> bool:
    """Whether a trial whose mean R² over folds 0..rung is `partial` stops there."""
    return rung < len(medians) and partial < medians[rung]
