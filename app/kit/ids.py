"""Resource and record ids: UUIDs whose leading bits are the time (RFC 9562 version 7).

A triage adds a key to several unique indexes (the encounter, CarePlan and response ids, the
audit record's id). With random (version 4) ids each key lands on a random leaf page of each
index, so every commit rewrites a page per index per triage, and a group of triages shares
none; time-ordered keys all go to the newest leaf page, which a group commit then writes once.
74 of the 128 bits are random (122 in version 4): still not guessable. The time they hold, to
the millisecond, is the resource's creation time, which its meta.lastUpdated states anyway.
"""

from __future__ import annotations

import os
import time

_VERSION_AND_VARIANT = (7 << 76) | (2 << 62)
_RANDOM_MASK = ((1 << 12) - 1) << 64 | ((1 << 62) - 1)  # rand_a (12 bits) and rand_b (62 bits)


def time_ordered_id() -> str:
    """A new UUIDv7, as its canonical 36-character lower-case text."""
    random = int.from_bytes(os.urandom(10), "big")
    value = (time.time_ns() // 1_000_000) << 80 | _VERSION_AND_VARIANT | (random & _RANDOM_MASK)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
