"""The metadata group's parts on this node (node/raft/meta.py), without a network:
who votes, the state machine stored whole with its applied index (a restart
reloads it), a repeated Bootstrap is a refused result, and a node following a
created then dropped keyspace adds and removes its ranges, Raft groups and
replicator, and deletes its data and logs (and nothing of another keyspace's)."""

from __future__ import annotations

import random
from dataclasses import replace

import msgpack
import pytest

from quorumkv.config import NodeSection
from quorumkv.core import keys
from quorumkv.core.meta import (Bootstrap, CreateKeyspace, DropKeyspace, KeyspaceSpec,
                                MetaState, NodeInfo, encode, runtime_keyspace)
from quorumkv.core.placement import RangeCache
from quorumkv.node.raft.host import RaftHost
from quorumkv.node.raft.meta import (META_STATE_KEY, MetaFollower, MetaStateMachine,
                                     meta_voters, sync_cache)
from quorumkv.node.raft.strong import StrongReplicator
from quorumkv.sim.storage import MemEngine
from quorumkv.storage.raftlog import RaftLogStore

NODES = tuple(NodeInfo(f"n{i}", f"127.0.0.1:{9000 + i}") for i in (1, 2, 3))
BOOTSTRAP = Bootstrap(NODES, (KeyspaceSpec("default", ranges=4),))


@pytest.mark.parametrize("count, voters", [(1, 1), (2, 2), (3, 3), (4, 3), (5, 5), (9, 5)])
def test_the_first_three_or_five_node_ids_vote_and_the_others_learn(count, voters):
    ids = [f"n{i}" for i in range(count, 0, -1)]  # given in any order
    vote, learn = meta_voters(ids)
    assert vote == sorted(ids)[:voters]
    assert learn == sorted(ids)[voters:]


def machine_with(engine, *commands) -> MetaStateMachine:
    """Apply ``commands`` at indexes 1, 2, ... as the host does, storing each
    turn's applied record."""
    machine = MetaStateMachine(engine)
    for index, command in enumerate(commands, start=machine.applied_index() + 1):
        machine.apply(index, encode(command), machine.reader())
        engine.put(*machine.applied_record(index))
    return machine


def test_the_state_is_stored_with_its_applied_index_and_reloaded_after_a_restart():
    engine = MemEngine()
    machine = machine_with(engine, BOOTSTRAP, CreateKeyspace(KeyspaceSpec("locks", "strong",
                                                                          ranges=2)))
    again = MetaStateMachine(engine)  # a restart: nothing replayed
    assert again.applied_index() == 2
    assert again.state == machine.state
    assert [r.name for r in again.state.keyspaces()] == ["default", "locks"]
    assert msgpack.unpackb(engine.get(META_STATE_KEY))[0] == 2


def test_a_second_bootstrap_and_a_corrupt_entry_are_refused_results_that_change_nothing():
    machine = machine_with(MemEngine(), BOOTSTRAP)
    before = machine.state.to_plain()
    assert machine.apply(2, encode(BOOTSTRAP), None).reply == \
        [False, "the cluster metadata is already bootstrapped", None]
    ok, error, _ = machine.apply(3, b"\x92\x63\x00", None).reply
    assert not ok and "not a metadata command" in error
    assert machine.state.to_plain() | {"applied_index": 0} == before | {"applied_index": 0}


def test_a_snapshot_restores_the_same_state():
    source = machine_with(MemEngine(), BOOTSTRAP, CreateKeyspace(KeyspaceSpec("u", ranges=2)))
    target = MetaStateMachine(MemEngine())

    class Batch(dict):
        put = dict.__setitem__
    batch = Batch()
    target.restore(source.snapshot_data(), batch)
    assert target.state == source.state
    assert target.applied_index() == source.applied_index() == 2
    stored = msgpack.unpackb(batch[META_STATE_KEY], raw=False)[1]
    assert MetaState.from_plain(stored) == source.state


def test_a_dropped_keyspace_leaves_the_cache_of_the_others_whole():
    machine = machine_with(MemEngine(), BOOTSTRAP, CreateKeyspace(KeyspaceSpec("a", ranges=2)),
                           CreateKeyspace(KeyspaceSpec("b", ranges=3)))
    cache = machine.state.range_cache()
    version = cache.version
    removed = cache.remove_keyspace("a")
    assert [r.keyspace for r in removed] == ["a", "a"]
    assert list(cache.keyspaces) == ["default", "b"]
    assert all(cache.by_id(r.range_id) is None for r in removed)
    assert cache.version == version + 1
    assert set(cache.held_by("n1")) == {r.range_id for r in cache.all_ranges()}
    b = cache.ranges("b")
    assert cache.lookup("b", b[1].start) == b[1]


class NoNetwork:
    """The transport's interface, without a network; it keeps the peers it is given."""

    def __init__(self) -> None:
        self.links: dict = {}

    def peers(self) -> dict:
        return dict(self.links)

    def add_peer(self, peer_id, host, port) -> None:
        self.links[peer_id] = (host, port)

    def remove_peer(self, peer_id) -> None:
        self.links.pop(peer_id, None)

    def handle(self, cls, handler) -> None:
        pass

    def send_one_way(self, peer, message) -> None:
        pass


def test_following_a_create_then_a_drop_adds_then_deletes_groups_data_and_logs():
    engine = MemEngine()
    store = RaftLogStore(engine)
    host = RaftHost("n1", store, engine, NoNetwork(), lambda: 0.0)
    ranges = RangeCache()
    replicators: dict = {}
    settings = replace(NodeSection(), id="n1")
    follower = MetaFollower("n1", ranges, host, store, replicators, settings, NoNetwork(),
                            lambda: 0, random.Random(1))
    follower.machine = machine_with(engine, BOOTSTRAP)
    sync_cache(ranges, follower.machine.state)
    assert list(ranges.keyspaces) == ["default"]

    machine_with_more = machine_with(engine, CreateKeyspace(KeyspaceSpec("locks", "strong",
                                                                         ranges=2)))
    follower.machine = machine_with_more
    follower.refresh()
    locks = ranges.keyspaces["locks"]
    group_ids = [d.range_id for d in ranges.ranges("locks")]
    assert type(replicators["locks"]) is StrongReplicator
    assert sorted(host.groups) == group_ids and sorted(store.groups()) == group_ids
    assert all(host.groups[g].node is not None for g in group_ids)

    mine = keys.storage_key(locks.keyspace_id, b"k")
    theirs = keys.storage_key(ranges.keyspaces["default"].keyspace_id, b"k")
    engine.put(mine, b"v")
    engine.put(theirs, b"v")
    follower.machine = machine_with(engine, DropKeyspace("locks"))
    dropped = []
    follower.on_drop.append(dropped.append)
    follower.refresh()
    assert list(ranges.keyspaces) == ["default"] and dropped == ["locks"]
    assert "locks" not in replicators and host.groups == {} and store.groups() == []
    assert engine.get(mine) is None and engine.get(theirs) == b"v"
    assert list(engine.iter_span(*keys.raft_log_span(group_ids[0]))) == []


def test_at_start_the_cache_takes_what_was_created_and_dropped_since_the_bootstrap():
    machine = machine_with(MemEngine(), Bootstrap(NODES, (KeyspaceSpec("default", ranges=4),
                                                          KeyspaceSpec("old", ranges=2))),
                           CreateKeyspace(KeyspaceSpec("new", ranges=2)), DropKeyspace("old"))
    static = machine_with(MemEngine(), Bootstrap(NODES, (KeyspaceSpec("default", ranges=4),
                                                         KeyspaceSpec("old", ranges=2))))
    ranges = static.state.range_cache()  # what cluster.toml gives
    sync_cache(ranges, machine.state)
    assert list(ranges.keyspaces) == ["default", "new"]
    assert ranges.keyspaces["new"] == runtime_keyspace(machine.state.keyspace("new"))


def test_a_keyspace_cluster_toml_added_after_the_bootstrap_stays_served():
    # cluster.toml gained "later" (id 2, ranges 5-6) after the bootstrap; the
    # metadata never heard of it: it is not dropped, and nothing clashes with it
    machine = machine_with(MemEngine(), BOOTSTRAP)
    grown = machine_with(MemEngine(), Bootstrap(NODES, (KeyspaceSpec("default", ranges=4),
                                                        KeyspaceSpec("later", ranges=2))))
    ranges = grown.state.range_cache()
    sync_cache(ranges, machine.state)
    assert list(ranges.keyspaces) == ["default", "later"]
    # a keyspace created online gets id 2 too: it is not served over "later"
    machine = machine_with(MemEngine(), BOOTSTRAP, CreateKeyspace(KeyspaceSpec("x", ranges=2)))
    sync_cache(ranges, machine.state)
    assert list(ranges.keyspaces) == ["default", "later"]


def test_the_follower_talks_to_nodes_that_joined_and_stops_talking_to_nodes_that_left():
    from quorumkv.core.meta import AddNode, RemoveNode

    class Beats:
        def __init__(self) -> None:
            self.peers: list = []

        def add_peer(self, peer) -> None:
            self.peers.append(peer)

        def remove_peer(self, peer) -> None:
            self.peers.remove(peer)

    engine = MemEngine()
    store = RaftLogStore(engine)
    network, beats = NoNetwork(), Beats()
    network.links = {"n2": ("127.0.0.1", 9002), "n3": ("127.0.0.1", 9003)}  # cluster.toml
    host = RaftHost("n1", store, engine, network, lambda: 0.0)
    follower = MetaFollower("n1", RangeCache(), host, store, {}, replace(NodeSection(), id="n1"),
                            network, lambda: 0, random.Random(1), beats)
    n4 = NodeInfo("n4", "127.0.0.4:9004")
    follower.sync_peers(machine_with(engine, BOOTSTRAP, AddNode(n4)).state)
    assert network.links == {"n2": ("127.0.0.1", 9002), "n3": ("127.0.0.1", 9003),
                             "n4": ("127.0.0.4", 9004)}
    assert beats.peers == ["n4"]
    follower.sync_peers(machine_with(MemEngine(), BOOTSTRAP, AddNode(n4),
                                     RemoveNode("n4")).state)
    assert "n4" not in network.links and beats.peers == []
