"""Identifiers unique across machines and processes and sortable by time (ULIDs)."""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
from collections.abc import Callable

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_last = 0
_lock = threading.Lock()


def new_id() -> str:
    """48 bits of milliseconds then 80 random bits, as 26 Crockford base-32 characters.

    Within one process the ids strictly increase, even inside one millisecond.
    """
    global _last
    ms = time.time_ns() // 1_000_000
    with _lock:
        value = max((ms << 80) | int.from_bytes(os.urandom(10), "big"), _last + 1)
        _last = value
    return encode(value)


def encode(value: int) -> str:
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def derived_ids(parent: str) -> Callable[[], str]:
    """Ids made again the same by whatever shares `parent` (a retried unit of work): the
    parent's milliseconds, then 80 bits of the digest of the parent and a count."""
    milliseconds = decode(parent) >> 80
    count = itertools.count()

    def next_id() -> str:
        digest = hashlib.sha256(f"{parent}/{next(count)}".encode()).digest()
        return encode((milliseconds << 80) | int.from_bytes(digest[:10], "big"))

    return next_id


def decode(text: str) -> int:
    value = 0
    for character in text:
        value = value * 32 + CROCKFORD.index(character)
    return value
