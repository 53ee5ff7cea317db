"""SCAN cursors that survive node restarts.

For a hash keyspace a cursor is a position in the 64-bit hash space: the scan
resumes at the first key whose hash is >= the cursor. Replicas never split a group
of keys sharing one hash, so every key present for the whole scan is returned
exactly once, whichever node serves the next page, and nothing is kept on the node.
Cursor 0 starts a scan and a returned 0 ends it, as in Redis; the hash range is
shifted by one so that a real position 0 is never confused with "done".

A range keyspace's placement key is the key itself: its pages are spans of keys
in order (``merge_span``), resumed at the key after the last one returned.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import SyntaxError_
from .messages import ScanReply
from .placement import HASH_BYTES, HASH_SPACE
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


def group_prefix(keyspace) -> int:
    """How many leading bytes of a placement key a replica's page never splits: a
    hash keyspace's hash (so a hash position is a complete cursor), none for a
    range keyspace (whose placement key is the key)."""
    return HASH_BYTES if keyspace.partitioner == "hash" else 0


def page_items(keyspace, items) -> tuple:
    """A replica's ``(placement key, version)`` pairs as the ``(key, version)``
    pairs a ``ScanReply`` carries."""
    return strip_hash(items) if keyspace.partitioner == "hash" else tuple(items)


class SpanPage(NamedTuple):
    """Live keys of a span with their versions, in placement-key order, and the
    placement key to resume from (None: nothing is left of the span asked for)."""
    items: list  # [(key, Version)]
    resume: bytes | None


def merge_span(replies: list[ScanReply], keyspace, now_ms: int) -> SpanPage:
    """Merge the replicas' pages of one span like a read: the union of their keys,
    the newest version of each (last write wins), cut where the shortest truncated
    page ends (every replica is complete up to there), live keys only. ``resume``
    is where the next page starts, None if no page was truncated."""
    group = group_prefix(keyspace)
    cuts = [r.last_pkey[:group] if group else r.last_pkey for r in replies if r.truncated]
    cut = min(cuts) if cuts else None
    newest: dict[bytes, Version] = {}
    for reply in replies:
        for key, version in reply.items:
            newest[key] = merge(newest.get(key), version)
    place = keyspace.placement_key
    kept = []
    for key, version in newest.items():
        pkey = place(key)
        if cut is not None and (pkey[:group] if group else pkey) > cut:
            continue
        if version.is_live(now_ms):
            kept.append((pkey, key, version))
    kept.sort(key=_first)
    return SpanPage([(key, version) for _, key, version in kept], _after(cut, group))


def _first(item):
    return item[0]


def _after(cut: bytes | None, group: int) -> bytes | None:
    """The smallest placement key after the group that ends at ``cut``."""
    if cut is None:
        return None
    if not group:
        return cut + b"\x00"
    following = int.from_bytes(cut, "big") + 1
    return None if following >= 1 << (8 * group) else following.to_bytes(group, "big")
