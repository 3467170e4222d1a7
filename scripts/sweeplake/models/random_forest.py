"""Random forests (scikit-learn's RandomForestRegressor), one process per trial (n_jobs=1):
the batch's workers are the parallelism."""

from __future__ import annotations

from sweeplake.models.family import ModelFamily


class RandomForestFamily(ModelFamily):
    name = "random_forest"
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


FAMILY = RandomForestFamily()
