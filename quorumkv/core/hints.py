"""Hinted handoff records: a write owed to a replica that was down.

A hint lives in the coordinator's own storage, in the system part of the key space
(keyspace id 0xFFFF, never a user keyspace), keyed so that one target's hints are
one contiguous span in the order they were written (the key helpers live in
core/keys.py, with the rest of the layout):

    0xFFFF 'H' <len(target)> <target> <version ts, 8 bytes> <keyspace id, 2 bytes> <pkey>

The value is the msgpack array ``[keyspace name, key, version]``. Delivering a hint
is an ordinary ``Put``: replicas merge by LWW, so a hint delivered twice, late or
after a newer write is harmless.
"""

from __future__ import annotations

import msgpack

from .keys import all_hints_prefix, hint_key, hint_prefix, hint_target
from .version import Version

__all__ = ["all_hints_prefix", "decode_hint", "encode_hint", "hint_key", "hint_prefix",
           "hint_target"]


def encode_hint(keyspace: str, key: bytes, version: Version) -> bytes:
    return msgpack.packb([keyspace, key, list(version)], use_bin_type=True)


def decode_hint(raw: bytes) -> tuple[str, bytes, Version]:
    keyspace, key, version = msgpack.unpackb(raw, raw=False)
    return keyspace, key, Version.from_tuple(version)
