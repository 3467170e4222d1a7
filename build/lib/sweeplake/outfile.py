"""Paths the user names for us to write: one clear line when a file stands in the way."""

from __future__ import annotations

import os
from pathlib import Path

from sweeplake.errors import BadInput


def file_in_the_way(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` that is not a folder, if any: nothing can be
    created below it."""
    for parent in Path(path).absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def write_user_file(out: Path, payload: bytes, flag: str) -> Path:
    """Write `payload` to `out` whole or not at all; a bad `out` is BadInput naming `flag`."""
    out = Path(out)
    if out.is_dir():
        raise BadInput(f"{flag} {out} is a folder: give a file path, such as {out / 'name.json'}")
    blocker = file_in_the_way(out)
    if blocker is not None:
        raise BadInput(f"{flag} {out}: {blocker} is a file, so nothing can be written below it")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(payload)
        tmp.replace(out)
    except OSError as exc:
        raise BadInput(f"{flag} {out}: cannot write it ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out
