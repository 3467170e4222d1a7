"""Forests grown as groves (`run --groves K`): each random-forest trial's trees split into K
groves, each grove a unit of work of its own for the workers, combined by the SQL view.

A grove is fitted as any trial is (its own forest, its own seed derived from the trial's), so
the workers, the deadline and the progress treat it as one; its predictions of every point
and, with CV, of each held-out fold become the batch's `grove` facts, tagged with the grove
and its tree count. The trial's own facts, out-of-fold predictions and scores come from
sql/create_forest_predict.sql run by DuckDB over those facts: the view Athena runs too. A
trial whose groves did not all arrive (a worker died, the budget ran out) is not committed:
no hyper record, no facts; one whose every grove failed is a failed trial, as without groves.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from sweeplake.dataset import Dataset
from sweeplake.errors import BadInput
from sweeplake.fitting.fit import Outcome, TrialInputs, encode_facts, prepare
from sweeplake.ids import new_id
from sweeplake.lake import Gzipped
from sweeplake.models.registry import family
from sweeplake.progress import Progress
from sweeplake.samplers.space import Trial
from sweeplake.scores.metrics import cv_score, score

log = logging.getLogger("sweeplake.groves")
MAX_GROVES = 64
# Keys of a grove's unit of work that say which trial and grove it is and its tree count
# (the workers' business alone: never in the lake).
TRIAL_KEY, GROVE_KEY, TREES_KEY = "_trial", "_grove", "_trees"


def units(trials: Sequence[Trial], groves: int) -> tuple[list[Trial], dict[int, tuple]]:
    """The units of work (each trial its family grows in groves as those groves, any other as
    it is), and by trial's place, the trial as recorded and its number of groves."""
    found, grown = [], {}
    for index, trial in enumerate(trials):
        split = family(trial.model).groves(trial, groves)
        if split is None:
            found.append(trial)
            continue
        recorded, parts = split
        grown[index] = (recorded, len(parts))
        for grove, (part, trees) in enumerate(parts):
            tags = {TRIAL_KEY: index, GROVE_KEY: grove, TREES_KEY: trees}
            found.append(replace(part, params={**part.params, **tags}))
    return found, grown


def fit_groves(
    dataset: Dataset,
    trials: Sequence[Trial],
    models: set[str],
    workers: int,
    deadline: float,
    groves: int,
    cv: bool = False,
    progress: Progress | None = None,
    ids: Callable[[], str] = new_id,
    *,
    execute: Callable[..., Iterator[Outcome]],
) -> tuple[list[Outcome], dict[str, bytes]]:
    """As run.fit_batch, with each forest trial fitted as groves; the facts gain "grove".

    `execute` is run's: it fits the groves as it fits any trial, in the batch's workers."""
    work, grown = units(trials, groves)
    if progress is not None:
        progress.cap = len(work)  # the groves are what it counts
    plain, by_trial = [], {}
    for outcome in execute(dataset, work, models, workers, deadline, cv, progress, ids):
        if TRIAL_KEY in outcome.trial.params:
            by_trial.setdefault(outcome.trial.params[TRIAL_KEY], []).append(outcome)
        else:
            plain.append(outcome)
    inputs = prepare(dataset, set(), cv=cv)  # the points in the order the metrics sum them
    packed = {"fact": Gzipped(), **({"oof": Gzipped()} if cv else {}), "grove": Gzipped()}
    outcomes = []
    for outcome in plain:
        if outcome.ok:
            packed["fact"].write(outcome.facts)
            if cv:
                packed["oof"].write(outcome.oof)
        outcomes.append(replace(outcome, facts=None, oof=None))
    combined = combine(inputs, grown, by_trial, cv, ids)
    for outcome, grove_lines in combined:
        if outcome.ok:
            packed["grove"].write(grove_lines)
            packed["fact"].write(outcome.facts)
            if cv:
                packed["oof"].write(outcome.oof)
        outcomes.append(replace(outcome, facts=None, oof=None))
    facts = {prefix: gzipped.close() for prefix, gzipped in packed.items()}
    return sorted(outcomes, key=lambda o: o.hyper_id), facts


def combine(
    inputs: TrialInputs,
    grown: dict[int, tuple[Trial, int]],
    by_trial: dict[int, list[Outcome]],
    cv: bool,
    ids: Callable[[], str] = new_id,
) -> list[tuple[Outcome, str]]:
    """Each trial whose groves all arrived, as one outcome and its grove fact lines."""
    whole: list[tuple[Outcome, str]] = []
    lines: dict[str, str] = {}
    for index, arrived in sorted(by_trial.items()):
        trial, expected = grown[index]
        if len(arrived) != expected or any(o.ok for o in arrived) != all(o.ok for o in arrived):
            missing = expected - sum(o.ok for o in arrived)
            log.warning(
                "forest trial %d: %d of its %d groves did not arrive: not committed",
                index,
                missing,
                expected,
            )
            continue
        hyper_id = ids()
        spent = {
            name: sum(getattr(o, name) or 0.0 for o in arrived)
            for name in ("fit_ms", "predict_ms", "cv_ms")
        }
        if not arrived[0].ok:
            failed = Outcome(
                hyper_id, trial, arrived[0].created_at, None, None, None, arrived[0].error
            )
            whole.append((failed, ""))
            continue
        lines[hyper_id] = "".join(grove_lines(hyper_id, o) for o in arrived)
        outcome = Outcome(
            hyper_id,
            trial,
            created_at=max(o.created_at for o in arrived),
            fit_ms=spent["fit_ms"],
            predict_ms=spent["predict_ms"],
            facts=None,  # from the view, below
            error=None,
            cv_ms=spent["cv_ms"] if cv else None,
        )
        whole.append((outcome, lines[hyper_id]))
    predictions = forest_predictions(lines)
    done = []
    for outcome, text in whole:
        if outcome.ok:
            outcome = with_predictions(inputs, outcome, predictions[outcome.hyper_id], cv)
        done.append((outcome, text))
    return done


def grove_lines(hyper_id: str, outcome: Outcome) -> str:
    """The grove's fact lines (every point) and out-of-fold lines, tagged with its trial's id,
    the grove and its trees."""
    tag = f'{{"hyper_id":"{hyper_id}","grove":{outcome.trial.params[GROVE_KEY]},'
    tag += f'"trees":{outcome.trial.params[TREES_KEY]},'
    lines = []
    for text, with_fold in ((outcome.facts, False), (outcome.oof or "", True)):
        for line in text.splitlines():
            record = json.loads(line)
            fold = record["fold"] if with_fold else None
            lines.append(
                f'{tag}"point_id":{record["point_id"]},"fold":{json.dumps(fold)},'
                f'"y_pred":{record["y_pred"]!r}}}\n'
            )
    return "".join(lines)


def forest_predictions(lines: dict[str, str]) -> dict[str, dict[tuple[int, int | None], float]]:
    """sql/create_forest_predict.sql run by DuckDB over the grove lines: by trial, each
    (point, fold)'s prediction."""
    if not lines:
        return {}
    import duckdb

    from sweeplake.engines.sqlfiles import duckdb_types, read_sql, table_schema

    found: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="sweeplake-groves-") as folder:
        path = Path(folder) / "grove.json"
        path.write_text("".join(lines.values()))
        connection = duckdb.connect()
        try:
            columns = duckdb_types(table_schema("grove").columns)
            connection.read_json(
                str(path), columns=columns, format="newline_delimited"
            ).create_view("grove")
            connection.execute(read_sql("create_forest_predict.sql"))
            rows = connection.execute(
                "SELECT hyper_id, point_id, fold, y_pred FROM forest_predict"
            ).fetchall()
        finally:
            connection.close()
    for hyper_id, point_id, fold, y_pred in rows:
        found.setdefault(hyper_id, {})[(point_id, fold)] = y_pred
    return found


def with_predictions(inputs: TrialInputs, outcome: Outcome, predicted: dict, cv: bool) -> Outcome:
    """The outcome with the view's predictions as its facts, out-of-fold lines and scores."""
    y_pred = np.array([predicted[(int(p), None)] for p in inputs.point_ids])
    facts = encode_facts(outcome.hyper_id, inputs.point_ids, y_pred)
    metrics = score(inputs.y, y_pred, inputs.is_train)
    oof = None
    if cv:
        train_ids = inputs.point_ids[: len(inputs.y_train)]
        y_oof = np.array(
            [predicted[(int(p), int(k))] for p, k in zip(train_ids, inputs.train_fold, strict=True)]
        )
        oof = encode_facts(outcome.hyper_id, train_ids, y_oof, inputs.train_fold)
        metrics.update(cv_score(inputs.y_train, y_oof, inputs.train_fold))
    return replace(outcome, facts=facts, oof=oof, metrics=metrics)


def check_groves(groves: int | None) -> None:
    if groves is not None and not 1 <= groves <= MAX_GROVES:
        raise BadInput(f"--groves must be 1 to {MAX_GROVES}, got {groves}")
