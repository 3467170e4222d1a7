"""The lake as a local folder: the default, and the S3 lake's mirror."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sweeplake.errors import BadInput, BatchLost, LakeUnreachable
from sweeplake.lake.base import Batch, Lake, Listed, fsync_dir, write_durably
from sweeplake.outfile import file_in_the_way

if TYPE_CHECKING:
    from sweeplake.dataset import Dataset


class LocalLake(Lake):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.uri = str(self.root)

    def check_writable(self) -> None:
        blocker = self.root.absolute() if self.root.is_file() else file_in_the_way(self.root)
        if blocker is not None:
            where = "" if blocker == self.root.absolute() else f": {blocker}"
            raise BadInput(
                f"lake {self.root}{where} is a file, not a folder: give --lake a folder "
                "(created if missing) or s3://bucket/prefix"
            )
        probe = self.root / f".probe-{os.getpid()}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise BadInput(f"lake directory {self.root} is not writable ({reason})") from None

    def check_readable(self) -> None:
        """BadInput unless the lake is a folder that exists, saying which it is not."""
        if self.root.exists() and not self.root.is_dir():
            raise BadInput(
                f"lake {self.root} is a file, not a folder: give --lake the folder "
                "(or s3://bucket/prefix) that `sweeplake run --lake` wrote to"
            )
        if not self.root.is_dir():
            raise BadInput(
                f"no lake at {self.root}: check --lake (or $SWEEPLAKE_LAKE), "
                "or run `sweeplake run` to start one there"
            )

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

    def put_file(self, key: str, path: Path, sha256: str) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(path, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(target.parent)

    def held_dataset_sha256(self, key: str) -> str | None:
        """Hashed in chunks: a dataset may be larger than memory."""
        digest = hashlib.sha256()
        try:
            with open(self.root / key, "rb") as handle:
                for chunk in iter(lambda: handle.read(2**20), b""):
                    digest.update(chunk)
        except FileNotFoundError:
            return None
        return digest.hexdigest()

    def write_batch(self, batch: Batch, dataset: Dataset | None = None) -> None:
        try:
            super().write_batch(batch, dataset)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if (self.root / batch.hyper_key).exists():
                # Only what is derived from the committed objects is missing: say so.
                raise LakeUnreachable(
                    f"batch {batch.batch_id} is in the lake {self.root} (its trials are "
                    f"committed), but its derived objects could not all be written ({reason}): "
                    "readers score it from its facts, and `sweeplake rescore` writes its scores"
                ) from None
            # Facts without their hyper record would be a partial batch: take them back.
            for prefix in batch.committing():
                (self.root / batch.key(prefix)).unlink(missing_ok=True)
            raise BatchLost(
                f"batch {batch.batch_id} was NOT written to the lake {self.root} ({reason})"
            ) from None

    def get(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def discard(self, keys: Iterable[str]) -> None:
        for key in list(keys):
            self.forget(key)

    def modified(self, prefix: str) -> dict[str, float]:
        return {key: (self.root / key).stat().st_mtime for key in self.keys(prefix)}

    def forget(self, key: str) -> None:
        """Remove an object: only a mirror does, when its lake no longer holds it."""
        (self.root / key).unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        try:
            self.forget(key)
            fsync_dir((self.root / key).parent)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise LakeUnreachable(
                f"cannot delete {key} from the lake {self.root} ({reason})"
            ) from None

    def listing(self, prefix: str) -> dict[str, Listed]:
        found = {}
        for key in self.keys(prefix):
            try:
                stat = (self.root / key).stat()
            except FileNotFoundError:
                continue  # deleted since the walk
            found[key] = Listed(stat.st_size, stat.st_mtime)
        return found

    def keys(self, prefix: str, after: str | None = None) -> list[str]:
        # os.walk, not Path.rglob: a month of batches is 43,200 files per prefix, listed by
        # every rank, and a Path per file costs ten times the walk.
        # A prefix is a string, as on S3: "fact/dt=D/<batch_id>." names one batch's objects.
        top = prefix.rpartition("/")[0] if "/" in prefix else prefix
        found = []
        for folder, _, files in os.walk(self.root / top):
            relative = os.path.relpath(folder, self.root)
            found += [f"{relative}/{name}" for name in files if not name.startswith(".")]
        return sorted(
            key for key in found if key.startswith(prefix) and (after is None or key > after)
        )
