"""Hypothesis: random command sequences. Two MetaStates fed the same commands end
equal (apply is deterministic), a snapshot taken at any point goes on equal, and
the invariants hold after every command."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quorumkv.core.meta import (AddNode, CreateKeyspace, DropKeyspace, KeyspaceSpec, MetaState,
                                RemoveNode, SetNodeState, UpdateDescriptor, decode, encode)
from quorumkv.core.placement import RangeDescriptor
from quorumkv.core.placement.rangecache import check_tiling

from .helpers import bootstrap, node

NODES = [f"n{i}" for i in range(1, 7)]
NAMES = ["default", "k1", "k2", "k3"]


def specs():
    hashed = st.builds(lambda name, mode, rf, ranges, db: KeyspaceSpec(
        name, mode=mode, replication_factor=rf, ranges=ranges, db=db),
        st.sampled_from(NAMES), st.sampled_from(["eventual", "strong"]),
        st.integers(1, 4), st.integers(1, 4), st.none() | st.integers(0, 3))
    ranged = st.builds(lambda name, mode, rf, points: KeyspaceSpec(
        name, mode=mode, partitioner="range", replication_factor=rf,
        ranges=len(points) + 1, split_points=tuple(points)),
        st.sampled_from(NAMES), st.sampled_from(["eventual", "strong"]),
        st.integers(1, 4), st.lists(st.sampled_from("bdfhk"), unique=True).map(sorted))
    return hashed | ranged


def descriptor_update(draw, state: MetaState):
    ranges = state.descriptors()
    if not ranges:
        return DropKeyspace("nope")
    d = draw(st.sampled_from(ranges))
    voters = draw(st.lists(st.sampled_from(NODES), min_size=0, max_size=3, unique=True))
    expected = draw(st.sampled_from([d.generation, d.generation - 1, d.generation + 1]))
    return UpdateDescriptor(expected, RangeDescriptor.of(d.range_id, d.keyspace, d.start,
                                                         d.end, voters))


def command(draw, state: MetaState):
    kind = draw(st.sampled_from(["add", "state", "remove", "create", "drop", "update"]))
    node_id = draw(st.sampled_from(NODES))
    if kind == "add":
        return AddNode(node(node_id, dc=draw(st.sampled_from(["", "a", "b"])),
                            rack=draw(st.sampled_from(["", "r1", "r2"]))))
    if kind == "state":
        return SetNodeState(node_id, draw(st.sampled_from(["joining", "up", "leaving", "left"])))
    if kind == "remove":
        return RemoveNode(node_id)
    if kind == "create":
        return CreateKeyspace(draw(specs()))
    if kind == "drop":
        return DropKeyspace(draw(st.sampled_from(NAMES)))
    return descriptor_update(draw, state)


def check_invariants(state: MetaState, before: dict) -> None:
    nodes = {n.node_id: n for n in state.nodes()}
    records = state.keyspaces()
    assert len({r.name for r in records}) == len({r.keyspace_id for r in records}) == len(records)
    dbs = [r.spec.db for r in records if r.spec.db is not None]
    assert len(set(dbs)) == len(dbs), "two keyspaces share a db"
    assert all(r.keyspace_id < state.next_keyspace_id for r in records)
    for r in records:
        ranges = sorted(state.descriptors(r.name), key=lambda d: d.start)
        check_tiling(ranges)
        for d in ranges:
            assert d.range_id < state.next_range_id
            assert all(n in nodes for n in d.write_targets), "a replica is not a known node"
            assert d.replicas, "every range has a voter"
            kept = [n for n in d.replicas if nodes[n].state != "left"]
            if r.spec.mode == "strong":
                assert len(kept) > len(d.replicas) // 2, "a strong range lost its quorum"
            else:
                assert len(kept) == len(d.replicas), "an eventual range keeps a left node"
            old = before["generations"].get(d.range_id)
            assert old is None or old <= d.generation, "a generation went down"
            if d.range_id in before["removed"]:
                raise AssertionError(f"range id {d.range_id} reused")
        assert r.keyspace_id not in before["dropped_ids"], "a keyspace id reused"
    assert state.version >= before["version"]
    assert state.range_cache() is not None


def snapshot_of(state: MetaState) -> dict:
    plain = state.to_plain()
    return {"version": state.version,
            "generations": {d.range_id: d.generation for d in state.descriptors()},
            "removed": {i for i, _ in plain["removed_ranges"]},
            "dropped_ids": {i for i, _ in plain["dropped"]}}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(1, 4))
def test_random_commands_are_deterministic_and_keep_the_invariants(data, node_count):
    a, b = MetaState(), MetaState()
    first = bootstrap(node_count, ranges=2)
    assert a.apply(1, first).ok and b.apply(1, decode(encode(first))).ok
    restored = None
    for index in range(2, 2 + data.draw(st.integers(1, 40), label="length")):
        cmd = command(data.draw, a)
        before = snapshot_of(a)
        result = a.apply(index, cmd)
        assert b.apply(index, decode(encode(cmd))) == result
        if restored is not None:
            assert restored.apply(index, cmd) == result
        elif data.draw(st.booleans(), label="snapshot here"):
            restored = MetaState.from_plain(a.to_plain())
        assert (a.version > before["version"]) == result.ok
        check_invariants(a, before)
    assert a == b
    assert restored is None or restored == a
