"""The lstm family: an LSTM over windows of a series' past values, Keras 3 on the JAX
backend, on the CPU, for time-series datasets alone.

Keras is imported by `load_keras` alone, never at module level: no other command pays for it.
The backend and the CPU are forced before the import (whatever KERAS_BACKEND says), and XLA
runs one thread per process: a batch's workers are the parallelism. The same trial (its
parameters and seed) gives the same predictions: Keras' global seed is set before the weights
are drawn, each epoch's order is drawn from the trial's seed, and XLA on the CPU computes in a
fixed order.
"""

from __future__ import annotations

import os
from functools import cache, lru_cache

import numpy as np

from sweeplake.errors import BadInput
from sweeplake.models.family import ModelFamily, TrialFit

BACKEND = "jax"


@cache
def load_keras():
    """Keras on JAX on the CPU, imported once per process."""
    loaded = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = BACKEND
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        single = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{flags} {single}".strip()
    import keras

    if keras.backend.backend() != BACKEND:
        raise RuntimeError(
            f"keras was imported with the {keras.backend.backend()} backend before sweeplake "
            f"could choose {BACKEND} (KERAS_BACKEND was {loaded!r})"
        )
    return keras


class LstmForecaster:
    """The next value of a series from its last `window` values.

    The network sees each window relative to its last value (so series at any level look
    alike) and predicts the next step's change from it, both scaled by the range of the
    changes it is fitted on (MinMax, fitted on the training part alone, as every fold's model
    is).

    Compiling the network costs far more than fitting it on a few hundred windows, so the
    fits of one trial (the full fit and every fold) share one compiled network, each starting
    from the same initial weights and optimizer state. Every batch has the same size (each
    epoch is a seeded permutation cut to whole batches, predictions go in padded batches of
    PREDICT_BATCH): one compiled shape for fitting, one for predicting.
    """

    def __init__(
        self,
        units: int,
        layers: int,
        window: int,
        dropout: float,
        learning_rate: float,
        epochs: int,
        batch_size: int,
        seed: int,
    ) -> None:
        self.units, self.layers, self.window = int(units), int(layers), int(window)
        self.dropout, self.learning_rate = float(dropout), float(learning_rate)
        self.epochs, self.batch_size, self.seed = int(epochs), int(batch_size), int(seed)
        self.low = self.span = None
        self.weights: list[np.ndarray] | None = None

    @property
    def past_window(self) -> int:
        """How many past values of the target it reads: what the prediction API asks for."""
        return self.window

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in PARAMS}

    def _scaled(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.low) / self.span).astype(np.float32)

    def _network(self):
        key = (self.units, self.layers, self.window, self.dropout, self.learning_rate)
        return network(*key, self.seed % 2**31)

    def fit(self, windows: np.ndarray, y: np.ndarray) -> LstmForecaster:
        windows, y = np.asarray(windows, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if windows.ndim != 2 or windows.shape[1] != self.window or len(windows) != len(y):
            raise ValueError(f"windows must be (len(y), {self.window}), got {windows.shape}")
        if len(y) == 0:
            raise ValueError("no window to fit on")
        change = y - windows[:, -1]
        self.low = float(change.min())
        self.span = float(change.max() - change.min()) or 1.0
        batch = min(self.batch_size, len(y))
        model = self._network()
        # Each epoch a permutation of the windows cut to whole batches, drawn from the seed.
        rng = np.random.default_rng(self.seed)
        whole = len(y) // batch * batch
        order = np.concatenate([rng.permutation(len(y))[:whole] for _ in range(self.epochs)])
        x = self._scaled(windows - windows[:, -1:])[..., None]
        target = self._scaled(change)
        model.fit(x[order], target[order], batch_size=batch, shuffle=False, verbose=0)
        self.weights = [np.asarray(w) for w in model.get_weights()]
        return self

    def predict(self, windows: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise ValueError("this LstmForecaster is not fitted")
        windows = np.asarray(windows, dtype=np.float64)
        model = self._network()
        model.set_weights(self.weights)
        x = self._scaled(windows - windows[:, -1:])[..., None]
        padded = np.zeros((-len(x) % PREDICT_BATCH + len(x), self.window, 1), dtype=np.float32)
        padded[: len(x)] = x
        scaled = np.concatenate(
            [
                np.asarray(model.predict_on_batch(padded[i : i + PREDICT_BATCH]))[:, 0]
                for i in range(0, len(padded), PREDICT_BATCH)
            ]
        )[: len(x)]
        return windows[:, -1] + scaled.astype(np.float64) * self.span + self.low


PARAMS = ("units", "layers", "window", "dropout", "learning_rate", "epochs", "batch_size", "seed")
PREDICT_BATCH = 256


@lru_cache(maxsize=2)
def network(units, layers, window, dropout, learning_rate, seed):
    """A compiled network, reset to the weights and optimizer state that `seed` draws before
    each use."""
    keras = load_keras()
    keras.utils.set_random_seed(seed)
    stack = [keras.Input((window, 1))]
    for layer in range(layers):
        last = layer == layers - 1
        stack.append(
            keras.layers.LSTM(units, return_sequences=not last, dropout=dropout, seed=seed + layer)
        )
    stack.append(keras.layers.Dense(1))
    model = keras.Sequential(stack)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return Network(model)


class Network:
    """A compiled Keras model that starts every fit from the same state."""

    def __init__(self, model) -> None:
        self.model = model
        self.variables = [*model.variables, *model.optimizer.variables]
        self.initial = [np.array(v.value) for v in self.variables]

    def reset(self) -> None:
        for variable, value in zip(self.variables, self.initial, strict=True):
            variable.assign(value)

    def fit(self, x, y, **settings) -> None:
        self.reset()
        self.model.fit(x, y, epochs=1, **settings)

    def get_weights(self):
        return self.model.get_weights()

    def set_weights(self, weights) -> None:
        self.model.set_weights(weights)

    def predict_on_batch(self, x):
        return self.model.predict_on_batch(x)


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
    trusted = frozenset({"sweeplake.models.lstm.LstmForecaster"})
    libraries = ("keras", "jax", "jaxlib", "numpy")
    score_map = ("units", "window")

    def build(self, params: dict, seed: int):
        return LstmForecaster(**{k: params[k] for k in self.space}, seed=seed)

    def load(self) -> None:
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
