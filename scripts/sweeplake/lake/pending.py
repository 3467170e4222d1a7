"""Pending trials: what a batch is fitting now, left in the lake for other batches' samplers.

A batch writes the trials it proposed to one object of its own under pending/ before its fits.
A model-based sampler starting meanwhile on another machine reads them and steers away from
them, as Optuna's constant liar does with a study's running trials. The commit supersedes them:
a reader skips the pending trials of any batch whose scores it holds, and a lake that may
delete (a local folder) discards them once the batch is written. A batch that dies leaves them
behind until they expire; past that no reader lists them. They are never a result: no table,
rank or report reads pending/.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sweeplake.lake.base import Lake
from sweeplake.samplers.space import SearchSpace, Trial

log = logging.getLogger("sweeplake.pending")
PREFIX = "pending/"
# Past the fits' deadline, how long writing the batch may take before its pending trials stop
# counting: a spooled batch may reach S3 later, but by then it is a result of its own.
GRACE_SECONDS = 120.0
# A batch announces its first trials only, those it fits first: a sampler reads no more of the
# history than that (history.RECENT), and a random batch capped at 100,000 trials would spend
# seconds drawing them all before its first fit.
ANNOUNCED = 500
# Keys sort by expiry (whole seconds since the epoch, ten digits until the year 2286), so that
# listing after "now" skips every expired object: S3 never even sends them.
DIGITS = 10


@dataclass(frozen=True)
class PendingTrial:
    """A trial another batch is fitting now: its parameters, and which batch, model and space."""

    batch_id: str
    model: str
    space_sha256: str
    params: dict[str, float | int]


def pending_key(batch_id: str, expires: float) -> str:
    return f"{PREFIX}{int(expires):0{DIGITS}d}-{batch_id}.json"


def key_expiry(key: str) -> int | None:
    """The expiry a pending key carries, None for a key not shaped like one."""
    stamp = key.removeprefix(PREFIX)[:DIGITS]
    return int(stamp) if len(stamp) == DIGITS and stamp.isdigit() else None


def announce(
    lake: Lake,
    batch_id: str,
    dataset_sha256: str,
    space: SearchSpace,
    trials: Sequence[Trial],
    expires: float,
) -> str | None:
    """Leave the batch's trials in the lake as pending until `expires` (seconds since the epoch);
    the key, or None when the lake did not take them (the batch goes on: they are advice only).

    Expired objects that dead batches left behind are discarded on the way, where the lake may.
    """
    body = {
        "batch_id": batch_id,
        "dataset_sha256": dataset_sha256,
        "expires": int(expires),
        "trials": [
            {"model": t.model, "space_sha256": space.sha256(t.model), "params": t.params}
            for t in trials
        ],
    }
    key = pending_key(batch_id, expires)
    if not lake.put_advisory(key, json.dumps(body, allow_nan=False).encode()):
        return None
    now = time.time()
    lake.discard(k for k in lake.keys(PREFIX) if (key_expiry(k) or 0) <= now)
    return key


def withdraw(lake: Lake, key: str | None) -> None:
    """After the batch's commit: its trials are results now, no longer pending."""
    if key is not None:
        lake.discard([key])


def pending_trials(lake: Lake, dataset_sha256: str, now: float | None = None) -> list[PendingTrial]:
    """The unexpired pending trials of `dataset_sha256` in the lake, soonest to expire first."""
    now = time.time() if now is None else now
    found = []
    # "-" follows the stamp in every key: listing after "~" skips the objects expiring now too.
    for key in lake.keys(PREFIX, after=f"{PREFIX}{int(now):0{DIGITS}d}~"):
        body = lake.get(key) if (key_expiry(key) or 0) > now else None
        if body is None:
            continue  # not shaped like ours, or discarded since the listing
        try:
            record = json.loads(body)
            if record["dataset_sha256"] != dataset_sha256:
                continue
            found += [
                PendingTrial(record["batch_id"], t["model"], t["space_sha256"], t["params"])
                for t in record["trials"]
            ]
        except (ValueError, KeyError, TypeError):
            log.warning("pending object %s is not one sweeplake wrote: ignored", key)
    return found
