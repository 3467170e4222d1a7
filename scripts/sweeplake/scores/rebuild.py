"""`rescore`: write the scores object of every batch that has a hyper object but none, from its
facts, with the same metrics module the job uses. The scores are derived data; this rebuilds them.
"""

from __future__ import annotations

import logging

from sweeplake.errors import BadInput, LakeUnreachable
from sweeplake.lake import LocalLake, gzip_text, open_lake
from sweeplake.lake.parts import batch_object_keys
from sweeplake.scores.records import ndjson
from sweeplake.scores.rescore import scored_batches

log = logging.getLogger("sweeplake.rescore")


def rescore(lake_uri: str) -> int:
    """Returns how many scores objects it wrote; a batch it cannot score (an unreadable hyper,
    fact or oof object or dataset) is skipped, named, and left for the next rescore."""
    import duckdb
    from botocore.exceptions import BotoCoreError, ClientError

    lake = open_lake(lake_uri)
    if isinstance(lake, LocalLake) and not lake.root.is_dir():
        raise BadInput(f"no lake at {lake.root}: run `python -m sweeplake run` first")
    try:
        scored = set(lake.keys("scores/"))
        missing = [k for k in lake.keys("hyper/") if "scores/" + tail(k) not in scored]
        local = lake
        if not isinstance(lake, LocalLake):
            parts = ("hyper", "fact", "oof")
            wanted = [key for k in missing for key in batch_object_keys(lake, tail(k), parts)]
            local = lake.mirror(("data/",), wanted)
        connection = duckdb.connect()
        written = 0
        for key, rows in scored_batches(connection, local.root, missing, again="rescore"):
            if rows is not None:
                lake.put(f"scores/{tail(key)}", gzip_text(ndjson(rows)))
                written += 1
    except (BotoCoreError, ClientError) as exc:
        from sweeplake.lake.s3 import describe

        raise LakeUnreachable(f"cannot rescore the lake {lake.uri}: {describe(exc)}") from None
    log.info("rescore of %s: %d scores objects written", lake.uri, written)
    return written


def tail(key: str) -> str:
    """dt=…/<batch_id>.json.gz: a batch's key without its table's prefix."""
    return key.split("/", 1)[1]
