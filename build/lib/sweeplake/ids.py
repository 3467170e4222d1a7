"""Identifiers unique across machines and processes and sortable by time (ULIDs)."""

from __future__ import annotations

import os
import threading
import time

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
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
