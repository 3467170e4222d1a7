"""What waits in the spool, for a person: `spool list`, `spool ship` and `spool drop`."""

from __future__ import annotations

import gzip
import json
import time

from sweeplake.errors import BadInput, ShipFailed
from sweeplake.lake.spool import QUARANTINE, Spool, Waiting
from sweeplake.texttable import aligned


def list_spool(spool: Spool | None = None) -> str:
    """Every batch waiting in the spool, oldest first: batch id, lake, age and size."""
    spool = spool or Spool.from_environment()
    waiting = spool.waiting()
    aside = spool.set_aside()
    if aside:
        aside_line = f"{len(aside)} unreadable entry(ies) set aside in {spool.root / QUARANTINE}\n"
    else:
        aside_line = ""
    if not waiting:
        return f"nothing waits in the spool {spool.root}\n{aside_line}"
    now = time.time()
    cells = [("batch", "lake", "age", "bytes")]
    cells += [(w.batch_id, w.lake, age(now - w.written), f"{w.size:,}") for w in waiting]
    return f"{aligned(cells)}\n{len(waiting)} batch(es) in {spool.root}\n{aside_line}"


def age(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    for unit, size, up_to in (("s", 1, 120), ("min", 60, 7200), ("h", 3600, 172800)):
        if seconds < up_to:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds / 86400:.0f} d"


def ship_spool(lake: str | None = None) -> int:
    """Ship what waits for `lake`, or for every lake named in the spool; the batches this
    process shipped (not those it found shipped by another).

    Every lake is tried; ShipFailed names those that kept their batches.
    """
    from sweeplake.lake.s3 import S3Lake

    spool = Spool.from_environment()
    lakes = [lake] if lake else sorted({w.lake for w in spool.waiting()})
    if lake and not lake.startswith("s3://"):
        raise BadInput(f"spool ship --lake {lake!r:.80}: only an s3:// lake has a spool")
    shipped, failures = 0, []
    for uri in lakes:
        try:
            shipped += S3Lake.from_uri(uri).ship_pending()
        except ShipFailed as exc:
            shipped += exc.shipped
            failures.append(str(exc))
    if failures:
        raise ShipFailed(f"{shipped} batch(es) shipped, but " + "; ".join(failures))
    return shipped


def drop_batch(batch_id: str, confirmed: bool = False, spool: Spool | None = None) -> str:
    """Forget one waiting batch for good, only when confirmed; what was lost, in words."""
    spool = spool or Spool.from_environment()
    found = next((w for w in spool.waiting() if w.batch_id == batch_id), None)
    entry = spool.load(batch_id) if found else None
    if found is None or entry is None:
        raise BadInput(
            f"no batch {batch_id!r:.40} waits in the spool {spool.root}: see `spool list`"
        )
    lost = what_is_lost(found, entry.batch.objects)
    if not confirmed:
        raise BadInput(f"spool drop: batch {lost}; add --yes to drop them for good")
    spool.remove(batch_id)
    return f"dropped batch {lost}: they are lost"


def what_is_lost(found: Waiting, objects: dict[str, bytes]) -> str:
    hyper = [json.loads(line) for line in gzip.decompress(objects["hyper"]).splitlines()]
    ok = sum(record.get("status") == "ok" for record in hyper)
    facts = len(gzip.decompress(objects["fact"]).splitlines())
    return (
        f"{found.batch_id} for {found.lake}: {len(hyper)} trial(s) ({ok} ok) and {facts:,} "
        "predictions that never reached the lake"
    )
