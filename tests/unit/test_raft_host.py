"""The multi-Raft host over real parts: three nodes, each with RocksDB storage and a
peer transport on loopback, serving a strong keyspace of two ranges.

What must hold: writes through any node are applied once and read back through
any other (reads after ReadIndex); INCRs sent concurrently through all three nodes
add up exactly; a node restarted from its data directory rejoins with its log and
applied state. Every wait is bounded and waits for a condition.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random

import pytest

from quorumkv.config import ClusterSection, Config, KeyspaceSettings, NodeSection, \
    local_cluster_nodes, validate
from quorumkv.core.raft.types import Role
from quorumkv.core.strong import commands as c
from quorumkv.core.strong.replies import Bulk, Ok
from quorumkv.node.node import build_range_map
from quorumkv.node.raft import host as host_module
from quorumkv.node.raft.groups import build_raft, run_ticks
from quorumkv.storage import Storage

from .test_transport import address, started, until

WAIT_S = 10.0
NODES = ("n1", "n2", "n3")


def config() -> Config:
    node = dataclasses.replace(NodeSection(id="n1"), raft_tick_ms=10, request_timeout_ms=5000)
    cfg = Config(node=node, cluster=ClusterSection(nodes=local_cluster_nodes(3)),
                 keyspaces=(KeyspaceSettings("default", ranges=2, replication_factor=3),
                            KeyspaceSettings("locks", mode="strong", ranges=2,
                                             replication_factor=3)))
    validate(cfg)
    return cfg


class Cluster:
    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path
        self.cfg = config()
        self.transports, self.storages, self.hosts, self.replicators = {}, {}, {}, {}
        self.tasks: dict[str, list] = {}

    async def start(self) -> None:
        for node_id in NODES:
            self.transports[node_id] = await started(node_id)
        for node_id in NODES:
            self.connect(node_id)
        for node_id in NODES:
            self.open(node_id)

    def connect(self, node_id: str) -> None:
        for other in NODES:
            if other != node_id:
                self.transports[node_id].add_peer(other, *address(self.transports[other]))

    def open(self, node_id: str, seed: int = 0) -> None:
        storage = Storage(str(self.tmp_path / node_id))
        ranges = build_range_map(self.cfg)
        host, replicators = build_raft(self.cfg.node, node_id, ranges, storage,
                                       self.transports[node_id], clock_ms=lambda: 1000,
                                       rng=random.Random(f"{node_id}/{seed}"),
                                       monotonic_s=lambda: 0.0)
        self.storages[node_id], self.hosts[node_id] = storage, host
        self.replicators[node_id] = replicators["locks"]
        loop = asyncio.get_running_loop()
        self.tasks[node_id] = [loop.create_task(host.run()),
                               loop.create_task(run_ticks(host, 0.01, self.running))]

    def running(self, node_id: str) -> bool:
        """Node liveness as the node heartbeats would tell it (without their delay)."""
        return node_id in self.tasks

    async def stop_node(self, node_id: str) -> None:
        """Stop the node, then wait until the others have a leader in every group:
        a write sent to a leader as it dies is indeterminate (it may have been
        proposed there) and is refused, not retried, so the scenarios write after."""
        await self._stop(node_id)
        others = [self.hosts[n] for n in self.tasks]
        await until(lambda: all(g.leader in self.tasks for h in others
                                for g in h.groups.values()),
                    f"leaders without {node_id}")

    async def _stop(self, node_id: str) -> None:
        for task in self.tasks.pop(node_id):
            task.cancel()
        await asyncio.sleep(0)  # the cancelled loops unwind before the engine closes
        self.storages.pop(node_id).close()
        await self.transports.pop(node_id).close()

    async def restart(self, node_id: str) -> None:
        """The node as a new process: new transport (new port), same data directory."""
        self.transports[node_id] = await started(node_id)
        for other in NODES:
            self.connect(other)  # the others learn its new address
        self.open(node_id, seed=1)

    async def close(self) -> None:
        for node_id in list(self.tasks):
            await self._stop(node_id)

    def leaders(self) -> set:
        return {(gid, g.leader) for h in self.hosts.values() for gid, g in h.groups.items()
                if g.role is Role.LEADER}


async def run(tmp_path, scenario) -> None:
    cluster = Cluster(tmp_path)
    try:
        await cluster.start()
        await until(lambda: len(cluster.leaders()) == 2, "a leader in each group")
        await asyncio.wait_for(scenario(cluster), WAIT_S)
    finally:
        await cluster.close()


def test_a_write_through_one_node_reads_back_through_the_others(tmp_path):
    async def scenario(cluster):
        r1, r2, r3 = (cluster.replicators[n] for n in NODES)
        assert isinstance(await r1.execute(c.Set(b"k", b"v1")), Ok)
        for r in (r2, r3):
            reply = await r.execute(c.Get(b"k"))
            assert isinstance(reply, Bulk) and reply.value == b"v1"
        assert (await r3.execute(c.Set(b"k", b"v2"))).version > reply.version
        assert (await r2.execute(c.Get(b"k"))).value == b"v2"

    asyncio.run(run(tmp_path, scenario))


def test_concurrent_increments_through_every_node_add_up(tmp_path):
    async def scenario(cluster):
        clients = [cluster.replicators[n] for n in NODES]
        replies = await asyncio.gather(*[clients[i % 3].execute(c.Incr(b"{n}x", 1))
                                         for i in range(90)])
        assert sorted(r.value for r in replies) == list(range(1, 91))  # each once
        total = await clients[1].execute(c.Get(b"{n}x"))
        assert total.value == b"90"

    asyncio.run(run(tmp_path, scenario))


def test_a_restarted_node_keeps_its_log_and_state(tmp_path):
    async def scenario(cluster):
        r1 = cluster.replicators["n1"]
        for i in range(20):
            await r1.execute(c.Set(b"key%d" % i, b"%d" % i))
        await cluster.stop_node("n3")
        await r1.execute(c.Set(b"late", b"1"))  # n1 and n2 still have a quorum
        await cluster.restart("n3")
        # a read on n3 waits for n3 to apply up to the read index: it catches up
        reply = await cluster.replicators["n3"].execute(c.Get(b"late"))
        assert isinstance(reply, Bulk) and reply.value == b"1"
        assert (await cluster.replicators["n3"].execute(c.Get(b"key7"))).value == b"7"

    asyncio.run(run(tmp_path, scenario))


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level("WARNING")


def test_a_node_behind_a_compaction_catches_up_from_a_snapshot(tmp_path, monkeypatch):
    monkeypatch.setattr(host_module, "COMPACT_AFTER", 20)
    monkeypatch.setattr(host_module, "KEEP_ENTRIES", 5)

    async def scenario(cluster):
        r1 = cluster.replicators["n1"]
        await r1.execute(c.Set(b"{a}early", b"e"))
        await cluster.stop_node("n3")
        for i in range(60):  # one range ({a}), compacted at least twice on n1 and n2
            await r1.execute(c.Set(b"{a}%d" % i, b"%d" % i))
        gid = r1.range_of([b"{a}x"]).range_id
        assert cluster.hosts["n1"].groups[gid].log.first_index() > 30
        await cluster.restart("n3")
        r3 = cluster.replicators["n3"]
        assert (await r3.execute(c.Get(b"{a}59"))).value == b"59"
        assert (await r3.execute(c.Get(b"{a}early"))).value == b"e"
        group = cluster.hosts["n3"].groups[gid]
        assert group.log.first_index() > 30  # it installed a snapshot, not the entries
        assert group.applied >= 61

    asyncio.run(run(tmp_path, scenario))


def test_a_node_outside_a_groups_conf_catches_up_once_added_as_a_learner(tmp_path):
    """How a joining node follows a group (the metadata group, node join): it opens
    the group with the members it was told, itself in none of them, never campaigns,
    and gets the log once the leader adds it as a learner."""
    from quorumkv.core.raft.types import ConfChange, ConfChangeSingle, ConfChangeType
    from quorumkv.node.raft.groups import _open
    from quorumkv.node.raft.meta import start_groups

    async def scenario(cluster):
        r1 = cluster.replicators["n1"]
        for i in range(10):
            await r1.execute(c.Set(b"{a}k%d" % i, b"%d" % i))
        n4 = await started("n4")
        cluster.transports["n4"] = n4
        for node_id in NODES:
            cluster.transports[node_id].add_peer("n4", *address(n4))
            n4.add_peer(node_id, *address(cluster.transports[node_id]))
        storage = Storage(str(cluster.tmp_path / "n4"))
        ranges = build_range_map(cluster.cfg)
        host, _ = build_raft(cluster.cfg.node, "n4", ranges, storage, n4,
                             clock_ms=lambda: 1000, rng=random.Random(4),
                             monotonic_s=lambda: 0.0)
        assert not host.groups  # n4 is a replica of no range
        d = cluster.replicators["n1"].range_of([b"{a}k0"])
        ks = ranges.keyspaces["locks"]
        fresh = _open(host, host.store, cluster.cfg.node, "n4", ks, d, random.Random(4))
        start_groups(host, host.store, cluster.cfg.node, "n4", fresh, random.Random(4))
        cluster.storages["n4"], cluster.hosts["n4"] = storage, host
        loop = asyncio.get_running_loop()
        cluster.tasks["n4"] = [loop.create_task(host.run()),
                               loop.create_task(run_ticks(host, 0.01, cluster.running))]
        group = host.groups[d.range_id]
        await asyncio.sleep(0.5)  # 50 ticks: more than an election timeout
        assert group.role is not Role.LEADER and group.node.raft.term == 0
        leader = next(h for h in cluster.hosts.values()
                      if d.range_id in h.groups and h.groups[d.range_id].role is Role.LEADER)
        leader.propose_conf_change(d.range_id, ConfChange(
            (ConfChangeSingle(ConfChangeType.ADD_LEARNER, "n4"),)))
        committed = leader.groups[d.range_id].node.raft.log.last_index()
        await until(lambda: group.applied >= committed, "n4 to apply the group's log")
        conf = group.node.raft.trk.conf_state()
        assert "n4" in conf.learners and "n4" not in conf.voters
        assert group.machine.read(c.Get(b"{a}k7"), 1000).value == b"7"

    asyncio.run(run(tmp_path, scenario))


def test_a_leader_hands_its_groups_over_before_a_clean_stop(tmp_path):
    """``RaftHost.hand_over`` (a node's clean stop): every group led here gets
    another leader, a live voter, before the node goes; a group with no live voter
    to take it stays, and the wait is bounded."""
    async def scenario(cluster):
        leader = next(n for n in NODES
                      if any(g.role is Role.LEADER for g in cluster.hosts[n].groups.values()))
        host = cluster.hosts[leader]
        led = sum(g.role is Role.LEADER for g in host.groups.values())
        others = [n for n in NODES if n != leader]
        assert await host.hand_over(cluster.running, 5.0) == (led, led)
        assert not any(g.role is Role.LEADER for g in host.groups.values())
        await until(lambda: {g.leader for h in cluster.hosts.values()
                             for g in h.groups.values()} <= set(others), "new leaders")
        # the next one has no one alive to hand over to: it keeps leading
        successor = cluster.hosts[others[0]]
        still = sum(g.role is Role.LEADER for g in successor.groups.values())
        answer = await successor.hand_over(lambda node_id: False, 0.2)
        assert answer == (0, still)
        assert sum(g.role is Role.LEADER for g in successor.groups.values()) == still

    asyncio.run(run(tmp_path, scenario))


def test_a_read_refused_for_want_of_a_leader_leaves_nothing_behind(tmp_path):
    """A ReadIndex on a group that knows no leader raises at once and keeps no
    future (one kept would later be failed with no one to hear it)."""
    from quorumkv.core.raft.raft import ProposalDropped
    from quorumkv.core.raft.types import NONE

    async def scenario(cluster):
        follower = next(h for h in cluster.hosts.values()
                        if all(g.role is not Role.LEADER for g in h.groups.values()))
        group = next(iter(follower.groups.values()))
        group.node.raft.lead = NONE  # as after a restart, before a leader spoke
        with pytest.raises(ProposalDropped):
            follower.read_index(group.group_id)
        assert group.reads == {}

    asyncio.run(run(tmp_path, scenario))
