"""This node's view of every range: the load it coordinated, and the size of the
ranges it stores.

``RangeStats.run`` samples the coordinator's per-range counters (core/load.py)
every ``sample_s`` and measures the ranges this node replicates every ``size_s``
(``node.range_stats_interval_ms``; 0: never):
a walk of each range's span counting stored entries (tombstones not yet purged
included) and their bytes, yielding to the event loop every ``CHUNK`` entries so
a large range never stalls requests. RocksDB keeps no per-span counters, and its
estimates cover the whole database only; a walk costs about a microsecond an
entry, so every 30 s it is a few percent of one core at a million keys.

``local_rows`` is what ``GET /v1/ranges?scope=local`` answers and what a peer
gets for a ``RangeStatsRequest``; core.load.merge_views makes the cluster view.
"""

from __future__ import annotations

import asyncio
import logging

from ..core import messages as m
from ..core.load import RangeLoad, merge_views
from ..net.transport import ask_peers

log = logging.getLogger(__name__)
CHUNK = 2000
SAMPLE_S = 5.0
SIZE_S = 30.0
ASK_TIMEOUT_S = 1.0


class RangeStats:
    def __init__(self, node_id: str, ranges, storage, load: RangeLoad, clock_s,
                 sample_s: float = SAMPLE_S, size_s: float = SIZE_S) -> None:
        self.node_id = node_id
        self.ranges = ranges
        self.storage = storage
        self.load = load
        self.clock_s = clock_s  # monotonic seconds
        self.sample_s = sample_s
        self.size_s = size_s
        self.sizes: dict[int, tuple[int, int]] = {}  # range id -> (entries, bytes)

    async def run(self) -> None:
        self.load.sample(self.clock_s())
        next_size = 0.0
        while True:
            now = self.clock_s()
            if self.size_s > 0 and now >= next_size:
                try:
                    await self.measure_sizes()
                except Exception:  # a failed walk leaves the last figures
                    log.exception("measuring range sizes failed")
                next_size = self.clock_s() + self.size_s
            await asyncio.sleep(min(self.sample_s, self.size_s or self.sample_s))
            self.load.sample(self.clock_s())

    async def measure_sizes(self) -> None:
        """Count the entries and bytes of every range this node replicates."""
        for rng in self.ranges.all_ranges():
            if self.node_id not in rng.replicas:
                continue
            ks = self.ranges.keyspaces[rng.keyspace]
            entries = size = 0
            for pkey, raw in self.storage.iter_range_raw(ks.keyspace_id, rng.start, rng.end):
                entries += 1
                size += len(pkey) + len(raw)
                if entries % CHUNK == 0:
                    await asyncio.sleep(0)
            self.sizes[rng.range_id] = (entries, size)

    def local_rows(self) -> list[dict]:
        """One row per range of the map: this node's load figures for it, and its
        size where this node stores it (None elsewhere, or before the first walk)."""
        rates = self.load.rates(self.clock_s())
        rows = []
        for rng in self.ranges.all_ranges():
            reads_per_s, writes_per_s = rates.get(rng.range_id, (0.0, 0.0))
            entries, size = self.sizes.get(rng.range_id, (None, None))
            rows.append({
                "node_id": self.node_id,
                "range_id": rng.range_id,
                "keyspace": rng.keyspace,
                "start": rng.start.hex(),
                "end": rng.end.hex(),
                "replicas": list(rng.replicas),
                "reads": self.load.reads.get(rng.range_id, 0),
                "writes": self.load.writes.get(rng.range_id, 0),
                "reads_per_s": reads_per_s,
                "writes_per_s": writes_per_s,
                "keys": entries,
                "bytes": size,
            })
        return rows

    # ---- the cluster view ------------------------------------------------------------

    def register(self, transport) -> None:
        transport.handle(m.RangeStatsRequest, self._on_requests)

    def _on_requests(self, items: list, channel) -> list:
        reply = m.RangeStatsReply(self.node_id, tuple(to_wire(row)
                                                      for row in self.local_rows()))
        return [(req_id, reply) for req_id, _ in items]

    async def cluster_rows(self, transport, peers: list[str],
                           timeout_s: float = ASK_TIMEOUT_S) -> tuple[list[dict], list[str]]:
        """Every range's row merged from this node and every peer that answers in
        time; and the peers that did not."""
        replies = await ask_peers(transport, peers, m.RangeStatsRequest(), m.RangeStatsReply, timeout_s)
        local = self.local_rows()
        descriptors = {row["range_id"]: row for row in local}
        views = [local]
        for reply in replies:
            if reply is not None:
                views.append([from_wire(reply.node_id, raw, descriptors) for raw in reply.rows
                              if raw and raw[0] in descriptors])
        missing = [peer for peer, reply in zip(peers, replies) if reply is None]
        return merge_views(views), missing


def to_wire(row: dict) -> tuple:
    return (row["range_id"], row["reads"], row["writes"], round(row["reads_per_s"] * 1000),
            round(row["writes_per_s"] * 1000),
            -1 if row["keys"] is None else row["keys"],
            -1 if row["bytes"] is None else row["bytes"])


def from_wire(node_id: str, raw: tuple, descriptors: dict) -> dict:
    """A peer's row, with the range's bounds and replicas from this node's map."""
    range_id, reads, writes, reads_milli, writes_milli, keys, size = raw
    base = descriptors[range_id]
    return {"node_id": node_id, "range_id": range_id, "keyspace": base["keyspace"],
            "start": base["start"], "end": base["end"], "replicas": base["replicas"],
            "reads": reads, "writes": writes, "reads_per_s": reads_milli / 1000,
            "writes_per_s": writes_milli / 1000, "keys": None if keys < 0 else keys,
            "bytes": None if size < 0 else size}
