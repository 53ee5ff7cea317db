"""A keyspace at run time: its id, partitioner and the settings requests need.

Built from the configuration's keyspace settings (config.py) by the node's
assembly; the API and the coordinator read it on every request, so
:meth:`Keyspace.placement_key` stays one comparison and one call.
"""

from __future__ import annotations

from dataclasses import dataclass

from .partitioner import HASH, hash_placement_key, placement_key_with_tag

EVENTUAL = "eventual"
DEFAULT_GC_GRACE_MS = 864_000_000  # ten days, as Cassandra's gc_grace_seconds


@dataclass(frozen=True, slots=True)
class Keyspace:
    name: str
    keyspace_id: int
    mode: str = EVENTUAL
    partitioner: str = HASH
    replication_factor: int = 3
    default_consistency: str = "QUORUM"
    hints_count: bool = False  # a stored hint counts toward levels above ANY
    db: int | None = None      # the Redis database number (SELECT n) that names it
    gc_grace_ms: int = DEFAULT_GC_GRACE_MS

    def placement_key(self, key: bytes) -> bytes:
        # literals, not HASH: a constant load on every request, not a global one
        if self.partitioner == "hash":
            # a strong keyspace hashes a key's {tag}: keys of one tag share a range,
            # so a transaction on them stays in one Raft group (Redis Cluster's rule)
            return hash_placement_key(key) if self.mode == "eventual" \
                else placement_key_with_tag(key)
        return key

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "id": self.keyspace_id,
            "mode": self.mode,
            "partitioner": self.partitioner,
            "replication_factor": self.replication_factor,
            "default_consistency": self.default_consistency,
            "hints_count_toward_consistency": self.hints_count,
            "db": self.db,
            "gc_grace_ms": self.gc_grace_ms,
        }
