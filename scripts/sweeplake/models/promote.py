"""Promotion: refit one trial, prove it predicts what the lake says it did, store it with a card.

The lake's facts are the truth about a trial; a refit that does not reproduce them within
TOLERANCE on every point is not that trial, and is refused rather than stored.
"""

from __future__ import annotations

import logging
import platform
from importlib.metadata import version

import numpy as np

from sweeplake.dataset import Dataset
from sweeplake.engines.sqlfiles import query_file
from sweeplake.errors import BadInput
from sweeplake.fitting.fit import utc_now
from sweeplake.lake import Lake, open_lake
from sweeplake.lake import params as lake_params
from sweeplake.lake.trial import hyper_record, lake_dataset, trial_facts
from sweeplake.models import promoted
from sweeplake.models.registry import family
from sweeplake.timeseries.meta import card_section

log = logging.getLogger("sweeplake.promote")
TOLERANCE = 1e-9
CHOICES = ("test", "cv")


def promote(lake_uri: str, hyper_id: str | None = None, by: str | None = None) -> dict:
    """Promote the trial named, else the best by `by` (default: cv when the lake has it)."""
    if hyper_id is not None and by is not None:
        raise BadInput("give --hyper-id or --by, not both")
    if by is not None and by not in CHOICES:
        raise BadInput(f"unknown --by {by!r:.40}: choose {' or '.join(CHOICES)}")
    lake = open_lake(lake_uri)
    scores = choose(lake_uri, hyper_id, by)
    refuse_spark_fitted(scores)
    hyper = hyper_record(lake, scores)
    dataset = lake_dataset(lake, hyper)
    estimator = refit(dataset, hyper)
    difference = check_against_facts(lake, scores, dataset, estimator)
    card = model_card(hyper, scores, dataset, difference)
    promoted.save(lake, estimator, card)
    scored = ", ".join(
        f"{name} {card['metrics'][key]:.4f}"
        for key, name in (("cv_r2", "CV R²"), ("test_r2", "test R²"))
        if card["metrics"].get(key) is not None
    )
    log.info(
        "promoted %s (%s, %s) to %s/%s/%s/: its refit gives its facts within %g on all %d points",
        card["hyper_id"],
        card["model"],
        scored,
        lake.uri,
        promoted.PREFIX,
        card["hyper_id"],
        TOLERANCE,
        card["check"]["points"],
    )
    return card


def choose(lake_uri: str, hyper_id: str | None, by: str | None) -> dict:
    """The chosen trial's scores line, from the scores store, never from the facts."""
    from sweeplake.scores.store import open_scores

    store = open_scores(lake_uri)
    store.refresh()
    if hyper_id is None:
        return best_trial(store.connection, lake_uri, by)
    found = query_file(store.connection, "promote_trial.sql", [hyper_id])
    if not found:
        raise BadInput(f"no trial {hyper_id!r:.40} in the lake {lake_uri}")
    if found[0]["status"] != "ok":
        raise BadInput(f"trial {hyper_id} {found[0]['status']}; only an ok trial can be promoted")
    return found[0]


def refuse_spark_fitted(scores: dict) -> None:
    """A model Spark fitted lives in a Spark cluster, not in one process that skops saves and
    `serve` loads: BadInput saying what to do instead."""
    chosen = family(scores["model"])
    if chosen.on_spark:
        raise BadInput(
            f"trial {scores['hyper_id']} is a {chosen.name} model, fitted by Spark: promote and "
            "serve take models fitted in one process; promote another trial (--hyper-id), or "
            "refit this one with pyspark.ml from its params and seed (its predictions are in "
            "the lake, fact_parquet/)"
        )


def best_trial(db, lake_uri: str, by: str | None = None) -> dict:
    """The best ok trial's scores line by `by`; by default by cv when the lake has cv scores."""
    columns = {c[0] for c in db.execute("DESCRIBE scores").fetchall()}
    if by is None:
        has_cv = "cv_r2" in columns and query_file(db, "best_by_cv.sql", [1])
        by = "cv" if has_cv else "test"
    if by == "cv" and "cv_r2" not in columns:
        raise BadInput(f"the lake {lake_uri} has no cross-validated scores: use --by test")
    found = query_file(db, f"best_by_{by}.sql", [1])
    if not found:
        raise BadInput(f"no ok trial with a {by} score in the lake {lake_uri}")
    return found[0]


def trial_params(hyper: dict) -> dict:
    return lake_params.decode(hyper, family(hyper["model"]).params)


def refit(dataset: Dataset, hyper: dict):
    """The trial's estimator fitted on the training points, in the order the job fitted them."""
    estimator = family(hyper["model"]).build(trial_params(hyper), hyper["seed"])
    x = family(hyper["model"]).design(dataset, trial_params(hyper))
    return estimator.fit(x[dataset.is_train], dataset.y[dataset.is_train])


def check_against_facts(lake: Lake, scores: dict, dataset: Dataset, estimator) -> float:
    """The largest difference from the trial's facts over every point; BadInput past TOLERANCE.

    Only this trial's batch's fact object is read.
    """
    hyper_id = scores["hyper_id"]
    facts = trial_facts(lake, scores)
    missing = [int(p) for p in dataset.point_ids if int(p) not in facts or facts[int(p)] is None]
    if missing:
        raise BadInput(
            f"trial {hyper_id} has no prediction for {len(missing)} point(s) in its facts"
        )
    recorded = np.array([facts[int(p)] for p in dataset.point_ids], dtype=np.float64)
    x = family(scores["model"]).design(dataset, trial_params(scores))
    difference = float(np.max(np.abs(estimator.predict(x) - recorded)))
    if not difference <= TOLERANCE:
        raise BadInput(
            f"refusing to promote {hyper_id}: its refit differs from its facts by "
            f"{difference:.3g} (more than {TOLERANCE:g})"
        )
    return difference


def model_card(hyper: dict, scores: dict, dataset: Dataset, difference: float) -> dict:
    """What a user of the model needs to know about it, without the lake at hand."""
    metrics = {k: v for k, v in scores.items() if k not in hyper and k != "dt"}
    return {
        "hyper_id": hyper["hyper_id"],
        "model": hyper["model"],
        "params": trial_params(hyper),
        "seed": hyper["seed"],
        "metrics": metrics,
        "dataset": {
            "name": dataset.name,
            "sha256": dataset.sha256,
            "points": len(dataset.point_ids),
            "train_points": int(dataset.is_train.sum()),
        },
        "features": list(dataset.features),
        "target": "y_true",
        "trial": {k: hyper[k] for k in ("batch_id", "created_at", "host", "version", "sampler")},
        "check": {"points": len(dataset.point_ids), "max_abs_diff": difference},
        "libraries": {
            "python": platform.python_version(),
            **{n: version(n) for n in (*family(hyper["model"]).libraries, "skops")},
        },
        "format": f"skops {promoted.MODEL_FILE}",
        "created_at": utc_now(),
        "timeseries": card_section(dataset, hyper["model"]),
    }
