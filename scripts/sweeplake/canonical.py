"""The canonical bytes of a dataset file, as the lake holds them, without the dataset's code:
the lake compares what it holds with what a run brings."""

from __future__ import annotations

import json


def without_folds(canonical: bytes) -> bytes:
    """The canonical bytes with every `fold` key left out: the encoding before folds were data.

    json.dumps(json.loads(line)) gives the line back as it was (same key order, same shortest
    float reprs), so dropping the key gives exactly what that encoding wrote.
    """
    lines = []
    for line in canonical.decode().splitlines():
        record = json.loads(line)
        record.pop("fold", None)
        lines.append(json.dumps(record, allow_nan=False))
    return ("\n".join(lines) + "\n").encode()
