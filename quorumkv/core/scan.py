"""SCAN cursors that survive node restarts.

For a hash keyspace a cursor is a position in the 64-bit hash space: the scan
resumes at the first key whose hash is >= the cursor. Replicas never split a group
of keys sharing one hash, so every key present for the whole scan is returned
exactly once, whichever node serves the next page, and nothing is kept on the node.
Cursor 0 starts a scan and a returned 0 ends it, as in Redis; the hash range is
shifted by one so that a real position 0 is never confused with "done".

A range keyspace's placement key is the key itself: its pages are spans of keys
in order (``merge_span``), resumed at the key after the last one returned, or in
reverse (keys descending), resumed below the last one returned. Its SCAN cursor
is "resume at key K" as an integer (``range_cursor``): the big-endian integer of
a marker byte 0x01 followed by K (so K's leading zero bytes survive), 0 to start
and to end. K is at most ``CURSOR_KEY_BYTES`` bytes: a longer resume key is cut
to that prefix, which sorts before it, so resuming there may return keys again
(as Redis's SCAN may) but never skips one.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

from ..errors import SyntaxError_
from .messages import ScanReply
from .placement import HASH_BYTES, HASH_SPACE
from .version import Version, merge


CURSOR_KEY_BYTES = 1024  # at most 2,472 digits: under Python's 4,300-digit int() limit
_CURSOR_MARKER = b"\x01"
_CURSOR_DIGITS_MAX = len(str(1 << (8 * (CURSOR_KEY_BYTES + 1))))
RANGE_LIMIT_DEFAULT = 1000  # keys per QKV.RANGE / HTTP range read without LIMIT
RANGE_LIMIT_MAX = 10_000   # the most one such request may ask for


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


def range_cursor(resume: bytes | None) -> int:
    """The SCAN cursor of a range keyspace that resumes at key ``resume`` (None:
    the scan is done, 0)."""
    if resume is None:
        return 0
    return int.from_bytes(_CURSOR_MARKER + resume[:CURSOR_KEY_BYTES], "big")


def parse_range_cursor(raw: bytes) -> bytes:
    """The key a range keyspace's SCAN cursor resumes at (b"": the beginning)."""
    if not raw.isdigit() or len(raw.lstrip(b"0")) > _CURSOR_DIGITS_MAX:
        raise SyntaxError_("invalid cursor")
    cursor = int(raw)
    if cursor == 0:
        return b""
    packed = cursor.to_bytes((cursor.bit_length() + 7) // 8, "big")
    if packed[:1] != _CURSOR_MARKER or len(packed) > CURSOR_KEY_BYTES + 1:
        raise SyntaxError_("invalid cursor")
    return packed[1:]


def range_limit(raw: bytes | int | None) -> int:
    """The page size of a range read: RANGE_LIMIT_DEFAULT if none is given, else
    1..RANGE_LIMIT_MAX."""
    if raw is None:
        return RANGE_LIMIT_DEFAULT
    if isinstance(raw, bytes):
        if not raw.isdigit() or len(raw) > 12:
            raise SyntaxError_("value is not an integer or out of range")
        raw = int(raw)
    if not 1 <= raw <= RANGE_LIMIT_MAX:
        raise SyntaxError_(f"LIMIT must be between 1 and {RANGE_LIMIT_MAX}")
    return raw


def clip(items: list, resume: bytes | None, limit: int, reverse: bool) -> SpanPage:
    """At most ``limit`` of a page's ``(key, version)`` items; when some are cut,
    ``resume`` becomes the bound that returns them next: the key after the last
    one kept (forward: the next start), or that key itself (reverse: the next
    exclusive end)."""
    if len(items) <= limit:
        return SpanPage(items, resume)
    last = items[limit - 1][0]
    return SpanPage(items[:limit], last if reverse else last + b"\x00")


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


def merge_span(replies: list[ScanReply], keyspace, now_ms: int,
               reverse: bool = False) -> SpanPage:
    """Merge the replicas' pages of one span like a read: the union of their keys,
    the newest version of each (last write wins), cut where the shortest truncated
    page ends (every replica is complete up to there), live keys only. ``resume``
    is where the next page starts, None if no page was truncated; for a reverse
    page (``merge_reverse``) it is where the next page ends."""
    if reverse:
        return merge_reverse(replies, now_ms)
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


def merge_reverse(replies: list[ScanReply], now_ms: int) -> SpanPage:
    """``merge_span`` of a range keyspace's reverse pages (keys descending): every
    replica is complete down to the largest last key of a truncated page, so the
    page keeps keys at or above it, and the next page ends there (exclusive)."""
    cuts = [r.last_pkey for r in replies if r.truncated]
    cut = max(cuts) if cuts else None
    newest: dict[bytes, Version] = {}
    for reply in replies:
        for key, version in reply.items:
            if cut is None or key >= cut:
                newest[key] = merge(newest.get(key), version)
    kept = sorted(((k, v) for k, v in newest.items() if v.is_live(now_ms)), reverse=True,
                  key=_first)
    return SpanPage(kept, cut)


def range_below(ranges: list, end: bytes):
    """The range (of a keyspace's ``ranges``, in order) that holds the keys just
    below ``end`` (b"": the last range): where a reverse read of ``[.., end)``
    starts."""
    if not end:
        return ranges[-1]
    return ranges[max(0, bisect.bisect_left([r.start for r in ranges], end) - 1)]
