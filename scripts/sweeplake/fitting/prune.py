"""Pruning across folds (`run --prune`), decided from the lake's history.

A trial's folds are its rungs: after fold k (in fold order) its partial cv score is the mean
R² of folds 0..k. The rule is the median rule, as Optuna's MedianPruner applies it to a study:
a trial stops after rung k when its partial score is below the median of what the history's
ok trials (every machine's, same dataset, model family and search space, the most recent
RECENT of them) had after the same rung. Median, not successive halving: the history is a
pool of finished trials from many machines, never a bracket of trials started together, and
the median of that pool asks no coordination, needs no rung bookkeeping in the lake, and
keeps the rule stateless per trial. The last rung never prunes: a trial that got every fold
is a survivor and gets its full fit, as without --prune.

No rung prunes until the history holds MIN_HISTORY ok trials with their folds' R²: an empty
lake prunes nothing for its first batches.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence

from sweeplake.engines.sqlfiles import read_sql

MIN_HISTORY = 20
RECENT = 500


def rung_medians(fold_r2: Sequence[Sequence[float]], folds: int) -> tuple[float, ...] | None:
    """The median partial score after each rung but the last, from the history's ok trials'
    per-fold R²; None while fewer than MIN_HISTORY of them have all `folds` folds."""
    complete = [r for r in fold_r2 if len(r) == folds]
    if len(complete) < MIN_HISTORY:
        return None
    return tuple(
        statistics.median(sum(r[: k + 1]) / (k + 1) for r in complete) for k in range(folds - 1)
    )


def history_rungs(
    lake: str, dataset_sha256: str, spaces: dict[str, str], folds: int
) -> dict[str, tuple[float, ...]]:
    """By model (its space's sha256 in `spaces`), the medians a trial must reach after each
    rung, from the lake's scores; a model without enough history is left out (never pruned)."""
    from sweeplake.scores.store import open_scores

    store = open_scores(lake)
    store.refresh()
    rungs = {}
    for model, space_sha256 in spaces.items():
        query = {
            "dataset_sha256": dataset_sha256,
            "model": model,
            "space_sha256": space_sha256,
            "recent": RECENT,
        }
        rows = store.connection.execute(read_sql("prune_history.sql"), query).fetchall()
        medians = rung_medians([json.loads(text) for (text,) in rows], folds)
        if medians is not None:
            rungs[model] = medians
    return rungs


def stops(partial: float, rung: int, medians: tuple[float, ...]) -> bool:
    """Whether a trial whose mean R² over folds 0..rung is `partial` stops there."""
    return rung < len(medians) and partial < medians[rung]
