"""The lake on S3 (or any S3-compatible endpoint), with every batch passing through the spool."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

from scripts.dataset import Dataset, without_folds
from scripts.errors import BadInput, LakeUnreachable, ShipFailed
from scripts.lake.base import Batch, Lake, dataset_key
from scripts.lake.local import LocalLake
from scripts.lake.spool import Spool, SpoolEntry
from scripts.paths import DEFAULT_CACHE

log = logging.getLogger("sweeplake.s3")
# The S3 naming rules for general purpose buckets, minus the reserved prefixes and suffixes.
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
RESERVED_BUCKET = re.compile(r"^(xn--|sthree-|amzn-s3-demo-)|(-s3alias|--ol-s3)$|\.\.|^[\d.]+$")
# Characters S3 documents as safe in keys; they also make a safe local cache path.
PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9!_.*'()=-]+")
# Mirror order: a hyper object is written after its fact object, so listing hyper first means
# every hyper we see has its facts in the fact listing that follows.
MIRROR_ORDER = ("hyper/", "oof/", "fact/", "data/")
# The one kind of object ever replaced: a dataset a lake got before folds were data is written
# again with its folds. The mirror fetches those (one small object per dataset) every time.
REFETCHED = "data/"
MAX_ATTEMPTS = 4  # unless AWS_MAX_ATTEMPTS says otherwise
READ_TIMEOUT = 20.0  # unless SWEEPLAKE_S3_READ_TIMEOUT says otherwise (tests use 1)


def client_config():
    from botocore.config import Config

    # Bounded retries and short timeouts: a dead endpoint fails this run in seconds, and the
    # batch waits in the spool for the next start a minute later.
    retries = {"mode": "standard"}
    if not os.environ.get("AWS_MAX_ATTEMPTS"):  # when set, botocore reads and checks it
        retries["total_max_attempts"] = MAX_ATTEMPTS
    return Config(retries=retries, connect_timeout=3, read_timeout=read_timeout())


def read_timeout() -> float:
    """Seconds to wait for S3's answer: SWEEPLAKE_S3_READ_TIMEOUT, else READ_TIMEOUT."""
    setting = os.environ.get("SWEEPLAKE_S3_READ_TIMEOUT")
    if not setting:
        return READ_TIMEOUT
    try:
        seconds = float(setting)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise BadInput(f"SWEEPLAKE_S3_READ_TIMEOUT={setting!r:.40} must be a positive number")
    return seconds


class S3Lake(Lake):
    def __init__(
        self,
        bucket: str,
        prefix: str,
        spool: Spool,
        cache_root: Path,
        kms_key_id: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.uri = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self.spool = spool
        self.cache_root = Path(cache_root)
        self.kms_key_id = kms_key_id
        self._client = None
        self.answered: bool | None = None  # whether S3 answered this run's dataset check

    @classmethod
    def from_uri(cls, uri: str) -> S3Lake:
        """Parse and check s3://bucket/prefix; settings from SWEEPLAKE_* and the AWS variables."""
        bucket, prefix = parse_uri(uri)
        cache = Path(os.environ.get("SWEEPLAKE_CACHE") or DEFAULT_CACHE) / bucket / prefix
        return cls(
            bucket,
            prefix,
            Spool.from_environment(),
            cache,
            os.environ.get("SWEEPLAKE_KMS_KEY_ID") or None,
        )

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.exceptions import BotoCoreError

            try:
                self._client = boto3.session.Session().client("s3", config=client_config())
            except (BotoCoreError, ValueError) as exc:
                # The profile, region or endpoint settings are wrong: the user fixes them.
                raise BadInput(f"cannot set up an S3 client: {exc}") from None
        return self._client

    def check_writable(self) -> None:
        self.client  # noqa: B018  (builds the client now so a bad profile fails before any work)
        # The spool is what must be writable: the lake itself may be down for a while.
        self.spool.check_writable()

    def put(self, key: str, body: bytes) -> None:
        encryption = {"ServerSideEncryption": "AES256"}
        if self.kms_key_id:
            encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.full_key(key),
            Body=body,
            Metadata={"sha256": hashlib.sha256(body).hexdigest()},
            **encryption,
        )

    def get(self, key: str) -> bytes | None:
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.full_key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return reply["Body"].read()

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.full_key(prefix)
        )
        start = len(self.full_key(""))
        return sorted(
            item["Key"][start:]
            for page in pages
            for item in page.get("Contents", ())
            if not item["Key"].endswith("/")
        )

    def first_key(self, prefix: str) -> str | None:
        """One request: S3 lists keys in sorted order."""
        listed = self.client.list_objects_v2(
            Bucket=self.bucket, Prefix=self.full_key(prefix), MaxKeys=1
        )
        first = listed.get("Contents", [])
        return first[0]["Key"][len(self.full_key("")) :] if first else None

    def held_dataset_sha256(self, key: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.full_key(key))
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            if code not in ("400", "403"):
                raise
            # A HEAD reply has no body, so no error code; a GET's reply names the cause
            # (ExpiredToken, AccessDenied, ...) for the one line the user reads.
            return super().held_dataset_sha256(key)
        if "sha256" in head.get("Metadata", {}):
            return head["Metadata"]["sha256"]
        return super().held_dataset_sha256(key)  # put there by another tool: read it

    def check_dataset(self, dataset: Dataset) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            held = super().check_dataset(dataset)
        except (BotoCoreError, ClientError) as exc:
            # Unknown for now: the spool entry carries the dataset and shipping checks again.
            log.warning("cannot check the dataset in %s now: %s", self.uri, describe(exc))
            self.answered = False
            return False
        self.answered = True
        return held

    def ship_waiting(self) -> None:
        """Before the fits, ship what earlier runs spooled, if S3 answered the dataset check:
        a run that dies during its fits still moves the waiting batches on, and a lake that is
        down costs no wait here (the batches are tried again after the fits)."""
        if not self.answered:
            return
        try:
            self.ship_pending()
        except ShipFailed as exc:
            log.warning("%s; trying again after the fits", exc)

    def write_batch(self, batch: Batch, dataset: Dataset | None = None) -> None:
        """Spool the batch, then ship every batch waiting for this lake, oldest first."""
        entry = SpoolEntry(self.uri, batch)
        if dataset is not None:
            entry = SpoolEntry(self.uri, batch, dataset_key(dataset), dataset.canonical)
        log.info("batch %s spooled in %s", batch.batch_id, self.spool.add(entry))
        self.ship_pending()

    def ship_pending(self) -> int:
        """Ship the spool's batches for this lake; ShipFailed leaves the rest in the spool."""
        from botocore.exceptions import BotoCoreError, ClientError

        waiting = self.spool.pending(self.uri)
        confirmed: set[str] = set()
        for done, batch_id in enumerate(waiting):
            entry = self.spool.load(batch_id)
            if entry is None:
                continue  # another process shipped it
            try:
                if entry.dataset_key and entry.dataset_key not in confirmed:
                    self.ship_dataset(entry.dataset_key, entry.dataset)
                    confirmed.add(entry.dataset_key)
                super().write_batch(entry.batch)  # each object acknowledged before the next
            except (BotoCoreError, ClientError, ShipFailed) as exc:
                reason = exc if isinstance(exc, ShipFailed) else describe(exc)
                raise ShipFailed(
                    f"{len(waiting) - done} batch(es) wait in the spool {self.spool.root} "
                    f"for {self.uri}: {reason}"
                ) from None
            self.spool.remove(batch_id)
            log.info("batch %s shipped to %s", batch_id, self.uri)
        return len(waiting)

    def ship_dataset(self, key: str, body: bytes) -> None:
        held = self.held_dataset_sha256(key)
        if held is None or held == hashlib.sha256(without_folds(body)).hexdigest():
            self.put(key, body)  # new, or the same points written before folds were data
        elif held != hashlib.sha256(body).hexdigest():
            raise ShipFailed(f"{self.uri}/{key} now holds a different dataset")

    def mirror(self, parts: Sequence[str] = MIRROR_ORDER, keys: Sequence[str] = ()) -> LocalLake:
        """A local copy of the lake for DuckDB, fetching only objects not already cached: every
        object under `parts`, and the objects named in `keys`."""
        from botocore.exceptions import BotoCoreError, ClientError

        cache = LocalLake(self.cache_root)
        fetched = 0
        try:
            for part in parts:
                cached = set() if part == REFETCHED else set(cache.keys(part))
                fetched += self.copy([k for k in self.keys(part) if k not in cached], cache)
            fetched += self.copy([k for k in keys if not (cache.root / k).is_file()], cache)
        except (BotoCoreError, ClientError) as exc:
            raise LakeUnreachable(f"cannot read the lake {self.uri}: {describe(exc)}") from None
        log.info("mirror of %s: %d new objects into %s", self.uri, fetched, cache.root)
        return cache

    def copy(self, keys: list[str], cache: LocalLake) -> int:
        """Copy these objects into the cache; returns how many there were to copy."""
        fetched = 0
        for key in keys:
            body = self.get(key)
            if body is not None:
                cache.put(key, body)
                fetched += 1
        return fetched

    def full_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key


def parse_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix) of s3://bucket/prefix, or BadInput naming what is wrong."""
    shown = f"{uri!r:.80}"
    rest = uri.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise BadInput(f"lake {shown}: needs a bucket name, as in s3://bucket/prefix")
    if not BUCKET.fullmatch(bucket) or RESERVED_BUCKET.search(bucket):
        raise BadInput(
            f"lake {shown}: {bucket!r:.70} is not a valid S3 bucket name "
            "(3-63 lowercase letters, digits, '.' or '-')"
        )
    prefix = prefix.strip("/")
    for segment in prefix.split("/") if prefix else ():
        if not PREFIX_SEGMENT.fullmatch(segment) or segment in (".", ".."):
            raise BadInput(
                f"lake {shown}: prefix part {segment!r:.40} must be letters, digits or !_.*'()=-"
            )
    return bucket, prefix


def describe(exc: Exception) -> str:
    """One line about an S3 failure, from its kind and error code only: never a credential."""
    from botocore.exceptions import (
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return "no usable AWS credentials (set AWS_PROFILE, the AWS_* keys or an instance role)"
    if isinstance(exc, ReadTimeoutError):
        return f"no answer from the S3 endpoint within {read_timeout():g} s ({type(exc).__name__})"
    if isinstance(exc, ConnectionError | HTTPClientError):
        return f"cannot reach the S3 endpoint ({type(exc).__name__})"
    response = getattr(exc, "response", None)
    if response is None:
        return type(exc).__name__
    code = response.get("Error", {}).get("Code", "unknown")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
    operation = getattr(exc, "operation_name", "request")
    return f"S3 refused {operation}: {code} (HTTP {status}){HINTS.get(code, '')}"


HINTS = {
    "NoSuchBucket": ", no such bucket",
    "AccessDenied": ", access denied: check the IAM policy",
    "ExpiredToken": ", the credentials have expired",
    "InvalidAccessKeyId": ", unknown access key",
    "SignatureDoesNotMatch": ", wrong secret key",
    "SlowDown": ", throttled past the retries",
    "InternalError": ", failed past the retries",
}
