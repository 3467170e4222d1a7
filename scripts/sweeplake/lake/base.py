"""The lake's one small interface (put, get, list), its batches and durable file writes."""

from __future__ import annotations

import hashlib
import logging
import os
import struct
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from isal import isal_zlib

from sweeplake.errors import BadInput

if TYPE_CHECKING:
    from sweeplake.dataset import Dataset

log = logging.getLogger("sweeplake.lake")
GZIP_LEVEL = 2  # ISA-L's levels run 0 to 3; its 3 is four times slower, for no smaller facts
# The object whose arrival commits a batch: a hyper record in the lake means that every object
# written before it (the facts) is complete. Objects written after it are derived from those
# before it and can be rebuilt from them.
COMMIT = "hyper"
# A gzip member's header as ISA-L writes it: no name, mtime 0 (the same records give the same
# bytes), no extra flags, OS unknown.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
LAST_BLOCK = b"\x03\x00"  # an empty deflate block marked last


@dataclass(frozen=True)
class Batch:
    """One start of the job: one gzipped NDJSON object per table, under the same day and id.

    `objects` maps each table's prefix in the lake to its body, in the order they are written.
    """

    batch_id: str
    dt: str
    objects: dict[str, bytes]

    def key(self, prefix: str) -> str:
        return f"{prefix}/dt={self.dt}/{self.batch_id}.json.gz"

    @property
    def fact(self) -> bytes:
        return self.objects["fact"]

    @property
    def hyper(self) -> bytes:
        return self.objects[COMMIT]

    @property
    def fact_key(self) -> str:
        return self.key("fact")

    @property
    def hyper_key(self) -> str:
        return self.key(COMMIT)

    def committing(self) -> list[str]:
        """The prefixes written up to and including the commit object, in order."""
        prefixes = list(self.objects)
        return prefixes[: prefixes.index(COMMIT) + 1]


@dataclass(frozen=True)
class Deflated:
    """Text deflated apart from any other: raw deflate blocks ended by a full flush (none refers
    back past its own start), with the text's CRC-32 and length. Any number of them, appended
    in any order, make the body of one gzip member, as pigz joins the blocks its threads
    deflate: a worker deflates its trial's lines, and the batch's process only appends them."""

    data: bytes
    crc: int
    size: int


def deflate(text: str) -> Deflated:
    # ISA-L's deflate (python-isal): on fact lines, its level 2 is ten times faster than zlib's
    # level 6 for objects a sixth larger (docs/lake.md). Deflated a trial at a time, the facts
    # come out 5% smaller than as one stream: each trial's blocks get Huffman codes of their own.
    raw = text.encode()
    packer = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, -15)
    body = packer.compress(raw) + packer.flush(isal_zlib.Z_FULL_FLUSH)
    return Deflated(body, isal_zlib.crc32(raw), len(raw))


class Gzipped:
    """One gzip member, deflated as its text arrives, so that a batch never holds all its facts
    uncompressed. Plain gzip all the same, for every reader. Each write is deflated apart, with
    block headers of its own: write a trial's lines at a time, not a line."""

    def __init__(self) -> None:
        self._parts: list[bytes] = [GZIP_HEADER]
        self._crc = 0
        self._size = 0

    def write(self, text: str | Deflated) -> None:
        chunk = deflate(text) if isinstance(text, str) else text
        if chunk.size:
            self._parts.append(chunk.data)
            self._crc = isal_zlib.crc32_combine(self._crc, chunk.crc, chunk.size)
            self._size += chunk.size

    def close(self) -> bytes:
        trailer = struct.pack("<II", self._crc, self._size & 0xFFFFFFFF)
        self._parts.append(LAST_BLOCK + trailer)
        return b"".join(self._parts)


@dataclass(frozen=True)
class Listed:
    """An object as a listing shows it."""

    size: int
    modified: float  # seconds since the epoch


def gzip_text(text: str) -> bytes:
    packed = Gzipped()
    packed.write(text)
    return packed.close()


def dataset_key(dataset: Dataset) -> str:
    return f"data/{dataset.name}.json"


class Lake(ABC):
    """A lake holds immutable objects; `put` shows readers the whole object or nothing."""

    uri: str

    @abstractmethod
    def check_writable(self) -> None:
        """Raise BadInput now, before any work, if writing will surely fail."""

    @abstractmethod
    def put(self, key: str, body: bytes) -> None: ...

    @abstractmethod
    def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    def keys(self, prefix: str, after: str | None = None) -> list[str]:
        """Keys of whole objects under prefix, sorted; given `after`, only those sorting after it
        (on S3 the listing starts there: what sorts before is never sent)."""

    def put_advisory(self, key: str, body: bytes) -> bool:
        """Put an object no result depends on (pending trials): False, after a warning, when the
        lake does not take it now. The run goes on either way."""
        try:
            self.put(key, body)
        except OSError as exc:
            log.warning("%s not written to %s (%s)", key, self.uri, exc.strerror or exc)
            return False
        return True

    def discard(self, keys: Iterable[str]) -> None:  # noqa: B027  (a default, deliberately empty)
        """Remove objects nothing depends on any more, where the lake may delete; a lake that
        keeps every object (S3: the job's role may not delete) leaves them, and readers skip
        them by their keys."""

    @abstractmethod
    def listing(self, prefix: str) -> dict[str, Listed]:
        """Each whole object under prefix with its size and age, by key."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; a no-op when it is already gone."""

    @abstractmethod
    def modified(self, prefix: str) -> dict[str, float]:
        """Each key under prefix, with when its object was last written (seconds since the
        epoch, by the lake's own clock)."""

    def put_file(self, key: str, path: Path, sha256: str) -> None:
        """Put the file at `path` (whose sha256 the caller computed) as one object; a lake that
        can, streams it rather than read it whole (a dataset may be larger than memory)."""
        self.put(key, path.read_bytes())

    def first_key(self, prefix: str) -> str | None:
        """The first key under prefix in sorted order, None if there is none."""
        return next(iter(self.keys(prefix)), None)

    def held_dataset_sha256(self, key: str) -> str | None:
        """The sha256 of the dataset object at key, None if there is none."""
        held = self.get(key)
        return None if held is None else hashlib.sha256(held).hexdigest()

    def check_dataset(self, dataset: Dataset) -> bool:
        """True if the lake already holds this dataset; BadInput if another one has its name.

        A lake written before folds were data holds the same points without them: that is
        this dataset, not another, and False says to write it again, now with its folds.
        """
        held = self.held_dataset_sha256(dataset_key(dataset))
        if held is None or held == dataset.sha256:
            return held is not None
        if held == dataset.sha256_without_folds:
            return False
        raise BadInput(
            f"the lake {self.uri} already holds a different dataset named {dataset.name!r}; "
            "rename yours (its 'dataset' key or its file name)"
        )

    def ship_waiting(self) -> None:  # noqa: B027  (a default, deliberately empty)
        """Ship what earlier runs left waiting; a lake written directly has nothing waiting."""

    def write_batch(self, batch: Batch, dataset: Dataset | None = None) -> None:
        """Write the batch, after the dataset when given (the lake does not hold it yet)."""
        if dataset is not None:
            self.put(dataset_key(dataset), dataset.canonical)
        # In order: a hyper record in the lake means the objects before it are complete.
        for prefix, body in batch.objects.items():
            self.put(batch.key(prefix), body)


def write_durably(path: Path, body: bytes) -> None:
    """Write a new file and flush it to the disk before anyone renames it into sight."""
    with open(path, "wb") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    """Make a rename in this folder survive a crash of the machine."""
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
