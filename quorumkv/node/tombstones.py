"""Tombstone GC: purge deletes and expired values once they can no longer matter.

A tombstone (or an expired value) is purged when it is older than its keyspace's
grace period (the keyspace's ``gc_grace_ms``, ten days by default, as Cassandra's
``gc_grace_seconds``; each keyspace has its own). The rule that keeps deleted data from coming back: every
replica must have received the tombstone before any replica purges it. Hinted
handoff and read repair usually see to that; anti-entropy guarantees it as long as
it completes a pass over every range more often than once per grace period (the
background pass takes ranges x ``node.anti_entropy_interval_ms``, and ``quorumkv
repair`` does one on demand). A replica that was down longer than the grace
period must be repaired before it serves reads again.

The sweep runs every ``node.tombstone_gc_interval_ms`` over the ranges this node
replicates. It decides from a consistent view and deletes in the same loop turn
after checking the entry is still the one it saw, so a write arriving meanwhile is
never removed.
"""

from __future__ import annotations

import asyncio
import logging

from ..core.version import Version, purgeable
from ..core.keys import storage_key

log = logging.getLogger(__name__)
CHUNK = 2000


class TombstoneGC:
    def __init__(self, node_id: str, ranges, storage, clock_ms, metrics,
                 interval_s: float) -> None:
        self.node_id = node_id
        self.ranges = ranges  # each Keyspace in it carries its gc_grace_ms
        self.storage = storage
        self.clock_ms = clock_ms
        self.metrics = metrics
        self.interval_s = interval_s

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                purged = await self.sweep()
                if purged:
                    log.info("purged %d tombstones and expired values", purged)
            except Exception:
                log.exception("tombstone GC failed")

    async def sweep(self) -> int:
        purged = 0
        for rng in self.ranges.all_ranges():
            if self.node_id not in rng.replicas:
                continue
            ks = self.ranges.keyspaces[rng.keyspace]
            if ks.mode != "eventual":
                continue  # a strong range's records are not versions: no tombstones
            candidates: list[tuple[bytes, bytes]] = []
            for i, (pkey, raw) in enumerate(self.storage.iter_range_raw(
                    ks.keyspace_id, rng.start, rng.end)):
                if purgeable(Version.decode(raw), self.clock_ms(), ks.gc_grace_ms):
                    candidates.append((pkey, raw))
                if i % CHUNK == CHUNK - 1:
                    await asyncio.sleep(0)
                    purged += self._purge(ks.keyspace_id, candidates)
                    candidates = []
            purged += self._purge(ks.keyspace_id, candidates)
        self.metrics.tombstones_purged.inc(purged)
        return purged

    def _purge(self, keyspace_id: int, candidates) -> int:
        """Delete the candidates still stored exactly as seen (no await in here: a
        write cannot slip in between the check and the queued delete, and a write
        queued later in this turn lands after the delete in the same batch)."""
        if not candidates:
            return 0
        keys = [storage_key(keyspace_id, pkey) for pkey, _ in candidates]
        current = self.storage.get_raw_many(keys)
        doomed = [(k, None) for k, (_, raw), now in zip(keys, candidates, current) if now == raw]
        if doomed:
            self.storage.write_raw_soon(doomed, lambda error: None)
        return len(doomed)
