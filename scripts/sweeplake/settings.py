"""Settings read from the environment, checked before any work."""

from __future__ import annotations

import math
import os

from sweeplake.errors import BadInput


def positive_number(name: str, default: float) -> float:
    """The environment variable `name` as a positive finite number, `default` when unset or
    empty; BadInput naming it otherwise."""
    setting = os.environ.get(name)
    try:
        value = float(setting) if setting else default
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise BadInput(f"{name}={setting!r:.40} must be a positive number")
    return value
