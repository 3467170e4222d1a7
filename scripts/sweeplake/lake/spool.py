"""The spool: batches bound for a remote lake wait here, whole, until the lake acknowledges them.

An entry is a folder named by its batch id (a ULID, so names sort oldest first) holding a
manifest (lake URI, batch id, day and keys, readable by a person) and the bodies it ships. It
appears by one rename of a finished hidden folder and leaves by one rename to a hidden name, so
a reader sees a whole entry or none, and two processes shipping the same spool at once find at
worst an entry gone under them. An entry that cannot be read (a bad manifest, a missing object)
is set aside under `.quarantine/`, kept whole and named once in the log; it never stops a start.
The spool holds at most SWEEPLAKE_SPOOL_MAX_MB (DEFAULT_MAX_MB): at that, starts fit nothing new.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sweeplake.errors import BadInput, BatchLost, SpoolFull
from sweeplake.lake.base import Batch, fsync_dir, write_durably
from sweeplake.paths import DEFAULT_SPOOL
from sweeplake.settings import positive_number

MANIFEST = "manifest.json"
# An entry written before a batch had more objects than these names none in its manifest.
FIRST_OBJECTS = ("fact", "hyper")
DATASET = "dataset.json"
LEFTOVER_SECONDS = 3600  # far longer than any write or removal takes
QUARANTINE = ".quarantine"
# A t3.small's 8 GiB root volume holds the OS, the venv and this: some three days of default
# batches at one a minute (596 MB a day, docs/aws.md).
DEFAULT_MAX_MB = 2048.0
MANIFEST_KEYS = {"lake": str, "batch_id": str, "dt": str}

log = logging.getLogger("sweeplake.spool")


class BadEntry(Exception):
    """A spool entry that cannot be read as one: its manifest or an object it names."""


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
        """Every whole entry, for any lake, oldest first; an unreadable one is set aside."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith("."):
                _sweep_leftover(folder)
                continue
            if not folder.is_dir():
                continue  # a stray file: no entry
            try:
                manifest = read_manifest(folder)
                written = (folder / MANIFEST).stat().st_mtime
                size = sum(path.stat().st_size for path in folder.iterdir())
            except FileNotFoundError:
                continue  # shipped and removed by another process since iterdir
            except BadEntry as exc:
                self.quarantine(folder, str(exc))
                continue
            found.append(Waiting(folder.name, manifest["lake"], written, size))
        return found

    def load(self, batch_id: str) -> SpoolEntry | None:
        """The whole entry, or None when another process has shipped and removed it (or it was
        unreadable, and is now set aside)."""
        folder = self.root / batch_id
        try:
            manifest = read_manifest(folder)
            try:
                objects = {
                    prefix: (folder / object_file(prefix)).read_bytes()
                    for prefix in manifest.get("objects", FIRST_OBJECTS)
                }
                dataset_key = manifest["dataset_key"]
                dataset = (folder / DATASET).read_bytes() if dataset_key else None
            except FileNotFoundError as exc:
                if not (folder / MANIFEST).is_file():
                    raise  # removed by another process while we read it
                raise BadEntry(f"{Path(exc.filename).name} is missing") from None
        except FileNotFoundError:
            return None
        except BadEntry as exc:
            self.quarantine(folder, str(exc))
            return None
        batch = Batch(manifest["batch_id"], manifest["dt"], objects)
        return SpoolEntry(manifest["lake"], batch, dataset_key, dataset)

    def quarantine(self, folder: Path, reason: str) -> None:
        """Set an unreadable entry aside, whole, and say so once: by one rename, so two
        processes that both find it move it once."""
        aside = self.root / QUARANTINE / folder.name
        try:
            aside.parent.mkdir(exist_ok=True)
            os.rename(folder, aside)
            where = f"set aside in {aside}, never deleted"
        except FileNotFoundError:
            return  # another process moved or shipped it
        except OSError as exc:  # a name taken there, say: it stays, skipped and named each time
            where = f"left where it is, skipped (cannot move it to {aside}: {exc.strerror})"
        log.error(
            "spool entry %s cannot be shipped (%s): %s; repair it and move it back into %s, "
            "or delete it if its trials are not wanted",
            folder.name,
            reason,
            where,
            self.root,
        )

    def set_aside(self) -> list[str]:
        """The entries set aside as unreadable, by name."""
        folder = self.root / QUARANTINE
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def size(self) -> tuple[int, int]:
        """How many entries wait, for every lake, and their bytes."""
        waiting = self.waiting()
        return len(waiting), sum(entry.size for entry in waiting)

    def check_room(self) -> None:
        """SpoolFull when the waiting entries reach the cap: no new batch until they ship."""
        cap = max_bytes()
        count, size = self.size()
        if size >= cap:
            raise SpoolFull(
                f"the spool {self.root} holds {count} batch(es), {size / 2**20:.1f} MB, at its "
                f"cap of {cap / 2**20:g} MB (SWEEPLAKE_SPOOL_MAX_MB): no trials are fitted "
                "until the lake takes them; nothing is dropped (see `sweeplake spool list`)"
            )

    def remove(self, batch_id: str) -> bool:
        """Forget a shipped entry; False if another process already did."""
        doomed = self.root / f".done-{batch_id}-{os.getpid()}"
        try:
            os.rename(self.root / batch_id, doomed)
        except FileNotFoundError:
            return False
        shutil.rmtree(doomed, ignore_errors=True)
        return True


def read_manifest(folder: Path) -> dict:
    """The entry's manifest; BadEntry if it is not one (FileNotFoundError if it is gone)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_bytes())
    except NotADirectoryError:
        raise FileNotFoundError(folder) from None
    except FileNotFoundError:
        if folder.is_dir():
            raise BadEntry(f"{MANIFEST} is missing") from None
        raise
    except ValueError as exc:
        raise BadEntry(f"{MANIFEST} is not JSON: {str(exc)[:80]}") from None
    if not isinstance(manifest, dict):
        raise BadEntry(f"{MANIFEST} is not a JSON object")
    for key, kind in MANIFEST_KEYS.items():
        if not isinstance(manifest.get(key), kind):
            raise BadEntry(f"{MANIFEST} has no {kind.__name__} {key!r}")
    if "dataset_key" not in manifest or not isinstance(manifest["dataset_key"], str | None):
        raise BadEntry(f"{MANIFEST} has no 'dataset_key' (a key, or null)")
    objects = manifest.get("objects", FIRST_OBJECTS)
    if not (isinstance(objects, list | tuple) and all(isinstance(o, str) for o in objects)):
        raise BadEntry(f"{MANIFEST} has a bad 'objects' list")
    return manifest


def max_bytes() -> float:
    """The spool's cap: SWEEPLAKE_SPOOL_MAX_MB, else DEFAULT_MAX_MB; BadInput if not a size."""
    return positive_number("SWEEPLAKE_SPOOL_MAX_MB", DEFAULT_MAX_MB) * 2**20


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
