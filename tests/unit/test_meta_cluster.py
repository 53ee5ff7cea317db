"""The metadata group over real parts: three nodes, each with RocksDB storage and a
peer transport on loopback, each running group 0 in its multi-Raft host.

What must hold: the first leader's bootstrap applies once on every node (the
others' proposals of it are refused); a strong keyspace created through a
follower (forwarded to the leader) gets a Raft group per range on every node and
serves writes through one node and reads through another; dropping it removes its
groups and replicators everywhere. Every wait is bounded and waits for a condition.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random

from quorumkv.config import ClusterSection, Config, KeyspaceSettings, NodeSection, \
    local_cluster_nodes, validate
from quorumkv.core.meta import CreateKeyspace, DropKeyspace, KeyspaceSpec, \
    bootstrap_from_config
from quorumkv.core.raft.types import Role
from quorumkv.core.strong import commands as c
from quorumkv.core.strong.replies import Bulk, Ok
from quorumkv.node.node import build_range_map
from quorumkv.node.raft.groups import build_raft, run_ticks
from quorumkv.node.raft.meta import META_GROUP, MetaStateMachine, build_meta
from quorumkv.storage import Storage

from .test_transport import address, started, until

WAIT_S = 10.0
NODES = ("n1", "n2", "n3")


def config() -> Config:
    node = dataclasses.replace(NodeSection(id="n1"), raft_tick_ms=10, request_timeout_ms=5000)
    cfg = Config(node=node, cluster=ClusterSection(nodes=local_cluster_nodes(3)),
                 keyspaces=(KeyspaceSettings("default", ranges=2, replication_factor=3),))
    validate(cfg)
    return cfg


class Cluster:
    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path
        self.cfg = config()
        self.transports, self.storages, self.hosts, self.metas = {}, {}, {}, {}
        self.ranges, self.replicators, self.tasks = {}, {}, {}

    async def start(self) -> None:
        for node_id in NODES:
            self.transports[node_id] = await started(node_id)
        for node_id in NODES:
            for other in NODES:
                if other != node_id:
                    self.transports[node_id].add_peer(other,
                                                      *address(self.transports[other]))
        for i, node_id in enumerate(NODES):
            self.open(node_id, i)

    def open(self, node_id: str, seed: int) -> None:
        storage = Storage(str(self.tmp_path / node_id))
        ranges = build_range_map(self.cfg)
        rng = random.Random(seed)
        host, replicators = build_raft(self.cfg.node, node_id, ranges, storage,
                                       self.transports[node_id], clock_ms=lambda: 1000,
                                       rng=rng, monotonic_s=lambda: 0.0)
        meta = build_meta(self.cfg.node, node_id, list(NODES), ranges, host, replicators,
                          MetaStateMachine(storage.engine), self.transports[node_id],
                          lambda: 1000, rng, bootstrap_from_config(self.cfg))
        self.storages[node_id], self.hosts[node_id], self.metas[node_id] = storage, host, meta
        self.ranges[node_id], self.replicators[node_id] = ranges, replicators
        loop = asyncio.get_running_loop()
        self.tasks[node_id] = [loop.create_task(host.run()),
                               loop.create_task(run_ticks(host, 0.01, lambda n: True)),
                               loop.create_task(meta.run_bootstrap())]

    async def close(self) -> None:
        for node_id in list(self.tasks):
            for task in self.tasks.pop(node_id):
                task.cancel()
            await asyncio.sleep(0)
            self.storages.pop(node_id).close()
            await self.transports.pop(node_id).close()

    def follower_of_meta(self) -> str:
        return next(n for n in NODES if self.hosts[n].groups[META_GROUP].role
                    is not Role.LEADER)


async def run(tmp_path, scenario) -> None:
    cluster = Cluster(tmp_path)
    try:
        await cluster.start()
        await until(lambda: all(m.state.bootstrapped for m in cluster.metas.values()),
                    "every node applied the bootstrap")
        await asyncio.wait_for(scenario(cluster), WAIT_S)
    finally:
        await cluster.close()


def test_a_strong_keyspace_created_through_a_follower_serves_on_every_node(tmp_path):
    async def scenario(cluster):
        # the bootstrap applied once: one version, the default keyspace as configured
        assert {m.state.version for m in cluster.metas.values()} == {1}
        assert [r.name for r in cluster.metas["n1"].state.keyspaces()] == ["default"]

        via = cluster.follower_of_meta()  # forwarded to the leader as a MetaRequest
        result = await cluster.metas[via].submit(CreateKeyspace(KeyspaceSpec(
            "locks", "strong", ranges=2, replication_factor=3)))
        assert result.ok and result.value == 2
        assert "locks" in cluster.ranges[via].keyspaces  # applied where it was asked
        await until(lambda: all("locks" in cluster.replicators[n] for n in NODES),
                    "every node follows the create")
        ids = [d.range_id for d in cluster.ranges["n1"].ranges("locks")]
        await until(lambda: all(cluster.hosts[n].groups[g].leader for n in NODES
                                for g in ids), "a leader in each new group")
        r1, r3 = cluster.replicators["n1"]["locks"], cluster.replicators["n3"]["locks"]
        assert isinstance(await r3.execute(c.Set(b"k", b"v1")), Ok)
        reply = await r1.execute(c.Get(b"k"))
        assert isinstance(reply, Bulk) and reply.value == b"v1"

        again = await cluster.metas["n1"].submit(CreateKeyspace(KeyspaceSpec("locks")))
        assert (again.ok, again.error) == (False, "keyspace 'locks' exists")

        dropped = await cluster.metas["n2"].submit(DropKeyspace("locks"))
        assert dropped.ok
        await until(lambda: all("locks" not in cluster.replicators[n]
                                and not set(ids) & set(cluster.hosts[n].groups)
                                and "locks" not in cluster.ranges[n].keyspaces
                                for n in NODES), "every node follows the drop")
        assert {m.state.version for m in cluster.metas.values()} == {3}

    asyncio.run(run(tmp_path, scenario))
