"""`clear`: delete a lake's batches (all, before a day, or of one dataset), batch by batch.

Each batch goes commit object first: once its hyper object is gone no reader counts the batch,
so a clear cut short leaves uncommitted leftovers (which the next clear deletes), never a
committed batch with missing parts. Without `yes` nothing is deleted: the plan is printed.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date

from sweeplake.errors import BadInput
from sweeplake.lake import Lake, LocalLake, open_lake
from sweeplake.lake.base import COMMIT, Listed
from sweeplake.scores.daily import DAILY

log = logging.getLogger("sweeplake.clear")
BATCH_OBJECT = re.compile(
    r"(?P<prefix>[a-z_]+)/dt=(?P<dt>\d{4}-\d\d-\d\d)/(?P<batch_id>[0-9A-HJKMNP-TV-Z]{26})\.json\.gz"
)
DAILY_OBJECT = re.compile(rf"{DAILY}/dt=(?P<dt>\d{{4}}-\d\d-\d\d)/[^/]+")
# A batch without its commit object younger than this may be one being written (a run, or a
# spool shipping): it is kept. A write takes seconds; shipping after an outage, minutes.
IN_FLIGHT_SECONDS = 3600
KEPT_PREFIXES = ("data/", "models/")


@dataclass
class BatchObjects:
    batch_id: str
    dt: str
    objects: dict[str, Listed] = field(default_factory=dict)  # by key

    @property
    def committed(self) -> bool:
        return any(key.startswith(f"{COMMIT}/") for key in self.objects)

    @property
    def size(self) -> int:
        return sum(o.size for o in self.objects.values())

    def in_deletion_order(self) -> list[str]:
        """The commit object first: from then on the batch is no longer counted."""
        return sorted(self.objects, key=lambda key: not key.startswith(f"{COMMIT}/"))


@dataclass
class ClearPlan:
    lake: str
    batches: list[BatchObjects]
    daily: dict[str, Listed]  # compacted scores objects that go too
    kept: list[str]  # what stays, in words

    @property
    def objects(self) -> int:
        return sum(len(b.objects) for b in self.batches) + len(self.daily)

    @property
    def size(self) -> int:
        return sum(b.size for b in self.batches) + sum(o.size for o in self.daily.values())

    def describe(self, done: bool) -> str:
        leftovers = sum(not b.committed for b in self.batches)
        uncommitted = f" ({leftovers} of them uncommitted leftovers)" if leftovers else ""
        verb = "deleted" if done else "would delete"
        lines = [
            f"{verb} {len(self.batches)} batch(es){uncommitted}, {self.objects} object(s), "
            f"{self.size:,} bytes from {self.lake}"
        ]
        lines += [f"kept: {k}" for k in self.kept]
        if not done and self.batches:
            lines.append("nothing was deleted: add --yes to delete them")
        return "\n".join(lines) + "\n"


def clear(
    lake_uri: str, before: str | None = None, dataset: str | None = None, yes: bool = False
) -> str:
    """Plan the clear and, with `yes`, carry it out; what was (or would be) deleted, in words."""
    day = check_day(before) if before is not None else None
    if dataset is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,200}", dataset):
        raise BadInput(f"--dataset {dataset!r:.60}: a dataset name is letters, digits, _ . -")
    lake = open_lake(lake_uri)
    if isinstance(lake, LocalLake):
        lake.check_readable()
    plan = plan_clear(lake, day, dataset)
    if yes:
        carry_out(lake, plan)
    return plan.describe(done=yes)


def check_day(text: str) -> str:
    try:
        if not re.fullmatch(r"\d{4}-\d\d-\d\d", text):
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise BadInput(f"--before {text!r:.40}: give a day as YYYY-MM-DD") from None


def plan_clear(lake: Lake, before: str | None, dataset: str | None) -> ClearPlan:
    listed = lake.listing("")
    batches: dict[str, BatchObjects] = {}
    daily: dict[str, Listed] = {}
    for key, info in listed.items():
        if (match := BATCH_OBJECT.fullmatch(key)) and (before is None or match["dt"] < before):
            batch = batches.setdefault(
                match["batch_id"], BatchObjects(match["batch_id"], match["dt"])
            )
            batch.objects[key] = info
        elif (match := DAILY_OBJECT.fullmatch(key)) and (before is None or match["dt"] < before):
            daily[key] = info
    kept = []
    now = time.time()
    in_flight = [
        b
        for b in batches.values()
        if not b.committed and now - max(o.modified for o in b.objects.values()) < IN_FLIGHT_SECONDS
    ]
    if in_flight:
        kept.append(
            f"{len(in_flight)} uncommitted batch(es) younger than {IN_FLIGHT_SECONDS // 60} min "
            "(possibly being written now)"
        )
    chosen = [b for b in batches.values() if b not in in_flight]
    if dataset is not None:
        leftovers = [b for b in chosen if not b.committed]
        if leftovers:
            kept.append(
                f"{len(leftovers)} uncommitted leftover(s), whose dataset only their missing "
                "hyper object would name (clear without --dataset deletes them)"
            )
        chosen = [b for b in chosen if b.committed and batch_dataset(lake, b) == dataset]
        if daily:
            kept.append(
                f"{len(daily)} compacted day(s) of scores ({DAILY}/), which mix datasets: "
                "Athena's all_scores shows the cleared trials until those days are compacted again"
            )
            daily = {}
    promoted = {key.split("/")[1] for key in listed if key.startswith("models/")}
    if promoted:
        kept.append(f"{len(promoted)} promoted model(s) under models/ (serve still loads them)")
    datasets = [key for key in listed if key.startswith("data/")]
    if datasets:
        kept.append(f"{len(datasets)} dataset object(s) under data/")
    chosen.sort(key=lambda b: b.batch_id)
    return ClearPlan(lake.uri, chosen, daily, kept)


def batch_dataset(lake: Lake, batch: BatchObjects) -> str | None:
    """The dataset a committed batch ran on, from its first hyper record."""
    (key,) = [k for k in batch.objects if k.startswith(f"{COMMIT}/")]
    body = lake.get(key)
    if body is None:
        return None
    first = gzip.decompress(body).split(b"\n", 1)[0]
    return json.loads(first).get("dataset") if first.strip() else None


def carry_out(lake: Lake, plan: ClearPlan) -> None:
    """Delete batch by batch, each commit object first; then the compacted days."""
    for done, batch in enumerate(plan.batches, 1):
        for key in batch.in_deletion_order():
            lake.delete(key)
        if done % 100 == 0:
            log.info("%d of %d batches deleted", done, len(plan.batches))
    for key in plan.daily:
        lake.delete(key)
    log.info(
        "cleared %d batch(es) from %s; the scores cache drops them at its next refresh",
        len(plan.batches),
        plan.lake,
    )
