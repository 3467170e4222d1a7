"""Random search: each trial drawn independently from the space, blind to the lake."""

from __future__ import annotations

from sweeplake.samplers.base import Proposal, Sampler
from sweeplake.samplers.space import SampledTrials, SearchSpace


class RandomSearch(Sampler):
    name = "random"

    def propose(self, space: SearchSpace, models: list[str], count: int, seed: int) -> Proposal:
        return Proposal(SampledTrials(space, models, count, seed))
