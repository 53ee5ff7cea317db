"""Simulated nodes: the real coordinator, replica, failure detector, hinted handoff
and anti-entropy, wired to simulated storage, network and clocks."""

from __future__ import annotations

import asyncio

from ..core.consistency import Level
from ..core.failure import FailureDetector
from ..core.hlc import HLC
from ..core.placement import Keyspace, RangeMap, bootstrap_ranges
from ..node.antientropy import AntiEntropy
from ..node.coordinator import Coordinator
from ..node.heartbeat import Heartbeats
from ..node.hints import HintedHandoff
from ..node.metrics import Metrics
from ..node.replica import Replica
from .storage import SimStorage

EPOCH_MS = 1_800_000_000_000  # virtual wall clocks start here
HEARTBEAT_S = 0.05
TIMEOUT_S = 0.5
MAX_SKEW_MS = 500


def range_map(node_ids: list[str], ranges: int = 4) -> RangeMap:
    ks = Keyspace("default", 1, replication_factor=3)
    rm = RangeMap()
    rm.add_keyspace(ks, bootstrap_ranges(ks, node_ids, ranges))
    return rm


class SimNode:
    def __init__(self, sim, node_id: str, node_ids: list[str]) -> None:
        self.sim = sim
        self.node_id = node_id
        self.node_ids = node_ids
        self.storage = SimStorage(sim)  # survives restarts, minus what was not synced
        self.skew_ms = 0
        self.up = False
        self.tasks: list[asyncio.Task] = []

    def clock_ms(self) -> int:
        return EPOCH_MS + int(self.sim.loop.time() * 1000) + self.skew_ms

    def start(self) -> None:
        sim = self.sim
        self.metrics = Metrics()
        self.hlc = HLC()
        self.ranges = range_map(self.node_ids)
        self.transport = sim.network.transport_for(self.node_id)
        self.replica = Replica(self.node_id, self.ranges, self.storage, self.hlc,
                               self.clock_ms, self.metrics, MAX_SKEW_MS)
        peers = [n for n in self.node_ids if n != self.node_id]
        self.heartbeats = Heartbeats(peers, self.transport, FailureDetector(
            HEARTBEAT_S * 1000), HEARTBEAT_S)
        self.hints = HintedHandoff(self.storage, self.transport, self.heartbeats.is_down,
                                   self.metrics, max_per_target=100_000, rate_per_s=10_000, ranges=self.ranges)
        self.coordinator = Coordinator(self.node_id, self.ranges, self.storage,
                                       self.transport, self.hlc, self.clock_ms, TIMEOUT_S,
                                       self.metrics, 0.05, is_down=self.heartbeats.is_down,
                                       hints=self.hints, max_skew_ms=MAX_SKEW_MS)
        self.anti_entropy = AntiEntropy(self.node_id, self.ranges, self.storage,
                                        self.transport, self.heartbeats.is_down, self.hlc,
                                        self.clock_ms, self.metrics, MAX_SKEW_MS, 0.2, depth=4)
        self.tasks = [asyncio.ensure_future(t) for t in (
            self.heartbeats.run(), self.hints.run(), self.anti_entropy.run())]
        self.replica.register(self.transport)
        sim.network.up(self.node_id, self.transport.handlers)
        self.up = True
        sim.trace(f"node {self.node_id} up")

    def crash(self) -> None:
        """Kill the process: in-memory state and unsynced writes are gone."""
        self.up = False
        self.sim.network.down(self.node_id)
        self.transport.closed = True
        for task in self.tasks:
            task.cancel()
        self.coordinator.deadlines._queue.clear()
        if self.coordinator.speculation is not None:
            self.coordinator.speculation._queue.clear()
        self.storage.crash()
        self.sim.trace(f"node {self.node_id} crashed")

    async def read(self, key: bytes, level: Level, session=None):
        return await self.coordinator.read("default", key, level, session)
