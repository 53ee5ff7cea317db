"""Keyspace truncations (FLUSHDB): the rule and the records that keep flushed data gone.

A truncation of a keyspace at HLC timestamp ``T`` says: every version of that
keyspace with ``ts <= T`` is gone. A node that holds one treats such versions as
absent wherever they come from: its own storage before the sweep has deleted them,
a replica's read answer, a late write, a read repair, a hint, an anti-entropy
stream. So a replica that was down during the FLUSHDB cannot bring its old data
back, and writes stamped after ``T`` are kept. Of two truncations of a keyspace the
later one (larger ``T``) wins, so they merge like versions: in any order, any
number of times.

Two system records, in the 0xFFFF part of the key space that no keyspace uses (their
keys are built in core/keys.py, with the rest of the layout):

    0xFFFF 'T' <keyspace id, 2 bytes>                           -> T (8 bytes) ++ swept (1 byte)
    0xFFFF 'U' <len(target)> <target> <keyspace id, 2 bytes>    -> msgpack [keyspace name, T]

The first is this node's truncation of a keyspace; ``swept`` is 0 while versions
at or below ``T`` may still be stored (the sweep that deletes them resumes after a
restart). The second is a truncation *owed* to a node that did not acknowledge it,
kept by the FLUSHDB's coordinator and delivered like a hint, but never dropped:
there is one per target and keyspace, however many FLUSHDBs it missed.
"""

from __future__ import annotations

import msgpack

from .keys import (all_owed_prefix, owed_key, owed_prefix, parse_owed_key, truncation_key,
                   truncation_keyspace, truncations_prefix)

__all__ = ["all_owed_prefix", "decode_owed", "decode_truncation", "encode_owed",
           "encode_truncation", "owed_key", "owed_prefix", "parse_owed_key", "truncation_key",
           "truncation_keyspace", "truncations_prefix"]


def encode_truncation(ts: int, swept: bool) -> bytes:
    return ts.to_bytes(8, "big") + (b"\x01" if swept else b"\x00")


def decode_truncation(raw: bytes) -> tuple[int, bool]:
    """``(T, swept)`` of a stored truncation record."""
    return int.from_bytes(raw[:8], "big"), raw[8:9] == b"\x01"


def encode_owed(keyspace: str, ts: int) -> bytes:
    return msgpack.packb([keyspace, ts], use_bin_type=True)


def decode_owed(raw: bytes) -> tuple[str, int]:
    keyspace, ts = msgpack.unpackb(raw, raw=False)
    return keyspace, ts
