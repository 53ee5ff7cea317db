"""Snapshots of the whole state, and a follower's MetaView: fed entries or a
snapshot, it holds what the replicas hold and tells a node what changed."""

from __future__ import annotations

import msgpack
import pytest

from quorumkv.core.meta import (AddNode, CreateKeyspace, DropKeyspace, KeyspaceSpec, MetaState,
                                MetaView, RemoveNode, SetNodeState, UpdateDescriptor, encode,
                                refresh_cache)
from quorumkv.core.placement import RangeDescriptor

from .helpers import Log, booted, bootstrap, node


def busy_log() -> Log:
    """A state that has been through every command."""
    log = booted(3, KeyspaceSpec("users", partitioner="range", ranges=3, split_points=("l", "r"),
                                 db=1))
    log.ok(AddNode(node("n4", dc="eu", rack="r2")))
    log.ok(SetNodeState("n4", "up"))
    log.ok(CreateKeyspace(KeyspaceSpec("locks", mode="strong", ranges=2)))
    log.ok(CreateKeyspace(KeyspaceSpec("tmp", ranges=2)))
    log.ok(DropKeyspace("tmp"))
    log.ok(RemoveNode("n2"))
    d = log.state.descriptors("users")[0]
    log.ok(UpdateDescriptor(d.generation, RangeDescriptor.of(
        d.range_id, "users", d.start, d.end, ("n1", "n4"), learners=("n3",))))
    log.apply(DropKeyspace("nope"))  # a refusal: the applied index moves on anyway
    return log


def test_a_snapshot_round_trips_through_msgpack():
    state = busy_log().state
    plain = msgpack.unpackb(msgpack.packb(state.to_plain(), use_bin_type=True), raw=False)
    copy = MetaState.from_plain(plain)
    assert copy == state and copy.to_plain() == state.to_plain()
    assert copy.range_cache() == state.range_cache()
    assert copy.describe("users") == state.describe("users")
    # and it goes on as the original would: the ids never reused
    for s in (state, copy):
        created = s.apply(s.applied_index + 1, CreateKeyspace(KeyspaceSpec("tmp", ranges=1)))
        assert created.value == 5
    assert copy == state


def test_equal_states_compare_equal_and_different_ones_not():
    a, b = busy_log().state, busy_log().state
    assert a == b
    b.apply(b.applied_index + 1, SetNodeState("n4", "leaving"))
    assert a != b


@pytest.mark.parametrize("corrupt", [
    lambda p: p.pop("nodes"),
    lambda p: p.update(version="7"),
    lambda p: p["ranges"][0].__setitem__(0, {"range_id": 1}),
    lambda p: p["nodes"][0].__setitem__(1, "asleep"),
    lambda p: p["keyspaces"][0][1].update(ranges=0),
])
def test_a_bad_snapshot_is_refused(corrupt):
    plain = busy_log().state.to_plain()
    corrupt(plain)
    with pytest.raises(ValueError, match="not a metadata snapshot"):
        MetaState.from_plain(plain)


def test_a_view_follows_entries_as_bytes_and_skips_what_it_has():
    log = busy_log()
    entries = [(1, encode(bootstrap()))]
    view = MetaView()
    view.follow(entries)
    assert view.state.nodes() and view.applied_index == 1
    assert view.follow(entries) == [], "a repeated entry is skipped"


def test_a_view_fed_the_same_commands_equals_the_replicas_state():
    commands = [bootstrap(3), CreateKeyspace(KeyspaceSpec("locks", mode="strong", ranges=2)),
                RemoveNode("n2"), RemoveNode("n3"), SetNodeState("n1", "leaving")]
    replica = Log()
    results = [replica.apply(c) for c in commands]
    assert [r.ok for r in results] == [True, True, True, False, True]
    view = MetaView()
    view.follow([(i, encode(c)) for i, c in enumerate(commands, start=1)])
    assert view.state == replica.state and view.version == replica.state.version


def test_a_view_installs_a_newer_snapshot_only():
    state = busy_log().state
    view = MetaView()
    assert view.install(state.to_plain()) and view.state == state
    older = booted(3).state.to_plain()
    assert not view.install(older) and view.state == state


def test_changes_since_names_only_what_changed():
    log = booted(3)
    seen = log.state.version
    log.ok(CreateKeyspace(KeyspaceSpec("locks", ranges=2)))
    d = log.state.descriptors("default")[0]
    log.ok(UpdateDescriptor(1, RangeDescriptor.of(d.range_id, "default", d.start, d.end,
                                                  ("n1", "n2"))))
    changes = log.state.changes_since(seen)
    assert changes.version == log.state.version == seen + 2
    assert [k.name for k in changes.keyspaces] == ["locks"]
    assert [(x.range_id, x.generation) for x in changes.descriptors] == [
        (d.range_id, 2), (5, 1), (6, 1)]
    assert changes.nodes == () and changes.dropped_keyspaces == ()
    assert log.state.changes_since(log.state.version).descriptors == ()
    log.ok(DropKeyspace("locks"))
    dropped = log.state.changes_since(changes.version)
    assert (dropped.dropped_keyspaces, dropped.removed_ranges) == ((2,), (5, 6))


def test_refresh_cache_takes_new_keyspaces_and_newer_descriptors_in_place():
    log = booted(3)
    cache = log.state.range_cache()
    seen = log.state.version
    log.ok(CreateKeyspace(KeyspaceSpec("locks", ranges=2)))
    log.ok(RemoveNode("n3"))  # every default range: a new generation
    assert refresh_cache(cache, log.state, log.state.changes_since(seen))
    fresh = log.state.range_cache()
    assert cache.all_ranges() == fresh.all_ranges()
    assert cache.keyspaces == fresh.keyspaces
    log.ok(DropKeyspace("locks"))
    assert not refresh_cache(cache, log.state, log.state.changes_since(log.state.version - 1)), \
        "a drop needs a rebuilt cache"
