"""A trial's hyperparameters in the lake.

The `params` column holds every hyperparameter of any model family as JSON text, so that a new
family needs no schema change. The per-parameter columns of the lake's first families stay
beside it, filled where a parameter has their name, for the console queries written on them.
"""

from __future__ import annotations

import json

# The hyperparameter columns of sql/create_hyperparams.sql and the scores tables.
COLUMNS = (
    "gamma",
    "c",
    "epsilon",
    "n_estimators",
    "max_depth",
    "min_samples_split",
    "min_samples_leaf",
    "max_features",
)


def encode(params: dict) -> dict:
    """The record's `params` and per-parameter columns for the trial's parameters."""
    return {
        **{column: params.get(column) for column in COLUMNS},
        "params": json.dumps(params, allow_nan=False),
    }


def decode(record: dict, names: tuple[str, ...]) -> dict:
    """The trial's parameters from a hyper or scores record: its `params`, or, in a record
    written before that column, the per-parameter columns of the family's `names`."""
    text = record.get("params")
    if text:
        return json.loads(text)
    return {name: record.get(name) for name in names}
