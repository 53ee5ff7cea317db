"""SCAN cursors that survive node restarts.

For a hash keyspace a cursor is a position in the 64-bit hash space: the scan
resumes at the first key whose hash is >= the cursor. Replicas never split a group
of keys sharing one hash, so every key present for the whole scan is returned
exactly once, whichever node serves the next page, and nothing is kept on the node.
Cursor 0 starts a scan and a returned 0 ends it, as in Redis; the hash range is
shifted by one so that a real position 0 is never confused with "done".
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import SyntaxError_
from .messages import ScanReply
from .rangemap import HASH_BYTES, HASH_SPACE, key_hash
from .version import Version, merge


class ScanPage(NamedTuple):
    keys: list[bytes]
    next_position: int  # HASH_SPACE when the keyspace is exhausted


def parse_cursor(raw: bytes) -> int:
    """The hash position a client's cursor points at.

    A cursor is an unsigned decimal, ASCII digits only (leading zeros allowed), as
    Redis 7.2's ``string2ull`` reads it, so ``-1`` is ``invalid cursor``. It is at
    most 2^64 - 1, except for 2^64 itself: the cursor this node hands out for the
    very last hash position (Redis never hands one out, so no client needs it).
    Redis's ``strtoull`` fallback also takes a leading ``+`` or blank; a cursor this
    node returned never has one, so both are refused.
    """
    digits = raw.lstrip(b"0")
    if not raw.isdigit() or len(digits) > 20:  # bounds int()'s work, too
        raise SyntaxError_("invalid cursor")
    cursor = int(digits or b"0")
    if cursor > HASH_SPACE:
        raise SyntaxError_("invalid cursor")
    return 0 if cursor == 0 else cursor - 1


def next_cursor(position: int) -> int:
    """The cursor to hand out for resuming at hash ``position`` (0 = finished)."""
    return 0 if position >= HASH_SPACE else position + 1


def hash_of_pkey(pkey: bytes) -> int:
    return int.from_bytes(pkey[:HASH_BYTES], "big")


def strip_hash(items) -> tuple:
    """``(placement key, version)`` pairs of a hash keyspace as ``(key, version)``."""
    return tuple((pkey[HASH_BYTES:], version) for pkey, version in items)


def merge_pages(replies: list[ScanReply], end: bytes, now_ms: int) -> ScanPage:
    """Union the replicas' pages of one range, cut where the shortest truncated
    page ends (every replica is complete up to there), keep live keys only."""
    cut = min((hash_of_pkey(r.last_pkey) for r in replies if r.truncated), default=None)
    newest: dict[bytes, Version] = {}
    for reply in replies:
        for key, version in reply.items:
            newest[key] = merge(newest.get(key), version)
    keys = [k for k, v in newest.items()
            if v.is_live(now_ms) and (cut is None or key_hash(k) <= cut)]
    if cut is not None:
        next_position = cut + 1
    else:
        next_position = hash_of_pkey(end) if end else HASH_SPACE
    return ScanPage(keys, next_position)
