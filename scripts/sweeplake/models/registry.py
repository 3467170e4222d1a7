"""The model families sweeplake knows, one module each: adding a family is one line here."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from sweeplake.errors import BadInput
from sweeplake.models.family import ModelFamily

# In the order `--model all` takes turns and the report shows them.
FAMILY_MODULES = (
    "sweeplake.models.svr",
    "sweeplake.models.random_forest",
    "sweeplake.models.hist_gradient_boosting",
    "sweeplake.models.lstm",
    "sweeplake.models.spark_random_forest",
)


@cache
def families() -> dict[str, ModelFamily]:
    """Every registered family by name. A family's module imports its library only when a
    trial needs it: an SVR-only start never pays for sklearn.ensemble."""
    found = [import_module(module).FAMILY for module in FAMILY_MODULES]
    return {family.name: family for family in found}


def fitting(dataset) -> list[str]:
    """The families that `--model all` fits on `dataset`, in registry order (the lstm fits time
    series alone; a family fitted by Spark is fitted only when named)."""
    return [
        name
        for name, found in families().items()
        if not found.on_spark and found.refuses(dataset) is None
    ]


def family(name: str) -> ModelFamily:
    try:
        return families()[name]
    except KeyError:
        raise BadInput(
            f"unknown model {name!r:.40}: choose {', '.join(families())} or all"
        ) from None


def trusted_types() -> frozenset[str]:
    """What skops may build when it loads a promoted model of any family."""
    return frozenset().union(*(f.trusted for f in families().values()))
