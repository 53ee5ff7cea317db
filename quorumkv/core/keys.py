"""The storage key layout: every key a node stores, in one ordered key space.

A node has one ordered key space (one RocksDB database). Its first two bytes say
whose a key is:

    user record    <keyspace id, 2 bytes BE> <placement key>      keyspace ids 0 .. 0xFFFE
    system record  ff ff <tag, 1 byte> ...                        id 0xFFFF: never a keyspace

So a keyspace is one contiguous span, and so is a range ``[start, end)`` of its
placement keys (:func:`range_span`): a range can be scanned, streamed or dropped
with one range delete. The placement key is the keyspace's partitioner's (a hash
keyspace: the 8-byte hash then the key; a range keyspace: the key itself,
core/placement/). The value of a user record is an encoded Version.

The system records, by tag (a tag is never 0xFF, so every system key sorts below
:data:`SYSTEM_END`):

    ff ff 'W'                                                     watermark
        -> the highest version timestamp stored (8 bytes BE), storage/engine.py
    ff ff 'H' <len(target)> <target> <ts, 8 bytes> <keyspace id> <pkey>
        -> a hint for target: msgpack [keyspace name, key, version], core/hints.py
    ff ff 'T' <keyspace id>
        -> this node's truncation of the keyspace: T (8 bytes) ++ swept (1 byte),
           core/truncation.py
    ff ff 'U' <len(target)> <target> <keyspace id>
        -> a truncation owed to target: msgpack [keyspace name, T], core/truncation.py
    ff ff 'L' <group id, 8 bytes BE> <index, 8 bytes BE>
        -> a Raft log entry of the group: term (8 bytes BE) ++ type (1 byte) ++ data,
           storage/raftlog.py
    ff ff 'R' <group id, 8 bytes BE>
        -> the group's Raft state: msgpack [format, hard state, conf state,
           snapshot meta (index and term: the log's first index - 1)], storage/raftlog.py

A Raft group id is the id of the range it replicates; the metadata group is group
:data:`METADATA_GROUP_ID` (0: range ids start at 1). One group's log is one
contiguous span, ascending by index (:func:`raft_log_span`), so it is compacted,
truncated or dropped with one range delete inside the system records.

One target's hints (and owed truncations) are one contiguous span, a target's
hints oldest first. ``len(target)`` is one byte, so a node id has at most 255
bytes here, and no target's prefix covers another's.

A strong keyspace's user records (core/strong/): the same storage key, a
different value, since a Raft log orders the writes instead of timestamps:

    <keyspace id> <placement key>
        -> 'S' <version, 8 bytes BE> <expiry_ms, 8 bytes BE> <value>
           version: the log index of the write that last set the record;
           expiry_ms: absolute, 0 = none; a delete removes the record

and the records of a strong range's state beside its user span (``range id`` is
8 bytes BE; a range's sessions are one contiguous span):

    ff ff 'C' <range id> <client id, at most 64 bytes>
        -> an exactly-once session: msgpack [seq, last index, last active ms,
           reply], core/strong/machine.py
    ff ff 'A' <range id>
        -> the range's applied index (8 bytes BE), written in the batch of the
           entries it covers

This module is the only one that builds or parses storage keys. The layout is what
existing data directories hold: changing a byte of it needs a migration.
"""

from __future__ import annotations

KEYSPACE_ID_BYTES = 2
SYSTEM_KEYSPACE_ID = 0xFFFF
MAX_KEYSPACE_ID = SYSTEM_KEYSPACE_ID - 1  # the highest id a user keyspace may have
SYSTEM_PREFIX = SYSTEM_KEYSPACE_ID.to_bytes(KEYSPACE_ID_BYTES, "big")
SYSTEM_END = SYSTEM_PREFIX + b"\xff"  # above every system key (no tag is 0xFF)
TS_BYTES = 8

WATERMARK_TAG = b"W"
HINT_TAG = b"H"
TRUNCATION_TAG = b"T"
OWED_TAG = b"U"
SESSION_TAG = b"C"
APPLIED_TAG = b"A"
RANGE_ID_BYTES = 8

RAFT_LOG_TAG = b"L"
RAFT_STATE_TAG = b"R"

WATERMARK_KEY = SYSTEM_PREFIX + WATERMARK_TAG


# ---- user records ------------------------------------------------------------------

def keyspace_prefix(keyspace_id: int) -> bytes:
    return keyspace_id.to_bytes(KEYSPACE_ID_BYTES, "big")


def storage_key(keyspace_id: int, pkey: bytes) -> bytes:
    return keyspace_id.to_bytes(KEYSPACE_ID_BYTES, "big") + pkey


def split_key(skey: bytes) -> tuple[int, bytes]:
    """``(keyspace id, placement key)`` of a user record's :func:`storage_key`."""
    return int.from_bytes(skey[:KEYSPACE_ID_BYTES], "big"), skey[KEYSPACE_ID_BYTES:]


def is_system_key(skey: bytes) -> bool:
    return skey[:KEYSPACE_ID_BYTES] == SYSTEM_PREFIX


def check_keyspace_id(keyspace_id: int) -> int:
    """``keyspace_id`` if a user keyspace may have it, else ValueError."""
    if not 0 <= keyspace_id <= MAX_KEYSPACE_ID:
        raise ValueError(f"keyspace id {keyspace_id} is outside 0..{MAX_KEYSPACE_ID} "
                         f"({SYSTEM_KEYSPACE_ID:#x} holds the system records)")
    return keyspace_id


# ---- spans: [lo, hi) of storage keys -----------------------------------------------

def keyspace_span(keyspace_id: int) -> tuple[bytes, bytes]:
    """``[lo, hi)`` of every storage key of a user keyspace."""
    return (keyspace_id.to_bytes(KEYSPACE_ID_BYTES, "big"),
            (keyspace_id + 1).to_bytes(KEYSPACE_ID_BYTES, "big"))


def range_span(keyspace_id: int, start: bytes, end: bytes) -> tuple[bytes, bytes]:
    """``[lo, hi)`` of the storage keys of placement keys in ``[start, end)`` of a
    keyspace; ``end == b""`` runs to the keyspace's end. Never leaves the keyspace."""
    prefix = keyspace_id.to_bytes(KEYSPACE_ID_BYTES, "big")
    if end:
        return prefix + start, prefix + end
    return prefix + start, (keyspace_id + 1).to_bytes(KEYSPACE_ID_BYTES, "big")


def system_span() -> tuple[bytes, bytes]:
    """``[lo, hi)`` of every system record."""
    return SYSTEM_PREFIX, SYSTEM_END


def span_keyspace(lo: bytes, hi: bytes) -> int:
    """The one keyspace id (0xFFFF: the system records) whose keys hold the whole
    span ``[lo, hi)``, else ValueError: a span that crosses a keyspace boundary is
    refused, so that no span operation reaches into a neighbouring keyspace."""
    if len(lo) < KEYSPACE_ID_BYTES or hi <= lo:
        raise ValueError(f"not a span of storage keys: [{lo.hex()}, {hi.hex()})")
    keyspace_id = int.from_bytes(lo[:KEYSPACE_ID_BYTES], "big")
    if keyspace_id == SYSTEM_KEYSPACE_ID:
        end = SYSTEM_END
    else:
        end = (keyspace_id + 1).to_bytes(KEYSPACE_ID_BYTES, "big")
    if hi > end:
        raise ValueError(f"span [{lo.hex()}, {hi.hex()}) crosses the end of keyspace "
                         f"{keyspace_id:#06x}")
    return keyspace_id


def prefix_span(prefix: bytes) -> tuple[bytes, bytes]:
    """``[lo, hi)`` of every key that starts with ``prefix`` (a system record
    prefix, or a keyspace's: never all 0xFF bytes)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        raise ValueError("a prefix of 0xFF bytes only has no finite span")
    return prefix, stripped[:-1] + bytes((stripped[-1] + 1,))


# ---- system records ----------------------------------------------------------------

def _target_prefix(tag: bytes, target: str, what: str) -> bytes:
    raw = target.encode()
    if len(raw) > 255:
        raise ValueError(f"node id too long for a {what}")
    return SYSTEM_PREFIX + tag + bytes((len(raw),)) + raw


def _target_of(key: bytes) -> tuple[str, int]:
    """The target named by a target-prefixed system key, and where its rest starts."""
    start = len(SYSTEM_PREFIX) + 1
    n = key[start]
    return key[start + 1:start + 1 + n].decode(), start + 1 + n


def hint_prefix(target: str) -> bytes:
    return _target_prefix(HINT_TAG, target, "hint key")


def all_hints_prefix() -> bytes:
    return SYSTEM_PREFIX + HINT_TAG


def hint_key(target: str, version, keyspace_id: int, pkey: bytes) -> bytes:
    """The key of a hint for ``target`` of ``version`` (only its ``ts`` is used)."""
    return (hint_prefix(target) + version.ts.to_bytes(TS_BYTES, "big")
            + keyspace_id.to_bytes(KEYSPACE_ID_BYTES, "big") + pkey)


def hint_target(key: bytes) -> str:
    return _target_of(key)[0]


def truncations_prefix() -> bytes:
    return SYSTEM_PREFIX + TRUNCATION_TAG


def truncation_key(keyspace_id: int) -> bytes:
    return truncations_prefix() + keyspace_id.to_bytes(KEYSPACE_ID_BYTES, "big")


def truncation_keyspace(key: bytes) -> int:
    """The keyspace id of a :func:`truncation_key`."""
    return int.from_bytes(key[len(truncations_prefix()):], "big")


def owed_prefix(target: str) -> bytes:
    return _target_prefix(OWED_TAG, target, "truncation record")


def all_owed_prefix() -> bytes:
    return SYSTEM_PREFIX + OWED_TAG


def owed_key(target: str, keyspace_id: int) -> bytes:
    return owed_prefix(target) + keyspace_id.to_bytes(KEYSPACE_ID_BYTES, "big")


def parse_owed_key(key: bytes) -> tuple[str, int]:
    """``(target, keyspace id)`` of an :func:`owed_key`."""
    target, rest = _target_of(key)
    return target, int.from_bytes(key[rest:], "big")


# ---- Raft logs and Raft state, one group per range ---------------------------------

GROUP_ID_BYTES = 8
RAFT_INDEX_BYTES = 8
METADATA_GROUP_ID = 0  # the cluster metadata's group; a range's group id is its range id
MAX_GROUP_ID = (1 << (8 * GROUP_ID_BYTES)) - 1
MAX_RAFT_INDEX = (1 << (8 * RAFT_INDEX_BYTES)) - 1


def check_group_id(group_id: int) -> int:
    """``group_id`` if it fits the key layout, else ValueError."""
    if not 0 <= group_id <= MAX_GROUP_ID:
        raise ValueError(f"Raft group id {group_id} is outside 0..{MAX_GROUP_ID}")
    return group_id


def _group_prefix(tag: bytes, group_id: int) -> bytes:
    return SYSTEM_PREFIX + tag + group_id.to_bytes(GROUP_ID_BYTES, "big")


def raft_log_key(group_id: int, index: int) -> bytes:
    return _group_prefix(RAFT_LOG_TAG, group_id) + index.to_bytes(RAFT_INDEX_BYTES, "big")


def raft_log_index(key: bytes) -> int:
    """The index of a :func:`raft_log_key`."""
    return int.from_bytes(key[-RAFT_INDEX_BYTES:], "big")


def raft_log_span(group_id: int, lo: int = 0, hi: int | None = None) -> tuple[bytes, bytes]:
    """``[lo, hi)`` of the storage keys of the group's entries with indexes in
    ``[lo, hi)`` (``hi`` None: to the end of the group's log). Never leaves the
    group's log."""
    start = raft_log_key(group_id, lo)
    if hi is None or hi > MAX_RAFT_INDEX:
        return start, prefix_span(_group_prefix(RAFT_LOG_TAG, group_id))[1]
    return start, raft_log_key(group_id, hi)


def raft_state_key(group_id: int) -> bytes:
    return _group_prefix(RAFT_STATE_TAG, group_id)


def all_raft_states_prefix() -> bytes:
    return SYSTEM_PREFIX + RAFT_STATE_TAG


def raft_state_group(key: bytes) -> int:
    """The group id of a :func:`raft_state_key`."""
    return int.from_bytes(key[len(SYSTEM_PREFIX) + 1:], "big")

# ---- strong ranges: sessions and applied index ------------------------------------

def session_prefix(range_id: int) -> bytes:
    """The prefix of every session record of a range (:func:`prefix_span` spans them)."""
    return SYSTEM_PREFIX + SESSION_TAG + range_id.to_bytes(RANGE_ID_BYTES, "big")


def session_key(range_id: int, client_id: bytes) -> bytes:
    return session_prefix(range_id) + client_id


def session_client(key: bytes) -> bytes:
    """The client id of a :func:`session_key`."""
    return key[len(SYSTEM_PREFIX) + 1 + RANGE_ID_BYTES:]


def applied_index_key(range_id: int) -> bytes:
    return SYSTEM_PREFIX + APPLIED_TAG + range_id.to_bytes(RANGE_ID_BYTES, "big")
