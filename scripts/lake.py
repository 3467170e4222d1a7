"""The lake: one small interface (put, get, list) over a local folder or an S3 prefix."""

from __future__ import annotations

import hashlib
import os
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from scripts.dataset import Dataset
from scripts.errors import BadInput, BatchLost


@dataclass(frozen=True)
class Batch:
    """One start of the job: a fact object and a hyper object under the same day and id."""

    batch_id: str
    dt: str
    fact: bytes
    hyper: bytes

    @property
    def fact_key(self) -> str:
        return f"fact/dt={self.dt}/{self.batch_id}.json.gz"

    @property
    def hyper_key(self) -> str:
        return f"hyper/dt={self.dt}/{self.batch_id}.json.gz"


class Gzipped:
    """Text compressed as it arrives, so that a batch never holds all its facts uncompressed."""

    def __init__(self) -> None:
        # wbits 31: a gzip wrapper with mtime 0, so the same records give the same bytes.
        # Z_FILTERED: on the digits of full-precision doubles, ~9% smaller at the same speed.
        self._compressor = zlib.compressobj(6, zlib.DEFLATED, 31, 9, zlib.Z_FILTERED)
        self._parts: list[bytes] = []

    def write(self, text: str) -> None:
        self._parts.append(self._compressor.compress(text.encode()))

    def close(self) -> bytes:
        self._parts.append(self._compressor.flush())
        return b"".join(self._parts)


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
    def keys(self, prefix: str) -> list[str]:
        """Keys of whole objects under prefix, sorted."""

    def held_dataset_sha256(self, key: str) -> str | None:
        """The sha256 of the dataset object at key, None if there is none."""
        held = self.get(key)
        return None if held is None else hashlib.sha256(held).hexdigest()

    def check_dataset(self, dataset: Dataset) -> bool:
        """True if the lake already holds this dataset; BadInput if another one has its name."""
        held = self.held_dataset_sha256(dataset_key(dataset))
        if held is not None and held != dataset.sha256:
            raise BadInput(
                f"the lake {self.uri} already holds a different dataset named {dataset.name!r}; "
                "rename yours (its 'dataset' key or its file name)"
            )
        return held is not None

    def ship_waiting(self) -> None:  # noqa: B027  (a default, deliberately empty)
        """Ship what earlier runs left waiting; a lake written directly has nothing waiting."""

    def write_batch(self, batch: Batch, dataset: Dataset | None = None) -> None:
        """Write the batch, after the dataset when given (the lake does not hold it yet)."""
        if dataset is not None:
            self.put(dataset_key(dataset), dataset.canonical)
        # Fact before hyper: a hyper record in the lake means its facts are complete.
        self.put(batch.fact_key, batch.fact)
        self.put(batch.hyper_key, batch.hyper)


class LocalLake(Lake):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.uri = str(self.root)

    def check_writable(self) -> None:
        probe = self.root / f".probe-{os.getpid()}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise BadInput(f"lake directory {self.root} is not writable ({reason})") from None

    def put(self, key: str, body: bytes) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        # A hidden temporary in the same folder, renamed over: readers never match it.
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            write_durably(tmp, body)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(target.parent)

    def write_batch(self, batch: Batch, dataset: Dataset | None = None) -> None:
        try:
            super().write_batch(batch, dataset)
        except OSError as exc:
            if not (self.root / batch.hyper_key).exists():
                # Facts without their hyper record would be a partial batch: take them back.
                (self.root / batch.fact_key).unlink(missing_ok=True)
            reason = exc.strerror or type(exc).__name__
            raise BatchLost(
                f"batch {batch.batch_id} was NOT written to the lake {self.root} ({reason})"
            ) from None

    def get(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(
            str(path.relative_to(self.root))
            for path in base.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )


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


def open_lake(uri: str) -> Lake:
    if uri.startswith("s3://"):
        from scripts.s3lake import S3Lake

        return S3Lake.from_uri(uri)
    if "://" in uri:
        raise BadInput(f"lake {uri}: only a local folder or s3://bucket/prefix is supported")
    return LocalLake(Path(uri))
