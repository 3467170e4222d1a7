"""A batch's fact and oof objects written in parts, one per Spark task.

A part's key is fixed by the batch and the task's partition, never drawn afresh, so a retried
task overwrites its own part instead of adding a second copy:
`fact/dt=D/<batch_id>.p00003.json.gz`. The parts sit beside whole objects in the same day's
folder, so the DuckDB globs (`fact/dt=*/*.json.gz`) and Athena's tables read them unchanged;
a reader of one batch lists `<prefix>/dt=D/<batch_id>.` and reads whatever it finds, one
whole object or its parts.
"""

from __future__ import annotations

from pathlib import Path

from sweeplake.lake.base import Lake

# Facts written by Spark as Parquet (a family Spark fits), beside the JSON ones: the prefix of
# each JSON table's Parquet twin. A prefix of their own, since Athena reads every object under a
# table's location in the table's one format.
PARQUET_PREFIXES = {"fact": "fact_parquet", "oof": "oof_parquet"}


def part_key(prefix: str, dt: str, batch_id: str, part: int) -> str:
    return f"{prefix}/dt={dt}/{batch_id}.p{part:05d}.json.gz"


def parquet_part_key(prefix: str, dt: str, batch_id: str, part: int) -> str:
    return f"{PARQUET_PREFIXES[prefix]}/dt={dt}/{batch_id}.p{part:05d}.parquet"


def batch_keys(lake: Lake, prefix: str, dt: str, batch_id: str) -> list[str]:
    """The batch's objects under prefix: its one whole object, or its parts, sorted."""
    return lake.keys(f"{prefix}/dt={dt}/{batch_id}.")


def batch_object_keys(lake: Lake, tail: str, prefixes: tuple[str, ...]) -> list[str]:
    """Under each prefix, the objects of the batch whose key ends in `tail`
    (dt=D/<batch_id>.json.gz): one listing per prefix."""
    day, _, name = tail.partition("/")
    batch_id = name.removesuffix(".json.gz")
    dt = day.removeprefix("dt=")
    return [key for prefix in prefixes for key in batch_keys(lake, prefix, dt, batch_id)]


def batch_files(whole: Path) -> list[Path]:
    """The files of a local copy of a batch's object: `whole` itself, or the parts beside it."""
    batch_id = whole.name.removesuffix(".json.gz")
    return sorted(whole.parent.glob(f"{batch_id}.*json.gz"))


def parquet_batch_files(whole: Path) -> list[Path]:
    """The Parquet parts of a local copy of a batch's fact or oof object (`whole`, the JSON
    object's path: lake/fact/dt=D/<batch_id>.json.gz), where Spark wrote them instead."""
    batch_id = whole.name.removesuffix(".json.gz")
    day, table = whole.parent, whole.parent.parent
    twin = table.parent / PARQUET_PREFIXES[table.name] / day.name
    return sorted(twin.glob(f"{batch_id}.p*.parquet"))
