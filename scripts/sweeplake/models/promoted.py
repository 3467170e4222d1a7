"""Promoted models in the lake: `models/<hyper_id>/model.skops` and its card, `card.json`.

skops, not pickle: loading a skops file builds only the types it is told to trust, so a model
file someone swapped in the lake cannot run code in the server that loads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sweeplake.errors import BadInput
from sweeplake.ids import CROCKFORD
from sweeplake.lake import Lake
from sweeplake.models.registry import trusted_types

PREFIX = "models"
MODEL_FILE = "model.skops"
# Written after the model file: a card in the lake means its model is complete.
CARD_FILE = "card.json"


@dataclass(frozen=True)
class Promoted:
    """A promoted model, loaded back, with its card."""

    estimator: object
    card: dict

    @property
    def features(self) -> list[str]:
        return self.card["features"]


def model_key(hyper_id: str, name: str) -> str:
    return f"{PREFIX}/{hyper_id}/{name}"


def save(lake: Lake, estimator: object, card: dict) -> None:
    import skops.io

    hyper_id = card["hyper_id"]
    lake.put(model_key(hyper_id, MODEL_FILE), skops.io.dumps(estimator))
    body = json.dumps(card, indent=2, allow_nan=False) + "\n"
    lake.put(model_key(hyper_id, CARD_FILE), body.encode())


def load(lake: Lake, hyper_id: str | None = None) -> Promoted:
    """The model promoted as hyper_id, or the one promoted last; BadInput if there is none."""
    import skops.io

    if hyper_id is None:
        hyper_id = latest(lake)
    if len(hyper_id) != 26 or set(hyper_id) - set(CROCKFORD):
        # It becomes part of a key: a path like ../x must never reach the lake.
        raise BadInput(f"--model {hyper_id!r:.40} is not a hyper_id (26 characters of 0-9, A-Z)")
    card_body = lake.get(model_key(hyper_id, CARD_FILE))
    if card_body is None:
        raise BadInput(
            f"no promoted model {hyper_id!r:.40} in {lake.uri}: "
            "run `python -m sweeplake promote` first"
        )
    body = lake.get(model_key(hyper_id, MODEL_FILE))
    if body is None:
        raise BadInput(f"{lake.uri}/{model_key(hyper_id, MODEL_FILE)} is missing")
    trusted = trusted_types()
    untrusted = set(skops.io.get_untrusted_types(data=body)) - trusted
    if untrusted:
        raise BadInput(
            f"{lake.uri}/{model_key(hyper_id, MODEL_FILE)} holds types no sweeplake model has "
            f"({', '.join(sorted(untrusted))[:80]}): refusing to load it"
        )
    estimator = skops.io.loads(body, trusted=sorted(trusted))
    return Promoted(estimator, json.loads(card_body))


def latest(lake: Lake) -> str:
    """The hyper_id of the model promoted last, by its card's created_at."""
    cards = [k for k in lake.keys(f"{PREFIX}/") if k.endswith(f"/{CARD_FILE}")]
    if not cards:
        raise BadInput(f"no promoted model in {lake.uri}: run `python -m sweeplake promote` first")
    newest = max(cards, key=lambda key: json.loads(lake.get(key))["created_at"])
    return newest.split("/")[1]
