"""The lake on S3 (or any S3-compatible endpoint), with every batch passing through the spool."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sweeplake.canonical import without_folds
from sweeplake.errors import BadInput, LakeRefused, LakeUnreachable, ShipFailed
from sweeplake.lake.base import Batch, Lake, Listed, dataset_key
from sweeplake.lake.local import LocalLake
from sweeplake.lake.spool import Spool, SpoolEntry, max_bytes
from sweeplake.paths import DEFAULT_CACHE
from sweeplake.settings import positive_number

if TYPE_CHECKING:
    from sweeplake.dataset import Dataset

log = logging.getLogger("sweeplake.s3")
# The S3 naming rules for general purpose buckets, minus the reserved prefixes and suffixes.
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
RESERVED_BUCKET = re.compile(r"^(xn--|sthree-|amzn-s3-demo-)|(-s3alias|--ol-s3)$|\.\.|^[\d.]+$")
# Characters S3 documents as safe in keys; they also make a safe local cache path.
PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9!_.*'()=-]+")
# Mirror order: a hyper object is written after its fact object, so listing hyper first means
# every hyper we see has its facts in the fact listing that follows.
MIRROR_ORDER = ("hyper/", "oof/", "fact/", "oof_parquet/", "fact_parquet/", "data/")
# The one kind of object ever replaced: a dataset a lake got before folds were data is written
# again with its folds. The mirror fetches those (one small object per dataset) every time.
REFETCHED = "data/"
MAX_ATTEMPTS = 4  # unless AWS_MAX_ATTEMPTS says otherwise
READ_TIMEOUT = 20.0  # unless SWEEPLAKE_S3_READ_TIMEOUT says otherwise (tests use 1)
# Before the fits a hung endpoint must not eat the minute: each call is tried once and waits at
# most HURRIED_READ_TIMEOUT for an answer, and no waiting batch starts shipping PREFIT_SECONDS
# after the first call. Past that, the run fits anyway and its batch waits in the spool.
HURRIED_READ_TIMEOUT = 5.0
PREFIT_SECONDS = 10.0
# Error codes that no retry, now or a minute later, can change: the user must fix a setting.
REFUSALS = {
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "NoSuchBucket",
    "SignatureDoesNotMatch",
}


def client_config(hurried: bool = False):
    from botocore.config import Config

    # Bounded retries and short timeouts: a dead endpoint fails this run in seconds, and the
    # batch waits in the spool for the next start a minute later.
    retries = {"mode": "standard"}
    if hurried:  # before the fits: one try each
        retries["total_max_attempts"] = 1
        return Config(retries=retries, connect_timeout=3, read_timeout=read_timeout(hurried))
    if not os.environ.get("AWS_MAX_ATTEMPTS"):  # when set, botocore reads and checks it
        retries["total_max_attempts"] = MAX_ATTEMPTS
    return Config(retries=retries, connect_timeout=3, read_timeout=read_timeout())


def read_timeout(hurried: bool = False) -> float:
    """Seconds to wait for S3's answer: SWEEPLAKE_S3_READ_TIMEOUT, else READ_TIMEOUT; at most
    HURRIED_READ_TIMEOUT before the fits."""
    seconds = positive_number("SWEEPLAKE_S3_READ_TIMEOUT", READ_TIMEOUT)
    return min(seconds, HURRIED_READ_TIMEOUT) if hurried else seconds


class S3Lake(Lake):
    def __init__(
        self,
        bucket: str,
        prefix: str,
        spool: Spool,
        cache_root: Path,
        kms_key_id: str | None = None,
        hurried: bool = False,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.uri = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self.spool = spool
        self.cache_root = Path(cache_root)
        self.kms_key_id = kms_key_id
        self.hurried = hurried
        self._session = None
        self._client = None
        self._hurried_twin: S3Lake | None = None
        self.answered: bool | None = None  # whether S3 answered this run's dataset check
        self.prefit_until = math.inf  # when the S3 calls before the fits must stop

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
                if self._session is None:
                    self._session = boto3.session.Session()
                self._client = self._session.client("s3", config=client_config(self.hurried))
            except (BotoCoreError, ValueError) as exc:
                # The profile, region or endpoint settings are wrong: the user fixes them.
                raise BadInput(f"cannot set up an S3 client: {exc}") from None
        return self._client

    def twin_in_a_hurry(self) -> S3Lake:
        """This lake with a client that tries each request once, within the pre-fit cap."""
        if self._hurried_twin is None:
            self._hurried_twin = S3Lake(
                self.bucket, self.prefix, self.spool, self.cache_root, self.kms_key_id, True
            )
            self.client  # noqa: B018  (the session, whose loading is the slow part, is shared)
            self._hurried_twin._session = self._session
        return self._hurried_twin

    def check_writable(self) -> None:
        self.client  # noqa: B018  (builds the client now so a bad profile fails before any work)
        # The spool is what must be writable: the lake itself may be down for a while.
        self.spool.check_writable()
        max_bytes()  # a bad cap is bad input, found before any work
        others = self.spool.lakes_other_than(self.uri)
        if others:  # another lake's batches are never shipped here, nor dropped unasked
            log.warning(
                "the spool %s also holds batches for %s: kept; `spool list` shows them",
                self.spool.root,
                ", ".join(f"{lake} ({count})" for lake, count in others.items()),
            )

    @property
    def encryption(self) -> dict[str, str]:
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {"ServerSideEncryption": "AES256"}

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.full_key(key),
            Body=body,
            Metadata={"sha256": hashlib.sha256(body).hexdigest()},
            **self.encryption,
        )

    def put_file(self, key: str, path: Path, sha256: str) -> None:
        """boto3's managed upload: in parts past its threshold, never the whole file in memory."""
        extra = {"Metadata": {"sha256": sha256}, **self.encryption}
        self.client.upload_file(str(path), self.bucket, self.full_key(key), ExtraArgs=extra)

    def put_advisory(self, key: str, body: bytes) -> bool:
        """Before the fits, in a hurry, and only if S3 answered the dataset check."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not self.answered:
            return False
        try:
            self.twin_in_a_hurry().put(key, body)
        except (BotoCoreError, ClientError) as exc:
            log.warning("%s not written to %s: %s", key, self.uri, describe(exc, True))
            return False
        return True

    def get(self, key: str) -> bytes | None:
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.full_key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return reply["Body"].read()

    def keys(self, prefix: str, after: str | None = None) -> list[str]:
        return sorted(self.listed(prefix, after))

    def modified(self, prefix: str) -> dict[str, float]:
        return {key: found.modified for key, found in self.listed(prefix).items()}

    def listing(self, prefix: str) -> dict[str, Listed]:
        with answered_or_raised(self.uri):
            return self.listed(prefix)

    def listed(self, prefix: str, after: str | None = None) -> dict[str, Listed]:
        """Every whole object under prefix (after `after`), with its size and LastModified."""
        start_after = {} if after is None else {"StartAfter": self.full_key(after)}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.full_key(prefix), **start_after
        )
        start = len(self.full_key(""))
        return {
            item["Key"][start:]: Listed(item["Size"], item["LastModified"].timestamp())
            for page in pages
            for item in page.get("Contents", ())
            if not item["Key"].endswith("/")
        }

    def delete(self, key: str) -> None:
        with answered_or_raised(self.uri):
            self.client.delete_object(Bucket=self.bucket, Key=self.full_key(key))

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

    def lists(self, key: str) -> bool:
        """Whether the lake holds key, by one listing: cheap, and unlike a HEAD its refusals
        name their cause (NoSuchBucket, SignatureDoesNotMatch, ...)."""
        full = self.full_key(key)
        reply = self.client.list_objects_v2(Bucket=self.bucket, Prefix=full, MaxKeys=1)
        return any(item["Key"] == full for item in reply.get("Contents", ()))

    def check_dataset(self, dataset: Dataset) -> bool:
        """One listing, and a HEAD when the dataset is there, in a hurry (see PREFIT_SECONDS).

        LakeRefused when S3 refuses in a way no retry can change; when it does not answer, the
        dataset's state is unknown for now: the spool entry carries it and shipping checks again.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        self.prefit_until = time.monotonic() + PREFIT_SECONDS
        quick = self.twin_in_a_hurry()
        try:
            held = quick.lists(dataset_key(dataset)) and Lake.check_dataset(quick, dataset)
        except (BotoCoreError, ClientError) as exc:
            if refused(exc):
                raise LakeRefused(
                    f"cannot use {self.uri}: {describe(exc, True)}; retrying cannot help, "
                    "so no trials were fitted"
                ) from None
            log.warning("cannot check the dataset in %s now: %s", self.uri, describe(exc, True))
            self.answered = False
            return False
        self.answered = True
        return held

    def ship_waiting(self) -> None:
        """Before the fits, ship what earlier runs spooled, if S3 answered the dataset check and
        within the pre-fit cap: a run that dies during its fits still moves the waiting batches
        on, and a lake that is down or slow costs little here (the rest go after the fits).
        SpoolFull when what still waits is at the spool's cap."""
        if self.answered:
            try:
                self.twin_in_a_hurry().ship_pending(self.prefit_until)
            except ShipFailed as exc:
                if exc.refused:
                    raise LakeRefused(f"{exc}; no trials are fitted until that is fixed") from None
                log.warning("%s; trying again after the fits", exc)
        self.spool.check_room()  # what could not ship must not fill the disk: fit nothing new

    def write_batch(self, batch: Batch, dataset: Dataset | None = None) -> None:
        """Spool the batch, then ship every batch waiting for this lake, oldest first; one quick
        try when S3 did not answer before the fits, so a hung endpoint holds up no later start."""
        entry = SpoolEntry(self.uri, batch)
        if dataset is not None:
            entry = SpoolEntry(self.uri, batch, dataset_key(dataset), dataset.canonical)
        log.info("batch %s spooled in %s", batch.batch_id, self.spool.add(entry))
        (self if self.answered is not False else self.twin_in_a_hurry()).ship_pending()

    def ship_pending(self, until: float = math.inf) -> int:
        """Ship the spool's batches for this lake, starting none after `until` (monotonic);
        how many this process shipped and took from the spool (not those another process
        did). ShipFailed leaves the rest in the spool."""
        from botocore.exceptions import BotoCoreError, ClientError

        waiting = self.spool.pending(self.uri)
        confirmed: set[str] = set()
        shipped = 0
        for done, batch_id in enumerate(waiting):
            if time.monotonic() > until:
                log.info("%d batch(es) left in the spool for after the fits", len(waiting) - done)
                break
            entry = self.spool.load(batch_id)
            if entry is None:
                continue  # another process shipped it
            try:
                if entry.dataset_key and entry.dataset_key not in confirmed:
                    self.ship_dataset(entry.dataset_key, entry.dataset)
                    confirmed.add(entry.dataset_key)
                super().write_batch(entry.batch)  # each object acknowledged before the next
                self.mark_if_late(entry.batch)
            except (BotoCoreError, ClientError, ShipFailed) as exc:
                reason = exc if isinstance(exc, ShipFailed) else describe(exc, self.hurried)
                raise ShipFailed(
                    f"{len(waiting) - done} batch(es) wait in the spool {self.spool.root} "
                    f"for {self.uri}: {reason}",
                    refused(exc),
                    shipped,
                ) from None
            if self.spool.remove(batch_id):  # else another process shipped it at the same time
                shipped += 1
                log.info("batch %s shipped to %s", batch_id, self.uri)
        return shipped

    def mark_if_late(self, batch: Batch) -> None:
        """A batch whose day is compacted already leaves a marker, after its objects, for
        compact to redo that day; before its entry leaves the spool, so a kill in between
        ships it again, marker and all. (compact lists a day again after writing its Parquet,
        so a batch that found no Parquet here is in it.)"""
        from sweeplake.scores.daily import daily_key, late_key

        if self.holds(daily_key(batch.dt)):
            self.put(late_key(batch.dt, batch.batch_id), b"")

    def holds(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.full_key(key))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def ship_dataset(self, key: str, body: bytes) -> None:
        held = self.held_dataset_sha256(key)
        if held is None or held == hashlib.sha256(without_folds(body)).hexdigest():
            self.put(key, body)  # new, or the same points written before folds were data
        elif held != hashlib.sha256(body).hexdigest():
            raise ShipFailed(f"{self.uri}/{key} now holds a different dataset")

    def mirror(self, parts: Sequence[str] = MIRROR_ORDER, keys: Sequence[str] = ()) -> LocalLake:
        """A local copy of the lake for DuckDB that follows it: every object under `parts` and
        the objects named in `keys`, fetching only those not cached yet; cached objects under
        `parts` that the lake no longer lists are dropped."""
        from botocore.exceptions import BotoCoreError, ClientError

        cache = LocalLake(self.cache_root)
        fetched = dropped = 0
        try:
            for part in parts:
                cached = set() if part == REFETCHED else set(cache.keys(part))
                listed = self.keys(part)
                fetched += self.copy([k for k in listed if k not in cached], cache)
                # Only after a whole listing: a listing cut short drops nothing.
                for key in cached.difference(listed):
                    cache.forget(key)
                    dropped += 1
            fetched += self.copy([k for k in keys if not (cache.root / k).is_file()], cache)
        except (BotoCoreError, ClientError) as exc:
            raise LakeUnreachable(f"cannot read the lake {self.uri}: {describe(exc)}") from None
        log.info(
            "mirror of %s: %d new objects, %d gone from the lake, in %s",
            self.uri,
            fetched,
            dropped,
            cache.root,
        )
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


@contextmanager
def answered_or_raised(uri: str) -> Iterator[None]:
    """S3's failures as the command line tells them apart: refused for good, or unreachable."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        kind = LakeRefused if refused(exc) else LakeUnreachable
        raise kind(f"cannot use the lake {uri}: {describe(exc)}") from None


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


def refused(exc: Exception) -> bool:
    """Whether S3 (or botocore, finding no credentials) said no for good."""
    from botocore.exceptions import NoCredentialsError, PartialCredentialsError

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return True
    if isinstance(exc, ShipFailed):
        return exc.refused
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") in REFUSALS


def describe(exc: Exception, hurried: bool = False) -> str:
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
        seconds = read_timeout(hurried)
        return f"no answer from the S3 endpoint within {seconds:g} s ({type(exc).__name__})"
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
