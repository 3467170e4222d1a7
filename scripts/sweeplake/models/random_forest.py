"""Random forests (scikit-learn's RandomForestRegressor), one process per trial (n_jobs=1):
the batch's workers are the parallelism.

A forest may be grown as groves (`run --groves K`): its trees split into K forests of their own
(`grove_sizes`), each seeded from the trial's seed (`grove_seed`), fitted apart and combined
by the tree-weighted mean of their predictions (sql/create_forest_predict.sql). The groves'
trees together are one scikit-learn forest (`assemble`): what `promote` stores and serves.
"""

from __future__ import annotations

import numpy as np

from sweeplake.models.family import ModelFamily
from sweeplake.samplers.space import Trial

GROVES = "groves"  # the params key of a trial grown as groves: how many


class RandomForestFamily(ModelFamily):
    name = "random_forest"
    warm = True
    title = "random forest"
    space = {
        "n_estimators": {"type": "int", "low": 10, "high": 200, "log": True, "valid": "[1, 2000]"},
        "max_depth": {"type": "int", "low": 2, "high": 16, "log": False, "valid": "[1, 1000]"},
        "min_samples_split": {
            "type": "int",
            "low": 2,
            "high": 20,
            "log": False,
            "valid": "[2, 100000]",
        },
        "min_samples_leaf": {
            "type": "int",
            "low": 1,
            "high": 20,
            "log": False,
            "valid": "[1, 100000]",
        },
        "max_features": {"type": "float", "low": 0.1, "high": 1.0, "log": False, "valid": "(0, 1]"},
    }
    trusted = frozenset({"sklearn.tree._tree.Tree"})
    labels = {
        "n_estimators": "trees",
        "max_depth": "max depth (levels)",
        "min_samples_split": "min samples to split (points)",
        "min_samples_leaf": "min samples per leaf (points)",
        "max_features": "max features per split (fraction)",
    }

    def build(self, params: dict, seed: int):
        if GROVES in params:
            return Groves(self, params, seed)
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(
            n_estimators=params["n_estimators"],
            max_depth=params["max_depth"],
            min_samples_split=params["min_samples_split"],
            min_samples_leaf=params["min_samples_leaf"],
            max_features=params["max_features"],
            random_state=seed,
            n_jobs=1,
        )

    def load(self) -> None:
        from sklearn.ensemble import RandomForestRegressor  # noqa: F401

    def groves(self, trial, groves: int):
        sizes = grove_sizes(trial.params["n_estimators"], groves)
        recorded = Trial(trial.model, {**trial.params, GROVES: len(sizes)}, trial.seed)
        parts = [
            (
                Trial(trial.model, grove_params(trial.params, trees), grove_seed(trial.seed, g)),
                trees,
            )
            for g, trees in enumerate(sizes)
        ]
        return recorded, parts


def grove_sizes(trees: int, groves: int) -> list[int]:
    """The trees of each grove: as even as can be, the larger ones first; no grove is empty."""
    groves = min(groves, trees)
    return [trees // groves + (g < trees % groves) for g in range(groves)]


def grove_seed(seed: int, grove: int) -> int:
    """Grove `grove`'s seed, derived from the trial's: numpy's SeedSequence of both."""
    return int(np.random.SeedSequence([seed, grove]).generate_state(1)[0])


def grove_params(params: dict, trees: int) -> dict:
    """One grove's parameters: the trial's, with the grove's tree count."""
    return {k: v for k, v in params.items() if k != GROVES} | {"n_estimators": trees}


def assemble(groves: list):
    """One fitted forest made of the fitted groves' trees, in grove order."""
    from copy import deepcopy

    forest = deepcopy(groves[0])
    forest.estimators_ = [tree for grove in groves for tree in grove.estimators_]
    forest.n_estimators = len(forest.estimators_)
    return forest


class Groves:
    """A grove trial's forest, fitted grove by grove as the runners fit it, then assembled:
    `fit` returns the assembled RandomForestRegressor (what promote stores)."""

    def __init__(self, family: RandomForestFamily, params: dict, seed: int) -> None:
        self.family, self.params, self.seed = family, params, seed

    def fit(self, x, y):
        sizes = grove_sizes(self.params["n_estimators"], self.params[GROVES])
        self.forest_ = assemble(
            [
                self.family.build(grove_params(self.params, trees), grove_seed(self.seed, g)).fit(
                    x, y
                )
                for g, trees in enumerate(sizes)
            ]
        )
        return self.forest_

    def predict(self, x):
        return self.forest_.predict(x)


FAMILY = RandomForestFamily()
