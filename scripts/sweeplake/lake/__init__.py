"""The lake: where batches go (a local folder or an S3 prefix, through the spool)."""

from __future__ import annotations

import os
from pathlib import Path

from sweeplake.errors import BadInput
from sweeplake.lake.base import Batch, Deflated, Gzipped, Lake, dataset_key, deflate, gzip_text
from sweeplake.lake.local import LocalLake

__all__ = [
    "Batch",
    "Deflated",
    "Gzipped",
    "Lake",
    "LocalLake",
    "dataset_key",
    "deflate",
    "gzip_text",
    "open_lake",
]


def open_lake(uri: str) -> Lake:
    if uri.startswith("s3://"):
        from sweeplake.lake.direct import NO_SPOOL, DirectS3Lake
        from sweeplake.lake.s3 import S3Lake

        if os.environ.get("SWEEPLAKE_SPOOL") == NO_SPOOL:
            return DirectS3Lake.from_uri(uri)
        return S3Lake.from_uri(uri)
    if "://" in uri:
        raise BadInput(f"lake {uri}: only a local folder or s3://bucket/prefix is supported")
    return LocalLake(Path(uri))
