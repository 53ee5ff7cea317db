"""One QuorumKV node process: storage, peers, coordinator and client APIs.

``Node.start()`` checks that the data directory belongs to this cluster and layout
(node/identity.py; it raises ConfigError if not), opens storage and every listener;
``Node.stop()`` closes them in reverse order and syncs storage, so Ctrl-C or SIGTERM
never loses an acknowledged write.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import time

from .. import accel
from ..config import LEGACY_KEYSPACE_KEYS, Config, KeyspaceSettings
from ..core import messages as m
from ..core.consistency import Level
from ..core.failure import Liveness
from ..core.hlc import HLC
from ..core.identity import Identity, peer_refusal
from ..core.load import order_rows
from ..core.meta import bootstrap_from_config
from ..core.meta.commands import LEFT
from ..core.placement import Keyspace, RangeCache, bootstrap_ranges
from ..errors import UnknownKeyspaceError
from ..net import PeerTransport
from ..storage import Durability, Storage
from .antientropy import AntiEntropy
from .assembly import Parts, assemble
from .clock import wall_clock_ms
from .coordinator import Coordinator
from .heartbeat import Heartbeats
from . import identity
from .hints import HintedHandoff
from .join import JoinService, address_of
from .metrics import Metrics
from .rangestats import RangeStats
from .raft.status import RaftStatus

log = logging.getLogger(__name__)
STATUS_TIMEOUT_S = 0.5
# in the data directory while the node runs: still there at start means the last
# run did not stop cleanly (crash, SIGKILL, power loss)
RUNNING_MARKER = "qkv-running"
SECRET_WORDS = ("password", "secret", "token")  # settings never written to the log


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
        self.default_level = Level.parse(config.default_keyspace.default_consistency)
        self.identity: Identity | None = None
        self.storage: Storage | None = None
        self.transport: PeerTransport | None = None
        self.coordinator: Coordinator | None = None
        self.heartbeats: Heartbeats | None = None
        self.hints: HintedHandoff | None = None
        self.anti_entropy: AntiEntropy | None = None
        self.range_stats: RangeStats | None = None
        self.parts: Parts | None = None  # every part, built by node/assembly.py
        self.kv = None
        self._servers: list = []
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        cfg = self.config
        tune_gc()
        log.info("node %s configuration:\n%s", self.node_id, describe_config(cfg))
        if cfg.deprecated:
            log.warning("%s", deprecation_notice(cfg))
        self.identity = identity.establish(cfg)  # before the database is created
        previous = previous_run(cfg.data_dir)  # before RocksDB creates its files
        self.storage = Storage(cfg.data_dir, Durability(cfg.node.fsync),
                               cfg.node.periodic_sync_ms,
                               row_cache_bytes=cfg.node.row_cache_bytes)
        log_storage_opened(self.storage, previous)
        peers = {n.id: (n.host, n.peer_port) for n in (*cfg.cluster.nodes, *cfg.joined_members)
                 if n.id != self.node_id}
        self.transport = PeerTransport(self.me.host, self.me.peer_port, peers,
                                       hello=self.hello(), check_hello=self.check_hello)
        self.parts = assemble(cfg.node, self.node_id, list(peers), self.ranges, self.storage,
                              self.transport, self.hlc, self.clock_ms, self.metrics,
                              bootstrap=bootstrap_from_config(cfg))
        for name in Parts.part_names():  # node.coordinator, node.hints, ... as before
            setattr(self, name, getattr(self.parts, name))
        meta = self.parts.meta
        meta.follower.sync_peers(meta.state)  # nodes that joined (or left) before
        self.transport.on_join = JoinService(cfg, meta).answer
        await self.transport.start()
        self._tasks = self.parts.start()
        await self.parts.catch_up()  # before it serves clients
        from ..api.http import start_http
        from ..api.kv import KV
        from ..api.resp import start_resp
        self.kv = KV(self)  # the key-value operations both client APIs share
        self.parts.meta.follower.on_drop.append(self._forget_keyspace)
        self._servers.append(await start_resp(self))
        self._servers.append(await start_http(self))
        log.info("node %s up: resp %s:%d http %s:%d peer %s:%d", self.node_id, self.me.host,
                 self.me.resp_port, self.me.host, self.me.http_port, self.me.host,
                 self.me.peer_port)
        compiled = accel.status()
        hint = accel.build_hint(compiled)
        log.info("hot path: %d of %d modules compiled%s%s", len(compiled["compiled"]),
                 compiled["total"], f" (edited since the build, as Python: "
                 f"{', '.join(compiled['stale'])})" if compiled["stale"] else "",
                 f"; {hint}" if hint else "")

    def _forget_keyspace(self, name: str) -> None:
        """A dropped keyspace: what the client APIs cached of it goes too."""
        self.kv.served.pop(name, None)
        self.kv.levels.pop(name, None)

    def hello(self) -> m.Hello:
        """What this node's peer connections open with (net/transport.py)."""
        ident = self.identity
        return m.Hello(self.node_id, ident.cluster_id, ident.layout.fingerprint,
                       ident.layout.canonical())

    def check_hello(self, hello) -> str:
        """Why a peer's Hello or HelloReply is refused ("" accepts it): the
        layout's nodes, and the ones that joined since, are accepted, unless the
        metadata says they left."""
        joined = {n.id for n in self.config.joined_members}
        left = set()
        if self.parts is not None and self.parts.meta is not None:
            for node in self.parts.meta.state.nodes():
                (left if node.state == LEFT else joined).add(node.node_id)
        return peer_refusal(self.identity, hello.node_id, hello.cluster_id,
                            hello.layout_fingerprint, hello.layout, joined, left)

    async def stop(self) -> None:
        for server in reversed(self._servers):
            await server.close()
        if self.parts is not None and self._tasks:
            await self._hand_over_leadership()
        for task in self._tasks:
            task.cancel()
        if self.transport:
            await self.transport.close()
        if self.storage:
            self.storage.close()
            mark_running(self.config.data_dir, False)
        log.info("node %s stopped", self.node_id)

    async def _hand_over_leadership(self) -> None:
        """The Raft groups led here get a new leader before the node goes (the
        peer transport still runs; clients are already refused), bounded by an
        election timeout: what the others would wait anyway."""
        node = self.config.node
        started = time.monotonic()
        handed, led = await self.parts.raft_host.hand_over(
            self.parts.heartbeats.is_alive, node.raft_election_ticks * node.raft_tick_ms / 1000)
        if led:
            log.info("handed over the leadership of %d of %d Raft groups in %.0f ms",
                     handed, led, (time.monotonic() - started) * 1000)

    # ---- cluster view ------------------------------------------------------------

    async def cluster_status(self) -> dict:
        """Every node as this node sees it, every keyspace (mode, partitioner, rf,
        range count, db) and the range map (``/v1/cluster``)."""
        members = self.members()
        held: dict[str, int] = {n.id: 0 for n, _ in members}
        for rng in self.ranges.all_ranges():
            for node in rng.replicas:
                held[node] = held.get(node, 0) + 1

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

        nodes = [n for n, _ in members]
        membership = dict((n.id, state) for n, state in members)
        replies, (strong, unanswered) = await asyncio.gather(
            asyncio.gather(*(probe(n.id) for n in nodes if membership[n.id] != LEFT)),
            self.strong_ranges())
        replies = iter(replies)
        replies = [None if membership[n.id] == LEFT else next(replies) for n in nodes]
        views = {n.id: liveness(n.id) if membership[n.id] != LEFT else ("left", 0.0)
                 for n in nodes}
        return {
            "node_id": self.node_id,
            "nodes": [
                {
                    "id": n.id,
                    "address": n.host,
                    "resp_port": n.resp_port,
                    "http_port": n.http_port,
                    "peer_port": n.peer_port,
                    "membership": membership[n.id],  # joining, up, leaving, left
                    "state": views[n.id][0],  # the failure detector's view from here
                    "phi": views[n.id][1],
                    "hints_pending": self.hints.pending.get(n.id, 0),  # held here for it
                    "ranges": held[n.id],
                    "keys": reply.keys if reply else None,
                    "bytes": reply.bytes if reply else None,
                }
                for n, reply in zip(nodes, replies)
            ],
            "keyspaces": [ks.to_json() | {"ranges": len(self.ranges.ranges(ks.name))}
                          for ks in self.ranges.keyspaces.values()],
            "range_map": self.ranges.to_json(),
            "strong_ranges": strong,  # core/raftstatus.py's rows
            "strong_unanswered": unanswered,
        }

    def members(self) -> list[tuple]:
        """``(NodeAddress, membership state)`` of every node of the cluster
        metadata, by id (the bootstrap list, all up, until it is bootstrapped)."""
        meta = self.parts.meta if self.parts is not None else None
        if meta is None or not meta.state.bootstrapped:
            return [(n, "up") for n in self.config.cluster.nodes]
        return [(address_of(n.info), n.state)
                for n in sorted(meta.state.nodes(), key=lambda n: n.node_id)]

    def resp_address(self, node_id: str) -> str | None:
        """``host:port`` of node ``node_id``'s RESP listener (a MOVED redirect's
        target), from the metadata, or the bootstrap list before it is applied."""
        meta = self.parts.meta if self.parts is not None else None
        record = meta.state.node(node_id) if meta is not None else None
        if record is not None:
            return record.info.resp
        for n in self.config.cluster.nodes:
            if n.id == node_id:
                return f"{n.host}:{n.resp_port}"
        return None

    async def strong_ranges(self) -> tuple[list[dict], list[str]]:
        """The Raft groups of every strong range, merged from every node that holds
        one and answers; and those that did not (none asked without strong keyspaces)."""
        if not any(ks.mode == "strong" for ks in self.ranges.keyspaces.values()):
            return [], []
        status = RaftStatus(self.node_id, self.raft_host, self.ranges)
        holders = {node for ks in self.ranges.keyspaces.values() if ks.mode == "strong"
                   for rng in self.ranges.ranges(ks.name) for node in rng.replicas}
        peers = sorted(holders - {self.node_id})
        return await status.cluster_rows(self.transport, peers, STATUS_TIMEOUT_S)


    async def range_view(self, keyspace: str | None = None, sort: str = "load") -> dict:
        """Every range with its bounds, replicas, size and load, merged from every
        node that answers (``GET /v1/ranges``, ``quorumkv ranges``)."""
        if keyspace is not None and keyspace not in self.ranges.keyspaces:
            raise UnknownKeyspaceError(f"unknown keyspace '{keyspace}'")
        peers = sorted(self.transport.peers())
        rows, missing = await self.range_stats.cluster_rows(self.transport, peers)
        if keyspace is not None:
            rows = [row for row in rows if row["keyspace"] == keyspace]
        return {
            "node_id": self.node_id,
            "window_s": self.metrics.range_load.window_s,
            "size_interval_s": self.range_stats.size_s,
            "sort": sort,
            "keyspaces": [ks.to_json() for ks in self.ranges.keyspaces.values()
                          if keyspace is None or ks.name == keyspace],
            "ranges": order_rows(rows, sort),
            "unanswered": missing,
        }


def tune_gc() -> None:
    """Collect cyclic garbage less often: a request allocates many short-lived
    containers, and the default gen-0 threshold (700) runs a collection every few
    requests. Reference counting still frees nearly everything at once."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def build_range_map(config: Config) -> RangeCache:
    """The bootstrap map: every keyspace pre-split over the static node list, range
    ids unique across keyspaces (default's first, as before there were others)."""
    node_ids = [n.id for n in config.cluster.nodes]
    ranges = RangeCache()
    next_id = 1
    for settings in config.keyspaces:
        ks = runtime_keyspace(settings, len(node_ids))
        descriptors = bootstrap_ranges(ks, node_ids, settings.ranges, next_id,
                                       settings.split_points)
        ranges.add_keyspace(ks, descriptors)
        next_id += len(descriptors)
    return ranges


def runtime_keyspace(settings: KeyspaceSettings, node_count: int) -> Keyspace:
    return Keyspace(settings.name, settings.keyspace_id, mode=settings.mode,
                    partitioner=settings.partitioner,
                    replication_factor=min(settings.replication_factor, node_count),
                    default_consistency=settings.default_consistency.upper(),
                    hints_count=settings.hints_count_toward_consistency == "on",
                    db=settings.db, gc_grace_ms=settings.gc_grace_ms)


def describe_config(config: Config) -> str:
    """The effective configuration, one setting a line, for the start-up log
    (settings named like secrets are masked)."""
    def shown(section: str, obj, skip=()) -> list[str]:
        return [f"  {section}.{f.name} = "
                f"{'***' if any(w in f.name for w in SECRET_WORDS) else getattr(obj, f.name)!r}"
                for f in dataclasses.fields(obj) if f.name not in skip]
    lines = shown("node", config.node) + [f"  (data directory {config.data_dir})"]
    # the old keyspace keys of [cluster] only mirror keyspace default: shown there
    lines += shown("cluster", config.cluster, ("nodes",) + LEGACY_KEYSPACE_KEYS)
    lines += [f"  cluster.nodes: {n.id} {n.host} resp {n.resp_port} http {n.http_port} "
              f"peer {n.peer_port}" for n in config.cluster.nodes]
    for ks in config.keyspaces:
        placement = (f"{ks.ranges} ranges" if ks.partitioner == "hash"
                     else f"split points {list(ks.split_points)}")
        lines.append(f"  keyspace {ks.name} (id {ks.keyspace_id}, db {ks.db}): {ks.mode}, "
                     f"{ks.partitioner}, {placement}, replication factor "
                     f"{ks.replication_factor}, default consistency {ks.default_consistency}, "
                     f"gc grace {ks.gc_grace_ms} ms, hints count "
                     f"{ks.hints_count_toward_consistency}")
    return "\n".join(lines)


def deprecation_notice(config: Config) -> str:
    """The one warning at start for the old [cluster] keys of keyspace default."""
    keys = ", ".join(config.deprecated)
    return (f"deprecated settings: {keys} (the [cluster] keys of keyspace default) "
            f"work for this release only; declare [[keyspaces]] name = \"default\" "
            f"with these settings instead")


def previous_run(data_dir: str) -> str:
    """"new", "clean" or "unclean": how the data directory was left."""
    if not os.path.exists(os.path.join(data_dir, "CURRENT")):  # RocksDB's own file
        return "new"
    return "unclean" if os.path.exists(os.path.join(data_dir, RUNNING_MARKER)) else "clean"


def mark_running(data_dir: str, running: bool) -> None:
    path = os.path.join(data_dir, RUNNING_MARKER)
    try:
        if running:
            with open(path, "w") as f:
                f.write(f"{os.getpid()}\n")
        elif os.path.exists(path):
            os.remove(path)
    except OSError as exc:  # only the next start's log line depends on it
        log.warning("cannot %s %s: %s", "write" if running else "remove", path, exc)


def log_storage_opened(storage: Storage, previous: str) -> None:
    if previous == "new":
        log.info("storage: new data directory %s", storage.path)
    elif previous == "clean":
        log.info("storage: reopened %s (the last run stopped cleanly); watermark ts %d",
                 storage.path, storage.watermark)
    else:
        log.warning("storage: reopened %s after an unclean stop (crash, kill or power "
                    "loss): RocksDB replayed its write-ahead log (what fsync = %s made "
                    "durable is kept); watermark ts %d; hints and anti-entropy bring "
                    "what this node missed", storage.path, storage.durability.value,
                    storage.watermark)
    mark_running(storage.path, True)
