"""Optuna's TPE, fed the lake's history: every machine learns from every machine's trials.

Optuna shares a study between machines through a database or a journal; here the study lives
in memory for one start, rebuilt from the lake, which every machine already shares. Imported
only when asked for: a random start never pays for Optuna.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial

from sweeplake.samplers.base import Proposal, Sampler, turns
from sweeplake.samplers.history import History, PastTrial
from sweeplake.samplers.space import SEED_LIMIT, Param, SearchSpace, Trial

optuna.logging.set_verbosity(optuna.logging.WARNING)


class TPESearch(Sampler):
    name = "tpe"

    def __init__(self, history: History) -> None:
        self.history = history

    def seen(self, space: SearchSpace, models: list[str]) -> int | None:
        return min(self.history.seen(model, space.sha256(model)) for model in models)

    def propose(self, space: SearchSpace, models: list[str], count: int, seed: int) -> Proposal:
        order = turns(models, count)
        proposed: dict[str, list[Trial]] = {}
        seen: dict[str, int] = {}
        pending: dict[str, int] = {}
        for index, model in enumerate(models):
            wanted = order.count(model)
            if not wanted:
                continue
            past = self.history.past(model, space.sha256(model))
            rng = np.random.default_rng([seed, index])
            proposed[model] = ask(
                space.models[model], model, past.trials, wanted, rng, past.pending
            )
            seen[model] = past.seen
            if past.pending:
                pending[model] = len(past.pending)
        queues = {model: iter(trials) for model, trials in proposed.items()}
        return Proposal([next(queues[model]) for model in order], seen, pending)


def ask(
    params: tuple[Param, ...],
    model: str,
    past: list[PastTrial],
    count: int,
    rng: np.random.Generator,
    pending: Sequence[dict[str, float | int]] = (),
) -> list[Trial]:
    """`count` trials from TPE given `past`; those asked earlier in the batch stay RUNNING, as
    do other batches' `pending` trials, so the constant liar steers the later ones away."""
    space = {p.name: distribution(p) for p in params}
    study = study_of(space, past, int(rng.integers(SEED_LIMIT)), pending)
    asked = [study.ask(space).params for _ in range(count)]
    return [Trial(model, p, int(rng.integers(SEED_LIMIT))) for p in asked]


def study_of(
    space: dict[str, BaseDistribution],
    past: list[PastTrial],
    seed: int,
    pending: Sequence[dict[str, float | int]] = (),
) -> optuna.Study:
    """An in-memory study holding the past trials that lie in `space`, failed ones as FAIL and
    pruned ones as PRUNED, then the `pending` ones as RUNNING, as Optuna holds trials other
    workers are running."""
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.add_trials(past_trial(space, t) for t in past if within(space, t.params))
    study.add_trials(
        create_trial(params=p, distributions=space, state=TrialState.RUNNING)
        for p in pending
        if within(space, p)
    )
    return study


def past_trial(space: dict[str, BaseDistribution], past: PastTrial):
    """A past trial as Optuna records one: a pruned trial with its partial cv_r2 as the
    intermediate value of its last fold (TPE ranks it below every complete trial, by how far
    it got and then by that value)."""
    if past.pruned_after is not None:
        return create_trial(
            params=past.params,
            distributions=space,
            state=TrialState.PRUNED,
            intermediate_values={past.pruned_after - 1: past.value},
        )
    return create_trial(
        params=past.params,
        distributions=space,
        value=past.value,
        state=TrialState.FAIL if past.value is None else TrialState.COMPLETE,
    )


def distribution(param: Param) -> BaseDistribution:
    if param.kind == "categorical":
        return CategoricalDistribution(param.choices)
    if param.kind == "int":
        return IntDistribution(int(param.low), int(param.high), log=param.log)
    return FloatDistribution(param.low, param.high, log=param.log)


def within(space: dict[str, BaseDistribution], params: dict[str, float | int]) -> bool:
    """Whether a past trial lies in the sampled ranges (a `--params` trial may lie outside)."""
    return all(name in params and contains(d, params[name]) for name, d in space.items())


def contains(d: BaseDistribution, value: object) -> bool:
    if value is None:
        return False
    try:
        return d._contains(d.to_internal_repr(value))
    except ValueError:  # a choice the space no longer offers
        return False
