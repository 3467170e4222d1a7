"""Reading a local lake directly, independently of the code under test's readers."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path


def records(lake: Path, table: str) -> list[dict]:
    """Every line of every object under hyper/ or fact/."""
    return [
        r for path in sorted(lake.glob(f"{table}/dt=*/*.json.gz")) for r in object_records(path)
    ]


def object_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def parse_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))
