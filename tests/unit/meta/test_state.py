"""MetaState: each command's success, and each refusal with its message (a
refusal changes nothing but the applied index: helpers.Log.refused checks it)."""

from __future__ import annotations

import pytest

from quorumkv.core.meta import (AddNode, Bootstrap, CreateKeyspace, DropKeyspace, KeyspaceSpec,
                                MetaState, NodeInfo, RemoveNode, SetNodeState, UpdateDescriptor,
                                choose_replicas)
from quorumkv.core.placement import RangeDescriptor

from .helpers import Log, booted, bootstrap, node

LOCKS = KeyspaceSpec("locks", mode="strong", replication_factor=3, ranges=4)


# ---- apply: order, bootstrap --------------------------------------------------------

def test_nothing_applies_before_bootstrap_and_bootstrap_applies_once():
    log = Log()
    assert log.refused(CreateKeyspace(LOCKS)) == "the cluster metadata is not bootstrapped yet"
    log.ok(bootstrap())
    assert log.refused(bootstrap()) == "the cluster metadata is already bootstrapped"
    assert [n.state for n in log.state.nodes()] == ["up", "up", "up"]
    assert log.state.version == 1


def test_an_index_applied_before_changes_nothing():
    state = MetaState()
    assert state.apply(5, bootstrap()).ok
    before = state.to_plain()
    result = state.apply(5, CreateKeyspace(LOCKS))
    assert not result.ok and result.error == "entry 5 is already applied (applied index 5)"
    assert state.apply(3, CreateKeyspace(LOCKS)).ok is False
    assert state.to_plain() == before


@pytest.mark.parametrize("command, error", [
    (Bootstrap((), (KeyspaceSpec("default"),)), "bootstrap needs at least one node"),
    (Bootstrap((node("n1"), node("n1", 1)), (KeyspaceSpec("default"),)),
     "duplicate node ids in bootstrap"),
    (Bootstrap((node("n1"),), (KeyspaceSpec("users"),)),
     "bootstrap lists keyspace default first"),
    (Bootstrap((node("n1"),), (KeyspaceSpec("default"), KeyspaceSpec("default"))),
     "keyspace 'default' is listed twice"),
    (Bootstrap((node("n1"),), (KeyspaceSpec("default", db=0), KeyspaceSpec("u", db=0))),
     "db 0 is taken by two keyspaces"),
    (Bootstrap((node("n1"),), (KeyspaceSpec("default", ranges=0),)),
     "ranges = 0 is out of range"),
    (Bootstrap((NodeInfo("n1", "nowhere"),), (KeyspaceSpec("default"),)),
     "peer address 'nowhere' is not host:port"),
    (Bootstrap((NodeInfo("", "h:1"),), (KeyspaceSpec("default"),)), "node id '' must be"),
])
def test_a_bad_bootstrap_is_refused(command, error):
    assert error in Log().refused(command)


def test_bootstrap_gives_ids_in_order_and_caps_rf_at_the_node_count():
    log = booted(2, KeyspaceSpec("users", db=1, ranges=2))
    assert [(k.keyspace_id, k.name) for k in log.state.keyspaces()] == [(1, "default"),
                                                                         (2, "users")]
    assert log.state.keyspace("users").spec.replication_factor == 2  # asked 3, 2 nodes
    assert [d.range_id for d in log.state.descriptors()] == list(range(1, 7))


# ---- nodes --------------------------------------------------------------------------

def test_a_node_joins_comes_up_leaves_and_comes_back():
    log = booted()
    log.ok(AddNode(node("n4", dc="eu", rack="a")))
    assert log.state.node("n4").state == "joining"
    for state in ("up", "leaving", "up"):
        log.ok(SetNodeState("n4", state))
        assert log.state.node("n4").state == state


@pytest.mark.parametrize("commands, error", [
    ([AddNode(node("n1", 9999))], "node 'n1' exists (up)"),
    ([AddNode(node("n4", 9001))], "peer address 127.0.0.1:9001 is node n1's"),
    ([AddNode(NodeInfo("n 4", "h:1"))], "node id 'n 4' must be 1 to 255 bytes without spaces"),
    ([AddNode(NodeInfo("n4", "h:1", resp="h:0"))], "resp address 'h:0' is not host:port"),
    ([AddNode(NodeInfo("n4", "h:1", dc="x" * 65))], "dc has more than 64 bytes"),
    ([AddNode(node("n4")), SetNodeState("n4", "leaving")],
     "node n4 is joining: it can go to up, not 'leaving'"),
    ([SetNodeState("n1", "joining")], "node n1 is up: it can go to leaving, not 'joining'"),
    ([SetNodeState("n1", "asleep")], "not 'asleep'"),
    ([SetNodeState("n9", "up")], "no node 'n9'"),
    ([SetNodeState("n1", "left")], "a node leaves by RemoveNode (quorumkv node remove n1)"),
    ([RemoveNode("n9")], "no node 'n9'"),
    ([RemoveNode("n3"), RemoveNode("n3")], "node n3 has already left"),
    ([RemoveNode("n3"), AddNode(node("n3", 9500))],
     "node 'n3' has left the cluster; a node id is never reused"),
])
def test_node_refusals(commands, error):
    log = booted()
    for command in commands[:-1]:
        log.ok(command)
    assert error in log.refused(commands[-1])


def test_remove_node_refuses_to_leave_a_strong_range_without_a_quorum():
    log = booted(3, LOCKS, ranges=2)
    log.ok(RemoveNode("n3"))  # 2 of 3 voters stay: still a quorum
    error = log.refused(RemoveNode("n2"))
    assert error.startswith("removing n2 would leave strong ranges without a quorum of "
                            "their voters: 3 (1 of 3 voters left, 2 needed), 4 (1 of 3")
    assert "and 0 more" not in error
    # the strong ranges keep the left node as a voter: only their Raft group changes that
    assert all("n3" in d.replicas for d in log.state.descriptors("locks"))


def test_remove_node_drops_the_node_from_eventual_ranges_and_bumps_their_generation():
    log = booted(3, ranges=2)
    log.ok(RemoveNode("n2"))
    ranges = log.state.descriptors("default")
    assert [d.replicas for d in ranges] == [("n1", "n3"), ("n3", "n1")]
    assert [d.generation for d in ranges] == [2, 2]
    described = log.state.describe("default")
    assert "under-replicated (fewer replicas than 3): ranges 1, 2" in described["notes"]


def test_remove_node_refuses_to_leave_an_eventual_range_with_no_replica():
    log = booted(2, KeyspaceSpec("solo", replication_factor=1, ranges=2))
    assert log.refused(RemoveNode("n1")) == (
        "removing n1 would leave eventual ranges with no replica (it holds their only "
        "copy): 5")


def test_a_refusal_lists_at_most_ten_ranges():
    log = booted(1, KeyspaceSpec("big", mode="strong", ranges=12, replication_factor=1),
                 ranges=1)
    assert log.refused(RemoveNode("n1")) == (
        "removing n1 would leave strong ranges without a quorum of their voters: "
        + ", ".join(f"{i} (0 of 1 voters left, 1 needed)" for i in range(2, 12))
        + " and 2 more")


# ---- keyspaces ----------------------------------------------------------------------

def test_create_keyspace_places_its_ranges_and_describe_shows_them():
    log = booted(3)
    assert log.ok(CreateKeyspace(LOCKS)) == 2
    described = log.state.describe("locks")
    assert described["id"] == 2 and described["mode"] == "strong"
    assert [r["range_id"] for r in described["ranges"]] == [5, 6, 7, 8]
    assert all(sorted(r["replicas"]) == ["n1", "n2", "n3"] for r in described["ranges"])
    assert all(r["generation"] == 1 for r in described["ranges"])
    assert described["notes"] == ["replication_factor 3: each range tolerates 1 failed "
                                  "replica (a Raft majority must stay up)"]


def test_a_strong_keyspace_with_one_replica_says_it_tolerates_no_failure():
    log = booted(3)
    log.ok(CreateKeyspace(KeyspaceSpec("solo", mode="strong", replication_factor=1)))
    assert log.state.describe("solo")["notes"][0].startswith(
        "replication_factor 1: each range tolerates no failed replica")


@pytest.mark.parametrize("spec, error", [
    (KeyspaceSpec("default"), "keyspace 'default' exists"),
    (KeyspaceSpec("other", db=0), "db 0 is keyspace 'default''s"),
    (KeyspaceSpec("wide", replication_factor=4),
     "replication_factor 4 needs as many up nodes; 3 up: n1, n2, n3"),
    (KeyspaceSpec("bad", ranges=0), "ranges = 0 is out of range [1, 4096]"),
    (KeyspaceSpec("bad", partitioner="range", split_points=("b", "a"), ranges=3),
     "split_points must be strictly increasing"),
])
def test_create_keyspace_refusals(spec, error):
    assert error in booted(3).refused(CreateKeyspace(spec))


def test_only_up_nodes_count_for_rf_and_placement():
    log = booted(3)
    log.ok(SetNodeState("n3", "leaving"))
    log.ok(AddNode(node("n4")))  # joining
    assert "2 up: n1, n2" in log.refused(CreateKeyspace(KeyspaceSpec("k")))
    log.ok(CreateKeyspace(KeyspaceSpec("k", replication_factor=2)))
    assert {n for d in log.state.descriptors("k") for n in d.replicas} == {"n1", "n2"}


def test_drop_keyspace_removes_it_and_its_ranges_and_ids_are_never_reused():
    log = booted(3)
    assert log.ok(CreateKeyspace(LOCKS)) == 2
    assert log.ok(DropKeyspace("locks")) == 2
    assert log.state.keyspace("locks") is None and log.state.descriptors("locks") == []
    assert log.ok(CreateKeyspace(LOCKS)) == 3, "a new id, not the dropped one"
    assert [d.range_id for d in log.state.descriptors("locks")] == [9, 10, 11, 12]
    assert log.refused(DropKeyspace("default")) == "keyspace default always exists"
    assert log.refused(DropKeyspace("nope")) == "no keyspace 'nope'"


def test_a_dropped_keyspaces_db_is_free_again():
    log = booted(3)
    log.ok(CreateKeyspace(KeyspaceSpec("a", db=4)))
    log.ok(DropKeyspace("a"))
    log.ok(CreateKeyspace(KeyspaceSpec("b", db=4)))


def test_at_most_64_keyspaces():
    log = booted(1, ranges=1)
    for i in range(63):
        log.ok(CreateKeyspace(KeyspaceSpec(f"k{i}", ranges=1, replication_factor=1)))
    assert log.refused(CreateKeyspace(KeyspaceSpec("one-more", ranges=1, replication_factor=1))) \
        == "the cluster has 64 keyspaces, the most it may have"


# ---- placement ----------------------------------------------------------------------

def test_placement_takes_the_least_loaded_nodes_then_the_smallest_id():
    log = booted(3, ranges=2)  # n1..n3 each hold 2 ranges; n4, n5 none
    log.ok(AddNode(node("n4")))
    log.ok(SetNodeState("n4", "up"))
    log.ok(AddNode(node("n5")))
    log.ok(SetNodeState("n5", "up"))
    log.ok(CreateKeyspace(KeyspaceSpec("k", ranges=3, replication_factor=2)))
    assert [d.replicas for d in log.state.descriptors("k")] == [
        ("n4", "n5"), ("n4", "n5"), ("n1", "n2")]


def test_placement_spreads_over_datacenters_then_racks():
    nodes = [NodeInfo("a1", "h:1", dc="a", rack="r1"), NodeInfo("a2", "h:2", dc="a", rack="r1"),
             NodeInfo("a3", "h:3", dc="a", rack="r2"), NodeInfo("b1", "h:4", dc="b", rack="r1")]
    assert choose_replicas(nodes, {}, 2) == ("a1", "b1")
    assert choose_replicas(nodes, {}, 3) == ("a1", "b1", "a3"), "a's other rack before a2"
    assert choose_replicas(nodes, {"a1": 5}, 2) == ("a2", "b1")


def test_placement_is_deterministic_and_on_distinct_nodes():
    nodes = [NodeInfo(f"n{i}", f"h:{i}", rack=f"r{i % 2}") for i in range(7)]
    picks = [choose_replicas(nodes, {"n3": 2}, rf) for rf in range(1, 8)]
    assert picks == [choose_replicas(nodes, {"n3": 2}, rf) for rf in range(1, 8)]
    assert all(len(set(p)) == len(p) == rf for rf, p in enumerate(picks, start=1))


# ---- descriptors --------------------------------------------------------------------

def test_update_descriptor_is_a_compare_and_set_on_the_generation():
    log = booted(3, ranges=2)
    old = log.state.descriptors()[0]
    new = RangeDescriptor.of(old.range_id, "default", old.start, old.end, ("n1", "n2"),
                             learners=("n3",))
    stored = log.ok(UpdateDescriptor(1, new))
    assert (stored.generation, stored.replicas, stored.learners) == (2, ("n1", "n2"), ("n3",))
    assert log.state.descriptors()[0] == stored
    assert log.refused(UpdateDescriptor(1, new)) == (
        f"range {old.range_id} is at generation 2, not 1: read it again and retry")


@pytest.mark.parametrize("change, error", [
    (lambda d: RangeDescriptor.of(99, d.keyspace, d.start, d.end, ("n1",)), "no range 99"),
    (lambda d: RangeDescriptor.of(d.range_id, d.keyspace, d.start, b"\x01", ("n1",)),
     "an update keeps its keyspace and span"),
    (lambda d: RangeDescriptor.of(d.range_id, d.keyspace, d.start, d.end, (), learners=("n1",)),
     "a range needs at least one voter"),
    (lambda d: RangeDescriptor.of(d.range_id, d.keyspace, d.start, d.end, ("n1", "n7")),
     "node 'n7' is not in the cluster"),
])
def test_update_descriptor_refusals(change, error):
    log = booted(3, ranges=2)
    assert error in log.refused(UpdateDescriptor(1, change(log.state.descriptors()[0])))


def test_update_descriptor_refuses_a_left_node():
    log = booted(3, ranges=2)
    log.ok(RemoveNode("n3"))
    d = log.state.descriptors()[0]
    assert "node 'n3' is left" in log.refused(UpdateDescriptor(
        d.generation, RangeDescriptor.of(d.range_id, "default", d.start, d.end, ("n1", "n3"))))


def test_a_command_of_another_type_is_refused():
    log = booted(1)
    assert log.refused("DROP EVERYTHING") == "not a metadata command: str"
