"""One node's parts, built in one place.

:func:`assemble` builds every part of a node (replica, failure detector and
heartbeats, hinted handoff, anti-entropy, tombstone GC, coordinator, range
statistics, truncations) from its settings and the four things that differ
between a real process and a simulated one: the physical clock (``clock_ms``,
``monotonic_s``), the storage (the real :class:`~quorumkv.storage.Storage`; the
simulation's runs it over an in-memory plain engine), the peer transport
(``PeerTransport``; the simulation's runs the same framing over a simulated
network) and the metrics. The CLI's node (node/node.py) and every simulated node
(sim/cluster.py) call it, so the simulation tests the wiring that ships; nothing
else constructs these parts.

Starting is two steps, in this order, after the transport listens:
:meth:`Parts.start` starts the background loops, and :meth:`Parts.catch_up`
learns the FLUSHDBs this node missed while down (before it serves clients) and
then finishes interrupted truncation sweeps in the background.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field, fields

from ..config import NodeSection
from ..core.failure import FailureDetector
from ..storage import Durability
from .antientropy import AntiEntropy
from .coordinator import Coordinator
from .heartbeat import Heartbeats
from .hints import HintedHandoff
from .raft.groups import StrongReplicators, build_raft, run_ticks
from .raft.host import RaftHost
from .raft.meta import MetaStateMachine, build_meta, sync_cache
from .rangestats import RangeStats
from .replica import Replica
from .tombstones import TombstoneGC
from .truncation import Truncations

_BUILT_OVER = ("peers", "storage", "transport", "settings", "tasks")


@dataclass
class Parts:
    """Every part of one node. ``peers``, ``storage``, ``transport`` and
    ``settings`` are what they were built over; ``tasks``, the background loops
    once :meth:`start` ran."""

    replica: Replica
    heartbeats: Heartbeats
    hints: HintedHandoff
    anti_entropy: AntiEntropy
    tombstone_gc: TombstoneGC
    coordinator: Coordinator
    range_stats: RangeStats
    truncations: Truncations
    raft_host: RaftHost            # the Raft groups of this node's strong ranges
    strong_replicators: StrongReplicators  # strong keyspace name -> its replicator
    meta: object                   # node.raft.meta.MetaService (None: no metadata group)
    peers: list = field(repr=False)
    storage: object = field(repr=False)
    transport: object = field(repr=False)
    settings: NodeSection = field(repr=False)
    tasks: list = field(default_factory=list, repr=False)

    @classmethod
    def part_names(cls) -> tuple[str, ...]:
        """The names of the parts proper (not what they were built over)."""
        return tuple(f.name for f in fields(cls) if f.name not in _BUILT_OVER)

    def background(self) -> dict:
        """The background loops this node runs: name -> coroutine function. A loop
        whose interval is 0 is off."""
        s = self.settings
        loops = {"heartbeats": self.heartbeats.run, "hints": self.hints.run,
                 "range_stats": self.range_stats.run}
        if s.anti_entropy_interval_ms > 0:
            loops["anti_entropy"] = self.anti_entropy.run
        if s.tombstone_gc_interval_ms > 0:
            loops["tombstone_gc"] = self.tombstone_gc.run
        if self.storage.durability is Durability.PERIODIC:
            loops["periodic_sync"] = self.storage.run_periodic_sync
        if self.meta is not None:
            loops["meta"] = self.meta.run
        if self.raft_host.groups:
            # a quiet group whose leader's node is not alive (down, or removed
            # from the cluster: no longer pinged) is ticked, so it elects another
            host = self.raft_host
            loops["raft"] = host.run
            loops["raft_ticks"] = lambda: run_ticks(host, s.raft_tick_ms / 1000,
                                                    self.heartbeats.is_alive)
        return loops

    def start(self) -> list[asyncio.Task]:
        """Start the background loops (the transport already carries requests)."""
        self.tasks = [asyncio.ensure_future(run()) for run in self.background().values()]
        return self.tasks

    async def catch_up(self) -> None:
        """A FLUSHDB this node missed while down: learnt from its peers before it
        serves clients; the sweeps a crash interrupted then go on in the background."""
        await self.truncations.learn_from_peers(self.transport, self.peers)
        self.tasks.append(asyncio.ensure_future(self.truncations.resume_sweeps()))


def assemble(settings: NodeSection, node_id: str, peers: list[str], ranges, storage,
             transport, hlc, clock_ms, metrics, monotonic_s=time.monotonic,
             rng=None, bootstrap=None) -> Parts:
    """Build every part of node ``node_id`` and register its handlers on
    ``transport``. Call inside the running event loop (the heartbeats read it).
    ``rng`` draws Raft's election timeouts (default: seeded by the OS).
    ``bootstrap`` (core.meta.Bootstrap of the static node list) turns on the
    metadata group (node/raft/meta.py); without it the range map stays static."""
    s = settings
    skew = s.max_clock_skew_ms
    replica = Replica(node_id, ranges, storage, hlc, clock_ms, metrics, skew)
    detector = FailureDetector(s.heartbeat_interval_ms, s.phi_suspect, s.phi_down)
    # the start time tells this run from the last one (not drawn from rng: the
    # simulation's draws stay as they were)
    heartbeats = Heartbeats(list(peers), transport, detector, s.heartbeat_interval_ms / 1000,
                            incarnation=int(clock_ms()))
    heartbeats.answer_pings(node_id)
    is_down = heartbeats.is_down
    hints = HintedHandoff(storage, transport, is_down, metrics, s.max_hints_per_target,
                          s.hint_delivery_rate, monotonic_s, ranges=ranges)
    anti_entropy = AntiEntropy(node_id, ranges, storage, transport, is_down, hlc, clock_ms,
                               metrics, skew, s.anti_entropy_interval_ms / 1000,
                               depth=s.anti_entropy_depth, monotonic_s=monotonic_s)
    tombstone_gc = TombstoneGC(node_id, ranges, storage, clock_ms, metrics,
                               s.tombstone_gc_interval_ms / 1000)
    coordinator = Coordinator(node_id, ranges, storage, transport, hlc, clock_ms,
                              s.request_timeout_ms / 1000, metrics,
                              s.speculative_retry_ms / 1000, is_down=is_down, hints=hints,
                              max_skew_ms=skew)
    range_stats = RangeStats(node_id, ranges, storage, metrics.range_load, monotonic_s,
                             size_s=s.range_stats_interval_ms / 1000)
    truncations = Truncations(storage, ranges, hlc, clock_ms, skew)
    metrics.range_metrics.ranges = ranges
    replica.register(transport)
    range_stats.register(transport)
    rng = rng if rng is not None else random.Random()
    machine = None
    if bootstrap is not None:  # the keyspaces created or dropped since the bootstrap
        machine = MetaStateMachine(storage.engine)
        sync_cache(ranges, machine.state)
    raft_host, strong = build_raft(s, node_id, ranges, storage, transport, clock_ms,
                                   rng, monotonic_s, metrics.raft)
    heartbeats.on_back.append(raft_host.peer_back)
    meta = None
    if machine is not None:
        meta = build_meta(s, node_id, [n.node_id for n in bootstrap.nodes], ranges,
                          raft_host, strong, machine, transport, clock_ms, rng, bootstrap,
                          heartbeats)
    return Parts(replica, heartbeats, hints, anti_entropy, tombstone_gc, coordinator,
                 range_stats, truncations, raft_host, strong, meta, list(peers), storage,
                 transport, s)
