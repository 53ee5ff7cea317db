"""Hinted handoff records: a write owed to a replica that was down.

A hint lives in the coordinator's own storage, in the system part of the key space
(keyspace id 0xFFFF, never a user keyspace), keyed so that one target's hints are
one contiguous span in the order they were written:

    0xFFFF 'H' <len(target)> <target> <version ts, 8 bytes> <keyspace id, 2 bytes> <pkey>

The value is the msgpack array ``[keyspace name, key, version]``. Delivering a hint
is an ordinary ``Put``: replicas merge by LWW, so a hint delivered twice, late or
after a newer write is harmless.
"""

from __future__ import annotations

import msgpack

from .version import Version

SYSTEM_PREFIX = b"\xff\xff"
HINT_TAG = b"H"


def hint_prefix(target: str) -> bytes:
    raw = target.encode()
    if len(raw) > 255:
        raise ValueError("node id too long for a hint key")
    return SYSTEM_PREFIX + HINT_TAG + bytes((len(raw),)) + raw


def all_hints_prefix() -> bytes:
    return SYSTEM_PREFIX + HINT_TAG


def hint_key(target: str, version: Version, keyspace_id: int, pkey: bytes) -> bytes:
    return (hint_prefix(target) + version.ts.to_bytes(8, "big")
            + keyspace_id.to_bytes(2, "big") + pkey)


def hint_target(key: bytes) -> str:
    n = key[len(SYSTEM_PREFIX) + 1]
    start = len(SYSTEM_PREFIX) + 2
    return key[start:start + n].decode()


def encode_hint(keyspace: str, key: bytes, version: Version) -> bytes:
    return msgpack.packb([keyspace, key, list(version)], use_bin_type=True)


def decode_hint(raw: bytes) -> tuple[str, bytes, Version]:
    keyspace, key, version = msgpack.unpackb(raw, raw=False)
    return keyspace, key, Version.from_tuple(version)
