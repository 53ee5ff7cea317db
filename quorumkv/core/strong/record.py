"""The stored forms of a strong range's state: user records, session records and
the applied index (the layout is drawn in core/keys.py).

A user record is ``'S' <version 8 BE> <expiry_ms 8 BE> <value>``: fixed header,
no msgpack, so reading a value costs one slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from .. import keys
from .replies import Reply, ReplyCodecError, reply_from_wire, reply_to_wire

RECORD_MAGIC = b"S"
_HEADER = 1 + 8 + 8
_packb = msgpack.Packer(use_bin_type=True).pack


class RecordError(ValueError):
    """Stored bytes that are not what this module writes (a bug or a corrupt store)."""


@dataclass(frozen=True, slots=True)
class Record:
    version: int    # the log index of the write that last set it
    expiry_ms: int  # absolute; 0 = none
    value: bytes

    def is_live(self, now_ms: int) -> bool:
        """Not expired at ``now_ms`` (the same rule as eventual keyspaces' Version)."""
        return self.expiry_ms == 0 or self.expiry_ms > now_ms


def encode_record(version: int, expiry_ms: int, value: bytes) -> bytes:
    return RECORD_MAGIC + version.to_bytes(8, "big") + expiry_ms.to_bytes(8, "big") + value


def decode_record(raw: bytes) -> Record:
    if len(raw) < _HEADER or raw[:1] != RECORD_MAGIC:
        raise RecordError(f"not a strong record: {bytes(raw[:24]).hex()}")
    return Record(int.from_bytes(raw[1:9], "big"), int.from_bytes(raw[9:17], "big"),
                  bytes(raw[_HEADER:]))


# ---- sessions ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Session:
    """A client's exactly-once state in one range: its last applied request."""
    seq: int
    last_index: int      # the log index that applied it: orders sessions oldest first
    last_active_ms: int  # that entry's now_ms: idle expiry
    reply: Reply


def encode_session(s: Session) -> bytes:
    return _packb([s.seq, s.last_index, s.last_active_ms, reply_to_wire(s.reply)])


def decode_session(raw: bytes) -> Session:
    try:
        seq, last_index, last_active_ms, reply = msgpack.unpackb(raw, raw=False)
        session = Session(seq, last_index, last_active_ms, reply_from_wire(reply))
    except (ValueError, TypeError, ReplyCodecError) as e:
        raise RecordError(f"not a session record: {e}") from e
    if not all(type(x) is int for x in (seq, last_index, last_active_ms)):
        raise RecordError("not a session record: bad header")
    return session


# ---- the applied index -----------------------------------------------------------

def applied_index_record(range_id: int, index: int) -> tuple[bytes, bytes]:
    """``(key, value)`` recording that the range applied every entry up to ``index``:
    the host writes it in the batch of those entries' writes."""
    return keys.applied_index_key(range_id), index.to_bytes(8, "big")


def parse_applied_index(raw: bytes | None) -> int:
    """The index an :func:`applied_index_record` value holds (None: nothing applied, 0)."""
    if raw is None:
        return 0
    if len(raw) != 8:
        raise RecordError(f"not an applied index: {bytes(raw).hex()}")
    return int.from_bytes(raw, "big")


def snapshot_spans(keyspace_id: int, range_id: int, start: bytes,
                   end: bytes) -> list[tuple[bytes, bytes]]:
    """The ``[lo, hi)`` storage spans that together are a range's state: its user
    records, its session records and its applied index record."""
    applied = keys.applied_index_key(range_id)
    return [keys.range_span(keyspace_id, start, end),
            keys.prefix_span(keys.session_prefix(range_id)),
            (applied, applied + b"\x00")]
