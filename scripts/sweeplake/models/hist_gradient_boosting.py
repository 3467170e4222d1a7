"""Histogram gradient boosting (scikit-learn's HistGradientBoostingRegressor).

Its OpenMP threads are held to one per trial: the batch's workers are the parallelism, and a
forked worker must never start a thread pool its parent already started.
"""

from __future__ import annotations

from sweeplake.models.family import EstimatorFit, ModelFamily


class OneThreadFit(EstimatorFit):
    def fit(self) -> None:
        with one_thread():
            super().fit()

    def predict(self):
        with one_thread():
            return super().predict()

    def fold(self, split: int):
        with one_thread():
            return super().fold(split)


def one_thread():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


class HistGradientBoostingFamily(ModelFamily):
    name = "hist_gradient_boosting"
    warm = True
    title = "histogram gradient boosting"
    space = {
        "learning_rate": {
            "type": "float",
            "low": 0.01,
            "high": 0.5,
            "log": True,
            "valid": "(0, 1e3]",
        },
        "max_iter": {"type": "int", "low": 20, "high": 300, "log": True, "valid": "[1, 10000]"},
        "max_leaf_nodes": {"type": "int", "low": 4, "high": 64, "log": True, "valid": "[2, 10000]"},
        "max_depth": {"type": "int", "low": 2, "high": 12, "log": False, "valid": "[1, 1000]"},
        "min_samples_leaf": {
            "type": "int",
            "low": 2,
            "high": 60,
            "log": True,
            "valid": "[1, 100000]",
        },
        "l2_regularization": {
            "type": "float",
            "low": 1e-4,
            "high": 10.0,
            "log": True,
            "valid": "[0, 1e6]",
        },
    }
    trusted = frozenset({"sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"})
    labels = {
        "learning_rate": "learning rate (shrinkage per tree)",
        "max_iter": "boosting iterations (trees)",
        "max_leaf_nodes": "max leaves per tree",
        "max_depth": "max depth (levels)",
        "min_samples_leaf": "min samples per leaf (points)",
        "l2_regularization": "L2 regularisation of leaf values",
    }

    def build(self, params: dict, seed: int):
        from sklearn.ensemble import HistGradientBoostingRegressor

        # Early stopping off: every trial fits the iterations it names, on any data size.
        return HistGradientBoostingRegressor(**params, early_stopping=False, random_state=seed)

    def load(self) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: F401

    def start(self, inputs, trial) -> OneThreadFit:
        return OneThreadFit(self, inputs, trial)


FAMILY = HistGradientBoostingFamily()
