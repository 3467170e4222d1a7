"""Reading the user's text files strictly: UTF-8, and JSON without NaN or Infinity."""

from __future__ import annotations

import json
import math
from pathlib import Path

from sweeplake.errors import BadInput


def read_text(path: Path, what: str) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise BadInput(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise BadInput(f"{what} {path}: not UTF-8 text") from None


def strict_json(text: str, where: str) -> object:
    """json.loads that refuses NaN and Infinity, which JSON itself does not have."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadInput(f"{where}: not valid JSON") from None


def as_float(where: str, key: str, value: object) -> float:
    """A JSON number as a float (an integer too large for one is infinite); BadInput if not a
    number. Booleans are not numbers here, though Python counts them as ints."""
    if type(value) not in (int, float):
        raise BadInput(f"{where}: {key} must be a number, got {value!r:.40}")
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _reject_constant(name: str) -> float:
    raise ValueError(name)
