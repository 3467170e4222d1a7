"""The sampler's one small interface: the trials of a batch, for the models chosen."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from sweeplake.samplers.space import SearchSpace, Trial


@dataclass(frozen=True)
class Proposal:
    """The trials to fit, in turn order, and how much of the lake's history each model's saw."""

    trials: Sequence[Trial]
    history: dict[str, int] = field(default_factory=dict)  # by model; 0 where none was read
    pending: dict[str, int] = field(default_factory=dict)  # by model: other batches' in flight


class Sampler(ABC):
    """Proposes a batch of trials; the same seed (and the same history) gives the same trials."""

    name: str

    @abstractmethod
    def propose(self, space: SearchSpace, models: list[str], count: int, seed: int) -> Proposal:
        """`count` trials, models taking turns as in `models`, the first model first."""

    def seen(self, space: SearchSpace, models: list[str]) -> int | None:
        """How many trials of history the least known of `models` has, in `space`; None for a
        sampler that learns from none."""
        return None


def turns(models: list[str], count: int) -> list[str]:
    """The model of each trial of a batch: models take turns, so every one gets its share."""
    return [models[index % len(models)] for index in range(count)]
