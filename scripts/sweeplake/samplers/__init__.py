"""The search space and the samplers that draw trials from it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sweeplake.samplers.base import Proposal, Sampler

if TYPE_CHECKING:
    from sweeplake.scores.store import ScoresStore

__all__ = ["SAMPLERS", "Proposal", "Sampler", "open_sampler"]
SAMPLERS = ("random", "tpe")


def open_sampler(
    name: str, lake: str, dataset_sha256: str, scores: Callable[[], ScoresStore] | None = None
) -> Sampler:
    """The sampler called `name`; a model-based one learns from `lake`'s trials of the dataset,
    read through `scores()` (default: a scores store of its own).

    Each is imported only when chosen: a random start never loads Optuna or DuckDB.
    """
    if name == "random":
        from sweeplake.samplers.random_search import RandomSearch

        return RandomSearch()
    if name == "tpe":
        from sweeplake.samplers.history import ScoresHistory
        from sweeplake.samplers.tpe import TPESearch

        return TPESearch(ScoresHistory(lake, dataset_sha256, scores() if scores else None))
    raise ValueError(f"unknown sampler {name!r}")
