"""Partitioners: how a keyspace turns a key into its placement key.

A keyspace's ranges are spans of placement keys, so the partitioner alone decides
which keys share a range:

* ``hash``: the key's 64-bit xxh3 hash (8 bytes, big-endian) followed by the key
  itself. Keys spread evenly over the ranges, yet a range is still one contiguous
  span of storage. The bootstrap cuts the hash space into equal parts
  (:func:`hash_split_points`).
* ``range``: the key itself. Keys stay in order, so ``[l, r)`` holds exactly the
  keys from ``l`` (inclusive) to ``r`` (exclusive); the bootstrap cuts at the
  keyspace's split points (:func:`range_split_points`).
"""

from __future__ import annotations

import xxhash

HASH = "hash"
RANGE = "range"
PARTITIONERS = (HASH, RANGE)

HASH_BYTES = 8
HASH_SPACE = 1 << 64


def key_hash(key: bytes) -> int:
    return xxhash.xxh3_64_intdigest(key)


def hash_placement_key(key: bytes) -> bytes:
    return key_hash(key).to_bytes(HASH_BYTES, "big") + key


def hash_prefix(h: int) -> bytes:
    return h.to_bytes(HASH_BYTES, "big")


def hash_split_points(count: int) -> list[bytes]:
    """``count - 1`` evenly spaced boundaries of the 64-bit hash space."""
    assert 1 <= count <= 65536
    return [hash_prefix(i * HASH_SPACE // count) for i in range(1, count)]


def range_split_points(points) -> list[bytes]:
    """A range keyspace's split points as placement keys (UTF-8 for text), checked:
    non-empty and strictly increasing, so every bootstrap range is non-empty."""
    out = [p.encode() if isinstance(p, str) else bytes(p) for p in points]
    assert all(out), "a split point is never empty"
    assert all(a < b for a, b in zip(out, out[1:])), "split points strictly increase"
    return out


def readable_bound(bound: bytes, partitioner: str) -> str:
    """A range bound for people: the key (``l``) for a range keyspace, the hash as
    hex for a hash keyspace; ``""`` for the open end of the key space."""
    if bound == b"":
        return ""
    if partitioner == RANGE:
        return bound.decode("utf-8", "backslashreplace")
    return "0x" + bound[:HASH_BYTES].ljust(HASH_BYTES, b"\0").hex()


def readable_span(start: bytes, end: bytes, partitioner: str) -> str:
    """``[l, r)``, ``[, l)`` or ``[0x4000000000000000, 0x8000000000000000)``."""
    return f"[{readable_bound(start, partitioner)}, {readable_bound(end, partitioner)})"


def hash_tag(key: bytes) -> bytes:
    """The part of ``key`` that places it, by Redis Cluster's rule: the bytes
    between the first ``{`` and the next ``}`` when there are any, else the whole
    key. So ``{user1}.cart`` and ``{user1}.orders`` share a range (and so can be in
    one transaction), while ``{}x`` and ``a{b`` are placed by their whole key."""
    start = key.find(b"{")
    if start < 0:
        return key
    end = key.find(b"}", start + 1)
    if end <= start + 1:  # no closing brace, or an empty tag
        return key
    return key[start + 1:end]


def placement_key_with_tag(key: bytes) -> bytes:
    """A hash placement key that hashes the key's :func:`hash_tag`, then the key:
    keys of one tag sort together under one hash (strong keyspaces)."""
    return key_hash(hash_tag(key)).to_bytes(HASH_BYTES, "big") + key
