"""The search space: declarative data, validated on load, sampled or overridden.

Each model family declares its own default space (sweeplake.models); `--space FILE` replaces
it with a JSON file of the same shape: {model: {param: {"type", "low", "high", "log", "valid"}}}
for int and float parameters, {"type": "categorical", "choices": [...]} for a choice.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sweeplake.errors import BadInput
from sweeplake.models.registry import families
from sweeplake.textio import as_float, read_text, strict_json

SPEC_KEYS = {"type", "low", "high", "log", "valid"}
CATEGORICAL_KEYS = {"type", "choices"}
INTERVAL = re.compile(r"\s*([\[(])\s*([^,\s]+)\s*,\s*([^,\s]+)\s*([\])])\s*")
SEED_LIMIT = 2**32


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int", "float" or "categorical"
    low: float
    high: float
    log: bool
    valid_low: float
    valid_high: float
    low_closed: bool
    high_closed: bool
    choices: tuple[str | int | float | bool, ...] = ()

    def is_valid(self, value: float) -> bool:
        if self.kind == "categorical":
            return value in self.choices
        above = value >= self.valid_low if self.low_closed else value > self.valid_low
        below = value <= self.valid_high if self.high_closed else value < self.valid_high
        return above and below

    def sample(self, rng: np.random.Generator) -> float | int | str | bool:
        if self.kind == "categorical":
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.kind == "int":
            if self.log:
                draw = math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5)))
                return int(min(max(round(draw), self.low), self.high))
            return int(rng.integers(self.low, self.high + 1))
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class Trial:
    """One trial as data: the model, its parameters and the seed of its randomness."""

    model: str
    params: dict[str, float | int] = field(hash=False)
    seed: int


@dataclass(frozen=True)
class SearchSpace:
    models: dict[str, tuple[Param, ...]]

    def sha256(self, model: str) -> str:
        """What a model-based sampler's history must share: the model's sampled ranges.

        The valid intervals and the other models' ranges are left out, so that widening what
        `--params` accepts, or changing the forest's ranges, keeps the SVR history.
        """
        ranges = [
            [p.name, p.kind, list(p.choices)]
            if p.kind == "categorical"
            else [p.name, p.kind, float(p.low), float(p.high), p.log]
            for p in self.models[model]
        ]
        return hashlib.sha256(json.dumps(ranges).encode()).hexdigest()

    def sample(self, models: list[str], trials: int, seed: int) -> list[Trial]:
        """The same (models, trials, seed) gives the same trials on every machine."""
        return list(SampledTrials(self, models, trials, seed))

    def draw(self, models: list[str], index: int, seed: int) -> Trial:
        """Trial `index` of a sample: models take turns, each trial has its own random stream."""
        model = models[index % len(models)]
        rng = np.random.default_rng([seed, index])
        params = {p.name: p.sample(rng) for p in self.models[model]}
        return Trial(model, params, int(rng.integers(SEED_LIMIT)))

    def check_params(self, where: str, record: object) -> Trial:
        """A trial from a `--params` line; the parameters may lie outside the sampled ranges."""
        if not isinstance(record, dict):
            raise BadInput(f"{where}: not a JSON object")
        model = record.get("model")
        if not isinstance(model, str) or model not in self.models:
            raise BadInput(
                f"{where}: model must be one of {', '.join(self.models)}, got {model!r:.40}"
            )
        params = self.models[model]
        allowed = {p.name for p in params} | {"model", "seed"}
        unknown = sorted(set(record) - allowed)
        if unknown:
            raise BadInput(f"{where}: unknown key {unknown[0]!r:.40} for model {model}")
        values = {}
        for param in params:
            if param.name not in record:
                raise BadInput(f"{where}: missing {param.name}")
            values[param.name] = _param_value(where, param, record[param.name])
        seed = record.get("seed", 0)
        if type(seed) is not int or not 0 <= seed < SEED_LIMIT:
            raise BadInput(f"{where}: seed must be an integer in [0, 2**32)")
        return Trial(model, values, seed)


class SampledTrials(Sequence[Trial]):
    """The trials of a sample, each drawn when first asked for.

    Drawing costs tens of microseconds a trial: a cap of 100000 trials drawn up front would
    spend seconds of the budget on trials that never run.
    """

    def __init__(self, space: SearchSpace, models: list[str], count: int, seed: int) -> None:
        self.space, self.models, self.count, self.seed = space, models, count, seed

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> Trial:  # iteration and len() are all run needs
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self.space.draw(self.models, index, self.seed)


def _param_value(where: str, param: Param, value: object) -> float | int | str | bool:
    if param.kind == "categorical":
        if not any(type(value) is type(c) and value == c for c in param.choices):
            shown = ", ".join(json.dumps(c) for c in param.choices)
            raise BadInput(f"{where}: {param.name} must be one of {shown}, got {value!r:.40}")
        return value
    if param.kind == "int" and type(value) is not int:
        raise BadInput(f"{where}: {param.name} must be an integer, got {value!r:.40}")
    number = as_float(where, param.name, value)
    if not math.isfinite(number) or not param.is_valid(number):
        raise BadInput(f"{where}: {param.name} = {value!r:.40} is outside its valid range")
    return int(value) if param.kind == "int" else number


def default_space_doc() -> dict[str, dict]:
    """Every registered family's own default space, as a search space file would hold it."""
    return {name: family.space for name, family in families().items()}


def load_space(path: Path | None = None) -> SearchSpace:
    """The space in the file at `path`, or with None every family's default space."""
    if path is None:
        return parse_space(default_space_doc(), "the models' default")
    doc = strict_json(read_text(path, "search space"), f"search space {path}")
    return parse_space(doc, str(path))


def parse_space(doc: object, where: str) -> SearchSpace:
    if not isinstance(doc, dict) or not doc:
        raise BadInput(f"search space {where}: must be a JSON object of models")
    known = families()
    models = {}
    for model, specs in doc.items():
        if model not in known:
            raise BadInput(f"search space {where}: unknown model {model!r:.40}")
        names = known[model].params
        if not isinstance(specs, dict) or set(specs) != set(names):
            raise BadInput(f"search space {where}: {model} must declare exactly {', '.join(names)}")
        models[model] = tuple(_param(where, model, n, specs[n]) for n in names)
    return SearchSpace(models)


def _categorical(where: str, name: str, spec: dict) -> Param:
    if set(spec) != CATEGORICAL_KEYS:
        raise BadInput(f"{where}: a categorical must have exactly the keys choices, type")
    choices = spec["choices"]
    if (
        not isinstance(choices, list)
        or not choices
        or any(type(c) not in (str, int, bool) for c in choices)
        or len({json.dumps(c) for c in choices}) != len(choices)
    ):
        raise BadInput(f"{where}: choices must be a non-empty list of distinct strings or integers")
    return Param(name, "categorical", 0, 0, False, 0, 0, True, True, tuple(choices))


def _param(space: str, model: str, name: str, spec: object) -> Param:
    where = f"search space {space}: {model}.{name}"
    if isinstance(spec, dict) and spec.get("type") == "categorical":
        return _categorical(where, name, spec)
    if not isinstance(spec, dict) or set(spec) != SPEC_KEYS:
        raise BadInput(f"{where} must have exactly the keys {', '.join(sorted(SPEC_KEYS))}")
    kind, low, high, log = spec["type"], spec["low"], spec["high"], spec["log"]
    if kind not in ("int", "float"):
        raise BadInput(f"{where}: type must be 'int', 'float' or 'categorical'")
    if type(log) is not bool:
        raise BadInput(f"{where}: log must be true or false")
    allowed = (int,) if kind == "int" else (int, float)
    for bound in (low, high):
        # The size first: math.isfinite raises on an int past a double's range.
        if type(bound) not in allowed or abs(bound) > 1e15 or not math.isfinite(bound):
            raise BadInput(f"{where}: low and high must be finite {kind} values")
    if not low <= high:
        raise BadInput(f"{where}: low must not exceed high")
    if log and low <= 0:
        raise BadInput(f"{where}: a log range needs low > 0")
    match = INTERVAL.fullmatch(spec["valid"]) if isinstance(spec["valid"], str) else None
    if match is None:
        raise BadInput(f"{where}: valid must be an interval such as '(0, inf)'")
    try:
        valid_low, valid_high = float(match[2]), float(match[3])
    except ValueError:
        raise BadInput(f"{where}: valid must be an interval such as '(0, inf)'") from None
    param = Param(
        name, kind, low, high, log, valid_low, valid_high, match[1] == "[", match[4] == "]"
    )
    if not (param.is_valid(low) and param.is_valid(high)):
        raise BadInput(f"{where}: the range [{low}, {high}] leaves the valid interval")
    return param


def read_params(path: Path, space: SearchSpace) -> list[Trial]:
    text = read_text(path, "params file")
    trials = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"params file {path} line {number}"
        trials.append(space.check_params(where, strict_json(line, where)))
    if not trials:
        raise BadInput(f"params file {path}: holds no parameter sets")
    return trials
