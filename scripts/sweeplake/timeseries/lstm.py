"""An LSTM over windows of a series' past values: Keras 3 on the JAX backend, on the CPU.

Keras is imported by `load_keras` alone, never at module level: no other command pays for it.
The backend and the CPU are forced before the import (whatever KERAS_BACKEND says), and XLA
runs one thread per process: a batch's workers are the parallelism. The same trial (its
parameters and seed) gives the same predictions: Keras' global seed is set before the weights
are drawn and before each epoch's shuffle, and XLA on the CPU computes in a fixed order.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np

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
    """The next value of a series from its last `window` values, scaled to [0, 1] by the
    minimum and maximum of the targets it is fitted on (MinMax, fitted on the training part
    alone, as every fold's model is)."""

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
        self._model = None

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in PARAMS}

    def _build(self):
        keras = load_keras()
        keras.utils.set_random_seed(self.seed % 2**32)
        stack = [keras.Input((self.window, 1))]
        for layer in range(self.layers):
            last = layer == self.layers - 1
            stack.append(
                keras.layers.LSTM(self.units, return_sequences=not last, dropout=self.dropout)
            )
        stack.append(keras.layers.Dense(1))
        model = keras.Sequential(stack)
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse")
        return model

    def _scaled(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.low) / self.span).astype(np.float32)

    def fit(self, windows: np.ndarray, y: np.ndarray) -> LstmForecaster:
        windows, y = np.asarray(windows, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if windows.shape[1:] != (self.window,):
            raise ValueError(f"windows must be (points, {self.window}), got {windows.shape}")
        self.low = float(y.min())
        self.span = float(y.max() - y.min()) or 1.0
        self._model = self._build()
        self._model.fit(
            self._scaled(windows)[..., None],
            self._scaled(y),
            epochs=self.epochs,
            batch_size=self.batch_size,
            shuffle=True,
            verbose=0,
        )
        self.weights = [np.asarray(w) for w in self._model.get_weights()]
        return self

    def predict(self, windows: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise ValueError("this LstmForecaster is not fitted")
        if self._model is None:  # loaded from a file: the same network, its saved weights
            self._model = self._build()
            self._model.set_weights(self.weights)
        x = self._scaled(np.asarray(windows, dtype=np.float64))[..., None]
        # Batches of a fixed size: one compiled shape, whatever the number of windows.
        scaled = self._model.predict(x, batch_size=256, verbose=0)[:, 0].astype(np.float64)
        return scaled * self.span + self.low

    def __getstate__(self) -> dict:
        """What a saved model is: its parameters, its scaling and its weights (no Keras)."""
        state = {k: v for k, v in self.__dict__.items() if k != "_model"}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._model = None


PARAMS = ("units", "layers", "window", "dropout", "learning_rate", "epochs", "batch_size", "seed")
