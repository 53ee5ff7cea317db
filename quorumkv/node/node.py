"""One QuorumKV node process: storage, peers, coordinator and client APIs.

``Node.start()`` opens storage and every listener; ``Node.stop()`` closes them in
reverse order and syncs storage, so Ctrl-C or SIGTERM never loses an acknowledged
write.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from .. import accel
from ..config import Config
from ..core import messages as m
from ..core.consistency import Level
from ..core.failure import FailureDetector, Liveness
from ..core.hlc import HLC
from ..core.rangemap import Keyspace, RangeMap, bootstrap_ranges
from ..net import PeerTransport
from ..storage import Durability, Storage
from .coordinator import Coordinator
from .heartbeat import Heartbeats
from .antientropy import AntiEntropy
from .clock import wall_clock_ms
from .hints import HintedHandoff
from .tombstones import TombstoneGC
from .truncation import Truncations
from .metrics import Metrics
from .replica import Replica

log = logging.getLogger(__name__)
DEFAULT_KEYSPACE_ID = 1
STATUS_TIMEOUT_S = 0.5


class Node:
    def __init__(self, config: Config, clock_ms=wall_clock_ms) -> None:
        self.config = config
        self.node_id = config.node.id
        self.me = config.me
        self.clock_ms = clock_ms
        self.started_at = time.time()
        self.metrics = Metrics()
        self.hlc = HLC()
        self.ranges = build_range_map(config)
        self.default_level = Level.parse(config.cluster.default_consistency)
        self.storage: Storage | None = None
        self.transport: PeerTransport | None = None
        self.coordinator: Coordinator | None = None
        self.heartbeats: Heartbeats | None = None
        self.hints: HintedHandoff | None = None
        self.anti_entropy: AntiEntropy | None = None
        self.kv = None
        self._servers: list = []
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        cfg = self.config
        tune_gc()
        self.storage = Storage(cfg.data_dir, Durability(cfg.node.fsync),
                               cfg.node.periodic_sync_ms,
                               row_cache_bytes=cfg.node.row_cache_bytes)
        replica = Replica(self.node_id, self.ranges, self.storage, self.hlc, self.clock_ms,
                          self.metrics, cfg.node.max_clock_skew_ms)
        peers = {n.id: (n.host, n.peer_port) for n in cfg.cluster.nodes if n.id != self.node_id}
        self.transport = PeerTransport(self.me.host, self.me.peer_port, peers, replica.handle)
        await self.transport.start()
        detector = FailureDetector(cfg.node.heartbeat_interval_ms, cfg.node.phi_suspect,
                                   cfg.node.phi_down)
        self.heartbeats = Heartbeats(list(peers), self.transport, detector,
                                     cfg.node.heartbeat_interval_ms / 1000)
        self._tasks.append(asyncio.ensure_future(self.heartbeats.run()))
        self.hints = HintedHandoff(self.storage, self.transport, self.heartbeats.is_down,
                                   self.metrics, cfg.node.max_hints_per_target,
                                   cfg.node.hint_delivery_rate)
        self._tasks.append(asyncio.ensure_future(self.hints.run()))
        self.anti_entropy = AntiEntropy(self.node_id, self.ranges, self.storage,
                                        self.transport, self.heartbeats.is_down, self.hlc,
                                        self.clock_ms, self.metrics, cfg.node.max_clock_skew_ms,
                                        cfg.node.anti_entropy_interval_ms / 1000)
        if cfg.node.anti_entropy_interval_ms > 0:
            self._tasks.append(asyncio.ensure_future(self.anti_entropy.run()))
        self.tombstone_gc = TombstoneGC(self.node_id, self.ranges, self.storage, self.clock_ms,
                                        self.metrics, cfg.cluster.gc_grace_ms,
                                        cfg.node.tombstone_gc_interval_ms / 1000)
        if cfg.node.tombstone_gc_interval_ms > 0:
            self._tasks.append(asyncio.ensure_future(self.tombstone_gc.run()))
        self.coordinator = Coordinator(self.node_id, self.ranges, self.storage, self.transport,
                                       self.hlc, self.clock_ms,
                                       cfg.node.request_timeout_ms / 1000, self.metrics,
                                       cfg.node.speculative_retry_ms / 1000,
                                       is_down=self.heartbeats.is_down, hints=self.hints,
                                       max_skew_ms=cfg.node.max_clock_skew_ms)
        if self.storage.durability is Durability.PERIODIC:
            self._tasks.append(asyncio.ensure_future(self.storage.run_periodic_sync()))
        # a FLUSHDB this node missed while down: learnt before it serves clients
        truncations = Truncations(self.storage, self.ranges, self.hlc, self.clock_ms,
                                  cfg.node.max_clock_skew_ms)
        await truncations.learn_from_peers(self.transport, list(peers))
        self._tasks.append(asyncio.ensure_future(truncations.resume_sweeps()))
        from ..api.http import start_http
        from ..api.kv import KV
        from ..api.resp import start_resp
        self.kv = KV(self)  # the key-value operations both client APIs share
        self._servers.append(await start_resp(self))
        self._servers.append(await start_http(self))
        log.info("node %s up: resp %s:%d http %s:%d peer %s:%d", self.node_id, self.me.host,
                 self.me.resp_port, self.me.host, self.me.http_port, self.me.host,
                 self.me.peer_port)
        compiled = accel.status()
        log.info("hot path: %d of %d modules compiled%s", len(compiled["compiled"]),
                 compiled["total"], f" (edited since the build, as Python: "
                 f"{', '.join(compiled['stale'])})" if compiled["stale"] else "")

    async def stop(self) -> None:
        for server in reversed(self._servers):
            await server.close()
        for task in self._tasks:
            task.cancel()
        if self.transport:
            await self.transport.close()
        if self.storage:
            self.storage.close()
        log.info("node %s stopped", self.node_id)

    # ---- cluster view ------------------------------------------------------------

    async def cluster_status(self) -> dict:
        """Every node as this node sees it, plus the range map (``/v1/cluster``)."""
        held: dict[str, int] = {n.id: 0 for n in self.config.cluster.nodes}
        for rng in self.ranges.all_ranges():
            for node in rng.replicas:
                held[node] += 1

        async def probe(node_id: str):
            if node_id == self.node_id:
                keys, size = self.storage.stats()
                return m.StatsReply(self.node_id, keys, size, self.hlc.last)
            try:
                return await asyncio.wait_for(self.transport.request(node_id, m.Stats()),
                                              STATUS_TIMEOUT_S)
            except Exception:
                return None

        def liveness(node_id: str) -> tuple[str, float]:
            if node_id == self.node_id:
                return Liveness.UP.value, 0.0
            state, phi = self.heartbeats.view(node_id)
            return state.value, round(min(phi, 1e9), 2)

        nodes = self.config.cluster.nodes
        replies = await asyncio.gather(*(probe(n.id) for n in nodes))
        views = {n.id: liveness(n.id) for n in nodes}
        return {
            "node_id": self.node_id,
            "nodes": [
                {
                    "id": n.id,
                    "address": n.host,
                    "resp_port": n.resp_port,
                    "http_port": n.http_port,
                    "peer_port": n.peer_port,
                    "state": views[n.id][0],  # the failure detector's view from here
                    "phi": views[n.id][1],
                    "hints_pending": self.hints.pending.get(n.id, 0),  # held here for it
                    "ranges": held[n.id],
                    "keys": reply.keys if reply else None,
                    "bytes": reply.bytes if reply else None,
                }
                for n, reply in zip(nodes, replies)
            ],
            "range_map": self.ranges.to_json(),
        }


def tune_gc() -> None:
    """Collect cyclic garbage less often: a request allocates many short-lived
    containers, and the default gen-0 threshold (700) runs a collection every few
    requests. Reference counting still frees nearly everything at once."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def build_range_map(config: Config) -> RangeMap:
    """The bootstrap map: keyspace ``default`` pre-split over the static node list."""
    node_ids = [n.id for n in config.cluster.nodes]
    ks = Keyspace("default", DEFAULT_KEYSPACE_ID,
                  replication_factor=min(config.cluster.replication_factor, len(node_ids)),
                  default_consistency=config.cluster.default_consistency.upper(),
                  hints_count=config.cluster.hints_count_toward_consistency == "on")
    ranges = RangeMap()
    ranges.add_keyspace(ks, bootstrap_ranges(ks, node_ids, config.cluster.ranges))
    return ranges
