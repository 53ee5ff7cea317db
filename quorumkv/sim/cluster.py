"""Simulated nodes: every part built by the real node's assembly (node/assembly.py)
over the real range map bootstrap (node/node.py's ``build_range_map``), with only
the clock, the network (sim/network.py, under the real framing) and the disk
(sim/storage.py, under the engine interface) simulated.

The cluster has two keyspaces at once: ``default``, hash-partitioned into 4
ranges, and ``users``, range-partitioned at ``l`` and ``r`` (a-k / l-q / r-z).
"""

from __future__ import annotations

import dataclasses
import random

from ..config import ClusterSection, Config, KeyspaceSettings, NodeSection, \
    local_cluster_nodes, validate
from ..core.consistency import Level
from ..core.hlc import HLC
from ..core.meta import bootstrap_from_config
from ..node.assembly import Parts, assemble
from ..node.metrics import Metrics
from ..node.node import build_range_map
from .storage import SimStorage

EPOCH_MS = 1_800_000_000_000  # virtual wall clocks start here
NODE_COUNT = 3
KEYSPACES = (
    KeyspaceSettings("default", ranges=4, replication_factor=3),
    KeyspaceSettings("users", partitioner="range", split_points=("l", "r"),
                     replication_factor=3),
)
# the node settings the simulation changes from the defaults (every other one is
# what a real node runs with): faster heartbeats, timeouts and anti-entropy so
# that a run of a few virtual seconds sees failures detected and repaired
SETTINGS = dict(heartbeat_interval_ms=50, request_timeout_ms=500,
                anti_entropy_interval_ms=200, anti_entropy_depth=4,
                hint_delivery_rate=10_000)


def sim_config(node_id: str = "n1", keyspaces=KEYSPACES, node_count: int = NODE_COUNT,
               **overrides) -> Config:
    """The cluster's configuration as node ``node_id`` would read it."""
    node = dataclasses.replace(NodeSection(id=node_id), **(SETTINGS | overrides))
    config = Config(node=node, cluster=ClusterSection(nodes=local_cluster_nodes(node_count)),
                    keyspaces=keyspaces)
    validate(config)
    return config


class SimNode:
    """One node's process. ``config`` defaults to the eventual cluster's; ``rng``
    (a seeded generator for Raft's election timeouts) is needed when the config
    has a strong keyspace, so that a seed replays."""

    def __init__(self, sim, node_id: str, config: Config | None = None, rng=None) -> None:
        self.sim = sim
        self.node_id = node_id
        self.config = config or sim_config(node_id)
        self.rng = rng
        self.peers = [n.id for n in self.config.cluster.nodes if n.id != node_id]
        self.storage = SimStorage(sim)  # survives restarts, minus what was not synced
        self.skew_ms = 0
        self.up = False       # the process runs (answers its peers)
        self.serving = False  # and has caught up, so takes client requests
        self.parts: Parts | None = None
        self.tasks: list = []

    def clock_ms(self) -> int:
        return EPOCH_MS + int(self.sim.loop.time() * 1000) + self.skew_ms

    def start(self) -> None:
        """A (re)started process: fresh memory over the disk that survived."""
        sim = self.sim
        self.metrics = Metrics()
        self.hlc = HLC()
        self.ranges = build_range_map(self.config)
        self.transport = sim.network.transport_for(
            self.node_id, {n.id: (n.host, n.peer_port) for n in self.config.cluster.nodes
                           if n.id != self.node_id})
        self.parts = assemble(self.config.node, self.node_id, self.peers, self.ranges,
                              self.storage, self.transport, self.hlc, self.clock_ms,
                              self.metrics, monotonic_s=sim.loop.time,
                              rng=self.rng if self.rng is not None
                              else random.Random(f"{sim.seed}/{self.node_id}"),
                              bootstrap=bootstrap_from_config(self.config))
        sim.network.up(self.node_id, self.transport.handlers)
        self.up = True
        self.tasks = self.parts.start()
        self.tasks.append(sim.loop.create_task(self._catch_up()))
        sim.trace(f"node {self.node_id} up")

    async def _catch_up(self) -> None:
        await self.parts.catch_up()
        self.serving = True
        self.sim.trace(f"node {self.node_id} serving")

    def __getattr__(self, name: str):
        """``node.coordinator``, ``node.anti_entropy``, ...: the assembled parts."""
        if name in Parts.part_names() and self.__dict__.get("parts") is not None:
            return getattr(self.parts, name)
        raise AttributeError(name)

    def crash(self, kept: float = 0.0) -> None:
        """Kill the process: in-memory state and unsynced writes are gone, but for
        the first ``kept`` fraction of the unsynced writes (a torn write-ahead log)."""
        self.up = self.serving = False
        self.sim.network.down(self.node_id)
        self.transport.closed = True
        for task in self.tasks:
            task.cancel()
        coordinator = self.parts.coordinator
        coordinator.deadlines._queue.clear()
        if coordinator.speculation is not None:
            coordinator.speculation._queue.clear()
        self.storage.crash(kept)
        self.sim.trace(f"node {self.node_id} crashed")

    async def read(self, keyspace: str, key: bytes, level: Level, session=None):
        return await self.coordinator.read(keyspace, key, level, session)
