"""What a model family is: the one interface every model of sweeplake implements.

A family says everything sweeplake knows about one kind of model: its name, the default search
space of its hyperparameters, how a trial of it is built, fitted, cross-validated and used to
predict, what skops must trust to load it, and how the prediction API calls it. Nothing
outside the family's own module names it: the lake stores its parameters as JSON, the SQL and
the report read them from there, and the registry (`sweeplake.models.registry`) lists it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from sweeplake.fitting.fit import TrialInputs
    from sweeplake.samplers.space import Trial


class TrialFit(ABC):
    """One trial's fits on one batch's inputs: the full fit, then any fold, in any order.

    `inputs` orders the points training first, so `inputs.x[:train]` are the training rows and
    `inputs.splits[k]` indexes into them.
    """

    def __init__(self, family: ModelFamily, inputs: TrialInputs, trial: Trial) -> None:
        self.family, self.inputs, self.trial = family, inputs, trial

    @abstractmethod
    def fit(self) -> None:
        """Fit on every training point."""

    @abstractmethod
    def predict(self) -> np.ndarray:
        """The fitted model's prediction of every point, in the inputs' order."""

    @abstractmethod
    def fold(self, split: int) -> np.ndarray:
        """Split `split`'s held-out training points as predicted by the same trial (parameters
        and seed) fitted on the split's other training points."""


class EstimatorFit(TrialFit):
    """A trial of any estimator with scikit-learn's fit/predict, fitted as a user would."""

    def fit(self) -> None:
        train = len(self.inputs.y_train)
        self.model = self.family.build(self.trial.params, self.trial.seed)
        self.model.fit(self.inputs.x[:train], self.inputs.y_train)

    def predict(self) -> np.ndarray:
        return np.asarray(self.model.predict(self.inputs.x), dtype=np.float64)

    def fold(self, split: int) -> np.ndarray:
        fit_rows, held_out = self.inputs.splits[split]
        x_train = self.inputs.x[: len(self.inputs.y_train)]
        model = self.family.build(self.trial.params, self.trial.seed)
        model.fit(x_train[fit_rows], self.inputs.y_train[fit_rows])
        return np.asarray(model.predict(x_train[held_out]), dtype=np.float64)


class ModelFamily(ABC):
    """One model family. Subclasses set the class attributes and `build`; the defaults fit a
    scikit-learn estimator as a user would."""

    name: ClassVar[str]
    title: ClassVar[str]  # how people call it, in the report
    # The default search space, as a search space file writes it: each hyperparameter's type,
    # sampled range, log scale and valid interval (sweeplake.samplers.space checks it).
    space: ClassVar[dict[str, dict[str, Any]]]
    # Types beyond skops' own default trust that a fitted model of this family is made of.
    trusted: ClassVar[frozenset[str]] = frozenset()
    # Distributions whose versions the model card records.
    libraries: ClassVar[tuple[str, ...]] = ("scikit-learn", "numpy", "scipy")
    # Two hyperparameters worth a map of the score over both, in the report (x, y).
    score_map: ClassVar[tuple[str, str] | None] = None
    # Axis labels for the report, by hyperparameter: what it is and its unit.
    labels: ClassVar[dict[str, str]] = {}
    # Fitted by Spark on the whole dataset as a DataFrame (sweeplake.spark.frames), never in a
    # worker process: `build` gives a pyspark.ml estimator. Such a family runs where pyspark is,
    # in batches of its own; `--model all` leaves it out (a Spark job per fit is no peer of a
    # worker's fit: naming it is the choice to pay for it), and promote refuses its trials.
    on_spark: ClassVar[bool] = False
    # Loaded (`load`) by the warm process of `run --warm` before it forks any run, so that no
    # warm start imports it: for the families whose libraries are quick to import and small.
    warm: ClassVar[bool] = False

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(self.space)

    @abstractmethod
    def build(self, params: dict, seed: int) -> Any:
        """The trial's unfitted estimator, as a user would build it."""

    def refuses(self, dataset) -> str | None:
        """Why this family cannot fit `dataset` (a sentence), or None when it can. `--model all`
        leaves out the families that refuse the dataset; naming one of them is bad input."""
        return None

    def design(self, dataset, params: dict) -> np.ndarray:
        """What the family's estimator reads for every point of `dataset`, in its order: its
        features (for a sequence model, each point's window of past values)."""
        return dataset.x

    def load(self) -> None:
        """Import what fitting needs, once, before the workers fork (they inherit it)."""
        return None

    def prepare(self, inputs: TrialInputs) -> object | None:
        """What every trial of this family in a batch shares, computed once before the workers
        fork; kept in `inputs.shared[self.name]`."""
        return None

    def start(self, inputs: TrialInputs, trial: Trial) -> TrialFit:
        """The trial's fits. Raising here (bad parameters) makes it a failed trial."""
        return EstimatorFit(self, inputs, trial)

    def groves(self, trial: Trial, groves: int) -> tuple[Trial, list[tuple[Trial, int]]] | None:
        """The trial grown as up to `groves` parts (run --groves), if this family's model is the
        tree-weighted mean of such parts: the trial as the lake records it, and each part as a
        trial of its own with its tree count. None: this family is fitted whole."""
        return None

    def predictor(self, estimator: Any) -> Callable[[np.ndarray], np.ndarray]:
        """How the prediction API turns checked rows into predictions."""
        return estimator.predict
