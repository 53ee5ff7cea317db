"""Placement: keyspaces cut into ranges of an ordered placement key.

For a ``hash`` keyspace the placement key is the key's 64-bit xxh3 hash (8 bytes,
big-endian) followed by the key itself, so keys spread evenly yet a range is still a
contiguous span of storage. For a ``range`` keyspace it is the key itself.

A :class:`RangeDescriptor` covers ``[start, end)``; ``end == b""`` means "to the end
of the key space". The ranges of a keyspace tile the whole key space with no gap and
no overlap. Every change to a range (split, merge, replica move) bumps its epoch;
the map's epoch is the largest of them, so two maps can be ordered by freshness.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import xxhash

HASH_BYTES = 8
HASH_SPACE = 1 << 64


def key_hash(key: bytes) -> int:
    return xxhash.xxh3_64_intdigest(key)


def hash_placement_key(key: bytes) -> bytes:
    return key_hash(key).to_bytes(HASH_BYTES, "big") + key


def hash_prefix(h: int) -> bytes:
    return h.to_bytes(HASH_BYTES, "big")


@dataclass(frozen=True, slots=True)
class RangeDescriptor:
    range_id: int
    keyspace: str
    start: bytes
    end: bytes  # b"" = unbounded
    replicas: tuple[str, ...]
    epoch: int = 1

    def contains(self, pkey: bytes) -> bool:
        return self.start <= pkey and (self.end == b"" or pkey < self.end)

    def to_json(self) -> dict:
        return {
            "range_id": self.range_id,
            "keyspace": self.keyspace,
            "start": self.start.hex(),
            "end": self.end.hex(),
            "replicas": list(self.replicas),
            "epoch": self.epoch,
        }


@dataclass(frozen=True, slots=True)
class Keyspace:
    name: str
    keyspace_id: int
    mode: str = "eventual"
    partitioner: str = "hash"
    replication_factor: int = 3
    default_consistency: str = "QUORUM"
    hints_count: bool = False  # a stored hint counts toward levels above ANY
    db: int | None = None  # the Redis database number SELECT addresses it by, if any

    def placement_key(self, key: bytes) -> bytes:
        return hash_placement_key(key) if self.partitioner == "hash" else key

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "id": self.keyspace_id,
            "mode": self.mode,
            "partitioner": self.partitioner,
            "replication_factor": self.replication_factor,
            "default_consistency": self.default_consistency,
            "hints_count_toward_consistency": self.hints_count,
        }


@dataclass
class RangeMap:
    """The ranges of every keyspace, sorted by start within a keyspace."""

    keyspaces: dict[str, Keyspace] = field(default_factory=dict)
    _ranges: dict[str, list[RangeDescriptor]] = field(default_factory=dict)
    _starts: dict[str, list[bytes]] = field(default_factory=dict)

    def add_keyspace(self, keyspace: Keyspace, ranges: list[RangeDescriptor]) -> None:
        ranges = sorted(ranges, key=lambda r: r.start)
        check_tiling(ranges)
        self.keyspaces[keyspace.name] = keyspace
        self._ranges[keyspace.name] = ranges
        self._starts[keyspace.name] = [r.start for r in ranges]

    @property
    def epoch(self) -> int:
        return max((r.epoch for rs in self._ranges.values() for r in rs), default=0)

    def ranges(self, keyspace: str) -> list[RangeDescriptor]:
        return self._ranges[keyspace]

    def all_ranges(self) -> list[RangeDescriptor]:
        return [r for name in sorted(self._ranges) for r in self._ranges[name]]

    def lookup(self, keyspace: str, pkey: bytes) -> RangeDescriptor:
        """The one range of ``keyspace`` whose span holds placement key ``pkey``."""
        index = bisect.bisect_right(self._starts[keyspace], pkey) - 1
        return self._ranges[keyspace][index]

    def to_json(self) -> dict:
        return {
            "epoch": self.epoch,
            "keyspaces": [ks.to_json() for ks in self.keyspaces.values()],
            "ranges": [r.to_json() for r in self.all_ranges()],
        }


def check_tiling(ranges: list[RangeDescriptor]) -> None:
    """Ranges sorted by start must cover the whole key space exactly once."""
    assert ranges, "a keyspace has at least one range"
    assert ranges[0].start == b"", "first range starts at the beginning"
    assert ranges[-1].end == b"", "last range runs to the end"
    for left, right in zip(ranges, ranges[1:]):
        assert left.end == right.start and left.end != b"", "ranges must abut"


def hash_split_points(count: int) -> list[bytes]:
    """``count - 1`` evenly spaced boundaries of the 64-bit hash space."""
    assert 1 <= count <= 65536
    return [hash_prefix(i * HASH_SPACE // count) for i in range(1, count)]


def place_replicas(node_ids: list[str], index: int, replication_factor: int) -> tuple[str, ...]:
    """Replicas for the ``index``-th range: ``rf`` distinct nodes, round robin.

    Nodes are taken in sorted order starting at ``index`` so that every node leads
    (holds the first replica of) an equal share of ranges. Rack- and datacenter-aware
    placement replaces this when nodes carry a topology.
    """
    nodes = sorted(node_ids)
    rf = min(replication_factor, len(nodes))
    return tuple(nodes[(index + i) % len(nodes)] for i in range(rf))


def bootstrap_ranges(keyspace: Keyspace, node_ids: list[str], range_count: int,
                     first_range_id: int = 1) -> list[RangeDescriptor]:
    """The initial ranges of a keyspace, derived only from the static node list.

    Every node computes the same map from the same configuration, so a cluster needs
    no exchange to agree on its first layout (epoch 1).
    """
    points = hash_split_points(range_count) if keyspace.partitioner == "hash" else []
    bounds = [b""] + points + [b""]
    return [
        RangeDescriptor(
            range_id=first_range_id + i,
            keyspace=keyspace.name,
            start=bounds[i],
            end=bounds[i + 1],
            replicas=place_replicas(node_ids, i, keyspace.replication_factor),
        )
        for i in range(len(bounds) - 1)
    ]
