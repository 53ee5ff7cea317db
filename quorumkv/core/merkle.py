"""Merkle trees over one range of a keyspace, for anti-entropy.

A range ``[start, end)`` of placement keys covers an interval of the 64-bit hash
space; the tree cuts that interval into ``2**depth`` equal buckets (the leaves).
On a range keyspace the placement key is the key itself: its first 8 bytes,
zero-padded (a key may be shorter), stand in for the hash, so the buckets stay
in key order and every key of the range falls in one of them.
A leaf's hash is the XOR of ``entry_hash(pkey, stored version bytes)`` over the
entries in its bucket, so it is independent of the order entries are added in and
two replicas holding the same versions of the same keys get the same leaves. Inner
nodes hash their two children; the root summarises the range.

Two replicas compare roots; if they differ, the leaves; for the buckets that
differ, per-key digests; and only the keys whose digests differ are streamed
(node/antientropy.py runs the exchange). Pure: the caller feeds the entries.
"""

from __future__ import annotations

import xxhash

from .placement import HASH_BYTES, HASH_SPACE

DEFAULT_DEPTH = 10  # 1024 leaves: ~6 keys per leaf for 100k keys in 16 ranges
LEAF_BYTES = 8


def _prefix(pkey: bytes) -> int:
    return int.from_bytes(pkey[:HASH_BYTES].ljust(HASH_BYTES, b"\0"), "big")


def hash_bounds(start: bytes, end: bytes) -> tuple[int, int]:
    """The hash interval ``[lo, hi)`` a range of placement keys covers."""
    return (_prefix(start) if start else 0), (_prefix(end) if end else HASH_SPACE)


def bucket_of(pkey: bytes, lo: int, hi: int, depth: int) -> int:
    """The leaf of ``pkey``; a key of the range is never outside [0, 2**depth).
    Range bounds that share their first 8 bytes (lo == hi) put every key in
    leaf 0: correct, only coarser."""
    return min((_prefix(pkey) - lo) * (1 << depth) // max(hi - lo, 1), (1 << depth) - 1)


def entry_hash(pkey: bytes, raw_version: bytes) -> int:
    """A 64-bit digest of one stored entry (its key and its exact version)."""
    return xxhash.xxh3_64_intdigest(len(pkey).to_bytes(4, "big") + pkey + raw_version)


class MerkleTree:
    def __init__(self, start: bytes, end: bytes, depth: int = DEFAULT_DEPTH) -> None:
        if not 0 <= depth <= 20:
            raise ValueError("depth must be within [0, 20]")
        self.depth = depth
        self.lo, self.hi = hash_bounds(start, end)
        self.leaves = [0] * (1 << depth)
        self.entries = 0

    def bucket(self, pkey: bytes) -> int:
        return bucket_of(pkey, self.lo, self.hi, self.depth)

    def add(self, pkey: bytes, raw_version: bytes) -> None:
        self.leaves[self.bucket(pkey)] ^= entry_hash(pkey, raw_version)
        self.entries += 1

    def leaf_bytes(self) -> bytes:
        return b"".join(h.to_bytes(LEAF_BYTES, "big") for h in self.leaves)

    def root(self) -> bytes:
        level = [h.to_bytes(LEAF_BYTES, "big") for h in self.leaves]
        while len(level) > 1:
            level = [xxhash.xxh3_128_digest(level[i] + level[i + 1])
                     for i in range(0, len(level), 2)]
        return xxhash.xxh3_128_digest(level[0])

    def differing_buckets(self, other_leaves: bytes) -> list[int]:
        """Buckets whose leaf differs from ``other_leaves`` (``leaf_bytes`` of a tree
        of the same range and depth)."""
        if len(other_leaves) != LEAF_BYTES * len(self.leaves):
            raise ValueError("the other tree has another depth")
        mine = self.leaf_bytes()
        return [i for i in range(len(self.leaves))
                if mine[i * LEAF_BYTES:(i + 1) * LEAF_BYTES]
                != other_leaves[i * LEAF_BYTES:(i + 1) * LEAF_BYTES]]


def keys_to_exchange(mine: dict[bytes, int], theirs: dict[bytes, int]
                     ) -> tuple[list[bytes], list[bytes]]:
    """From per-key digests of the differing buckets: the keys to fetch from the
    peer (it has them, we have something else or nothing) and the keys to push to
    it (we have them, it has something else or nothing). A key in both lists holds
    different versions on each side: both directions, and LWW decides."""
    fetch = sorted(k for k, h in theirs.items() if mine.get(k) != h)
    push = sorted(k for k, h in mine.items() if theirs.get(k) != h)
    return fetch, push
