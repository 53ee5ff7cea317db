"""Placement: the bootstrap ranges tile the key space and spread leadership evenly.

``lookup`` (a binary search) is checked against a linear scan over every range: for
any placement key, exactly one range holds it and it is the one ``lookup`` returns.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core.placement import (
    HASH_SPACE,
    Keyspace,
    RangeDescriptor,
    RangeMap,
    bootstrap_ranges,
    check_tiling,
    hash_placement_key,
    hash_prefix,
    hash_split_points,
    key_hash,
    place_replicas,
)

range_counts = st.integers(1, 64)
node_lists = st.integers(1, 7).map(lambda n: [f"n{i}" for i in range(1, n + 1)])
replication_factors = st.integers(1, 5)


def hash_keyspace(rf: int = 3) -> Keyspace:
    return Keyspace(name="ks", keyspace_id=1, replication_factor=rf)


def holds(r: RangeDescriptor, pkey: bytes) -> bool:
    """Naive span test: start inclusive, end exclusive, empty end = unbounded."""
    if pkey < r.start:
        return False
    return r.end == b"" or pkey < r.end


def build_map(range_count: int, nodes: list[str], rf: int = 3) -> tuple[RangeMap, list]:
    ks = hash_keyspace(rf)
    ranges = bootstrap_ranges(ks, nodes, range_count)
    rmap = RangeMap()
    rmap.add_keyspace(ks, ranges)
    return rmap, ranges


@settings(max_examples=60)
@given(range_counts, node_lists, replication_factors)
def test_bootstrap_ranges_tile_the_whole_space(count, nodes, rf):
    ranges = bootstrap_ranges(hash_keyspace(rf), nodes, count)
    assert len(ranges) == count
    check_tiling(ranges)  # raises AssertionError on a gap or overlap
    assert ranges[0].start == b"" and ranges[-1].end == b""
    for r in ranges[:-1]:
        assert r.start < r.end, "every bounded range is non-empty"
    assert [r.range_id for r in ranges] == list(range(1, count + 1))
    assert all(r.generation == 1 for r in ranges)


def test_hash_split_points_are_evenly_spaced():
    assert hash_split_points(1) == []
    assert hash_split_points(2) == [hash_prefix(HASH_SPACE // 2)]
    assert hash_split_points(4) == [hash_prefix(i * 2**62) for i in (1, 2, 3)]


def placement_keys(split_points):
    """Arbitrary bytes, hashed keys, and keys right at or just around a boundary."""
    around = [p for point in split_points for p in (point, point[:-1], point + b"\x00")]
    choices = [st.binary(max_size=12), st.binary(max_size=8).map(hash_placement_key)]
    if around:
        choices.append(st.sampled_from(around))
    return st.one_of(*choices)


@settings(max_examples=60)
@given(st.data(), range_counts, node_lists)
def test_every_key_maps_to_exactly_one_range(data, count, nodes):
    rmap, ranges = build_map(count, nodes)
    for _ in range(10):
        pkey = data.draw(placement_keys(hash_split_points(count)), label="pkey")
        found = rmap.lookup("ks", pkey)
        holders = [r for r in ranges if holds(r, pkey)]
        assert holders == [found], f"{pkey.hex()} held by {[r.range_id for r in holders]}"
        assert found.contains(pkey)
        assert sum(r.contains(pkey) for r in ranges) == 1


@given(st.binary(max_size=32))
def test_hash_placement_key_starts_with_the_hash(key):
    pkey = hash_placement_key(key)
    assert pkey[:8] == key_hash(key).to_bytes(8, "big")
    assert pkey[8:] == key
    assert hash_keyspace().placement_key(key) == pkey


@settings(max_examples=60)
@given(range_counts, node_lists, replication_factors)
def test_replicas_are_distinct_and_as_many_as_possible(count, nodes, rf):
    for r in bootstrap_ranges(hash_keyspace(rf), nodes, count):
        assert len(r.replicas) == min(rf, len(nodes))
        assert len(set(r.replicas)) == len(r.replicas), f"duplicate replica in {r.replicas}"
        assert set(r.replicas) <= set(nodes)


@settings(max_examples=60)
@given(range_counts, node_lists, replication_factors)
def test_each_node_leads_an_equal_share_of_ranges(count, nodes, rf):
    ranges = bootstrap_ranges(hash_keyspace(rf), nodes, count)
    leads = {n: 0 for n in nodes}
    for r in ranges:
        leads[r.replicas[0]] += 1
    assert max(leads.values()) - min(leads.values()) <= 1, leads
    assert sum(leads.values()) == count


@settings(max_examples=60)
@given(range_counts, node_lists, replication_factors, st.randoms(use_true_random=False))
def test_every_node_computes_the_same_map_from_any_node_order(count, nodes, rf, rnd):
    shuffled = list(nodes)
    rnd.shuffle(shuffled)
    assert bootstrap_ranges(hash_keyspace(rf), shuffled, count) == \
        bootstrap_ranges(hash_keyspace(rf), nodes, count)


def test_place_replicas_round_robin():
    nodes = ["n3", "n1", "n2"]
    assert place_replicas(nodes, 0, 2) == ("n1", "n2")
    assert place_replicas(nodes, 1, 2) == ("n2", "n3")
    assert place_replicas(nodes, 2, 2) == ("n3", "n1")
    assert place_replicas(nodes, 3, 5) == ("n1", "n2", "n3"), "rf capped at the node count"


def test_range_keyspace_starts_as_one_range():
    ks = Keyspace(name="ordered", keyspace_id=2, partitioner="range")
    ranges = bootstrap_ranges(ks, ["n1", "n2", "n3"], 16)
    assert len(ranges) == 1
    assert (ranges[0].start, ranges[0].end) == (b"", b"")
    assert ks.placement_key(b"user:1") == b"user:1"


def desc(rid: int, start: bytes, end: bytes) -> RangeDescriptor:
    return RangeDescriptor.of(rid, "ks", start, end, ("n1",))


@pytest.mark.parametrize("ranges", [
    [],
    [desc(1, b"a", b"")],                                   # does not start at the beginning
    [desc(1, b"", b"m")],                                   # does not run to the end
    [desc(1, b"", b"m"), desc(2, b"n", b"")],               # gap
    [desc(1, b"", b"n"), desc(2, b"m", b"")],               # overlap
    [desc(1, b"", b""), desc(2, b"", b"")],                 # two unbounded ranges
])
def test_check_tiling_rejects_gaps_and_overlaps(ranges):
    with pytest.raises(AssertionError):
        check_tiling(ranges)


def test_add_keyspace_sorts_ranges_and_counts_a_version():
    ks = hash_keyspace()
    right = RangeDescriptor.of(2, "ks", b"m", b"", ("n1",), generation=4)
    left = RangeDescriptor.of(1, "ks", b"", b"m", ("n1",), generation=2)
    rmap = RangeMap()
    assert rmap.version == 0
    rmap.add_keyspace(ks, [right, left])
    assert rmap.ranges("ks") == [left, right]
    assert rmap.lookup("ks", b"a") == left
    assert rmap.lookup("ks", b"m") == right, "start is inclusive"
    assert rmap.lookup("ks", b"\xff" * 20) == right
    assert rmap.version == 1
    assert rmap.to_json()["version"] == 1
