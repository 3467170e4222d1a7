"""The spool: batches bound for a remote lake wait here, whole, until the lake acknowledges them.

An entry is a folder named by its batch id (a ULID, so names sort oldest first) holding a
manifest (lake URI, batch id, day and keys, readable by a person) and the bodies it ships. It
appears by one rename of a finished hidden folder and leaves by one rename to a hidden name, so
a reader sees a whole entry or none, and two processes shipping the same spool at once find at
worst an entry gone under them.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sweeplake.errors import BadInput, BatchLost
from sweeplake.lake.base import Batch, fsync_dir, write_durably
from sweeplake.paths import DEFAULT_SPOOL

MANIFEST = "manifest.json"
# An entry written before a batch had more objects than these names none in its manifest.
FIRST_OBJECTS = ("fact", "hyper")
DATASET = "dataset.json"
LEFTOVER_SECONDS = 3600  # far longer than any write or removal takes


@dataclass(frozen=True)
class Waiting:
    """What `spool list` shows of an entry, read from its manifest and its folder."""

    batch_id: str
    lake: str
    written: float  # when the entry appeared, seconds since the epoch
    size: int  # bytes of every file in it


@dataclass(frozen=True)
class SpoolEntry:
    """A batch and where it goes, plus the dataset object when the lake may not hold it yet."""

    lake: str
    batch: Batch
    dataset_key: str | None = None
    dataset: bytes | None = None


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_environment(cls) -> Spool:
        return cls(Path(os.environ.get("SWEEPLAKE_SPOOL") or DEFAULT_SPOOL))

    def check_writable(self) -> None:
        probe = self.root / f".probe-{os.getpid()}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe.mkdir()
            probe.rmdir()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise BadInput(f"spool directory {self.root} is not writable ({reason})") from None

    def add(self, entry: SpoolEntry) -> Path:
        """Write the entry durably under a hidden name, then make it visible with one rename."""
        batch = entry.batch
        manifest = {
            "lake": entry.lake,
            "batch_id": batch.batch_id,
            "dt": batch.dt,
            "objects": list(batch.objects),
            "keys": [batch.key(prefix) for prefix in batch.objects],
            "dataset_key": entry.dataset_key,
        }
        files = {MANIFEST: json.dumps(manifest, indent=1).encode()}
        files.update({object_file(prefix): body for prefix, body in batch.objects.items()})
        if entry.dataset is not None:
            files[DATASET] = entry.dataset
        staging = self.root / f".new-{batch.batch_id}-{os.getpid()}"
        final = self.root / batch.batch_id
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
            for name, body in files.items():
                write_durably(staging / name, body)
            fsync_dir(staging)
            os.rename(staging, final)
        except OSError as exc:
            # A full disk, say: the half-written folder goes below, so no later run ships it.
            reason = exc.strerror or type(exc).__name__
            raise BatchLost(
                f"batch {batch.batch_id} was NOT kept: cannot write it to the spool {self.root} "
                f"({reason})"
            ) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        fsync_dir(self.root)
        return final

    def pending(self, lake: str) -> list[str]:
        """Batch ids waiting for this lake, oldest first."""
        return [entry.batch_id for entry in self.waiting() if entry.lake == lake]

    def lakes_other_than(self, lake: str) -> dict[str, int]:
        """How many batches wait for each lake but this one."""
        counts: dict[str, int] = {}
        for entry in self.waiting():
            if entry.lake != lake:
                counts[entry.lake] = counts.get(entry.lake, 0) + 1
        return counts

    def waiting(self) -> list[Waiting]:
        """Every whole entry, for any lake, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith("."):
                _sweep_leftover(folder)
                continue
            try:
                manifest_path = folder / MANIFEST
                manifest = json.loads(manifest_path.read_bytes())
                written = manifest_path.stat().st_mtime
                size = sum(path.stat().st_size for path in folder.iterdir())
            except (FileNotFoundError, NotADirectoryError):
                continue  # shipped and removed by another process since iterdir, or a stray file
            found.append(Waiting(folder.name, manifest["lake"], written, size))
        return found

    def load(self, batch_id: str) -> SpoolEntry | None:
        """The whole entry, or None when another process has shipped and removed it."""
        folder = self.root / batch_id
        try:
            manifest = json.loads((folder / MANIFEST).read_bytes())
            objects = {
                prefix: (folder / object_file(prefix)).read_bytes()
                for prefix in manifest.get("objects", FIRST_OBJECTS)
            }
            dataset_key = manifest["dataset_key"]
            dataset = (folder / DATASET).read_bytes() if dataset_key else None
        except FileNotFoundError:
            return None
        batch = Batch(manifest["batch_id"], manifest["dt"], objects)
        return SpoolEntry(manifest["lake"], batch, dataset_key, dataset)

    def remove(self, batch_id: str) -> None:
        """Forget a shipped entry; a no-op if another process already did."""
        doomed = self.root / f".done-{batch_id}-{os.getpid()}"
        try:
            os.rename(self.root / batch_id, doomed)
        except FileNotFoundError:
            return
        shutil.rmtree(doomed, ignore_errors=True)


def object_file(prefix: str) -> str:
    return f"{prefix}.json.gz"


def _sweep_leftover(path: Path) -> None:
    """Remove what a writer or remover that died long ago left under a hidden name."""
    try:
        stale = time.time() - path.lstat().st_mtime > LEFTOVER_SECONDS
    except FileNotFoundError:
        return
    if stale and path.name.startswith((".new-", ".done-")):
        shutil.rmtree(path, ignore_errors=True)
