"""LSTMs over windows of a series' past values (Keras 3 on JAX, on the CPU), for time-series
datasets alone: see sweeplake.timeseries.lstm for the network and its determinism."""

from __future__ import annotations

import numpy as np

from sweeplake.errors import BadInput
from sweeplake.models.family import ModelFamily, TrialFit


class LstmFit(TrialFit):
    """A trial's fits on windows of each point's past targets (the inputs' history), not on
    the dataset's tabular features."""

    def _windows(self, rows: np.ndarray) -> np.ndarray:
        return self.inputs.history.windows(rows, int(self.trial.params["window"]))

    def _fitted(self, rows: np.ndarray):
        model = self.family.build(self.trial.params, self.trial.seed)
        return model.fit(self._windows(rows), self.inputs.y[rows])

    def fit(self) -> None:
        self.model = self._fitted(np.arange(len(self.inputs.y_train)))

    def predict(self) -> np.ndarray:
        return self.model.predict(self._windows(np.arange(len(self.inputs.y))))

    def fold(self, split: int) -> np.ndarray:
        fit_rows, held_out = self.inputs.splits[split]
        return self._fitted(fit_rows).predict(self._windows(held_out))


class LstmFamily(ModelFamily):
    name = "lstm"
    title = "LSTM"
    space = {
        "units": {"type": "int", "low": 4, "high": 64, "log": True, "valid": "[1, 1024]"},
        "layers": {"type": "int", "low": 1, "high": 2, "log": False, "valid": "[1, 4]"},
        "window": {"type": "int", "low": 3, "high": 24, "log": False, "valid": "[1, 1000]"},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "log": False, "valid": "[0, 1)"},
        "learning_rate": {
            "type": "float",
            "low": 0.0003,
            "high": 0.03,
            "log": True,
            "valid": "(0, 1]",
        },
        "epochs": {"type": "int", "low": 5, "high": 60, "log": True, "valid": "[1, 10000]"},
        "batch_size": {"type": "int", "low": 8, "high": 128, "log": True, "valid": "[1, 100000]"},
    }
    trusted = frozenset({"sweeplake.timeseries.lstm.LstmForecaster"})
    libraries = ("keras", "jax", "jaxlib", "numpy")
    score_map = ("units", "window")

    def build(self, params: dict, seed: int):
        from sweeplake.timeseries.lstm import LstmForecaster

        return LstmForecaster(**{k: params[k] for k in self.space}, seed=seed)

    def load(self) -> None:
        from sweeplake.timeseries.lstm import load_keras

        load_keras()

    def refuses(self, dataset) -> str | None:
        if dataset.timeseries is None:
            return (
                f"the lstm model reads a series' past, and {dataset.name} is not a time series "
                "(make one with import-data --time-column)"
            )
        return None

    def design(self, dataset, params: dict) -> np.ndarray:
        from sweeplake.timeseries.history import History

        every = np.arange(len(dataset.point_ids))
        return History.of(dataset, every).windows(every, int(params["window"]))

    def prepare(self, inputs) -> None:
        if inputs.history is None:
            raise BadInput("the lstm model needs a time-series dataset")
        return None

    def start(self, inputs, trial) -> TrialFit:
        return LstmFit(self, inputs, trial)


FAMILY = LstmFamily()
