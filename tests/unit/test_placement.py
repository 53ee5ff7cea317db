"""The placement package: range partitioner, typed descriptors, the range cache.

Properties (hypothesis) against naive oracles: after any sequence of replacements,
valid or not, every keyspace still tiles and every key is in exactly one range
(a linear scan agrees with ``lookup``); a range keyspace keeps keys in order; a
replacement that is stale or breaks the tiling is refused and changes nothing;
lookup by id agrees with lookup by key.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core.placement import (LEARNER, PENDING, VOTER, Keyspace, RangeCache,
                                     RangeDescriptor, ReplaceRefused, StaleGeneration,
                                     bootstrap_ranges, check_tiling, readable_span)

NODES = ["n1", "n2", "n3", "n4"]
USERS = Keyspace("users", 2, partitioner="range")
EVENTS = Keyspace("events", 3)

split_lists = st.lists(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=3),
                       max_size=8, unique=True).map(sorted)
keys = st.binary(max_size=6) | st.text("abcdelmqrz", max_size=4).map(str.encode)


def build(points) -> RangeCache:
    cache = RangeCache()
    cache.add_keyspace(USERS, bootstrap_ranges(USERS, NODES, split_points=points))
    cache.add_keyspace(EVENTS, bootstrap_ranges(EVENTS, NODES, 4, first_range_id=100))
    return cache


def holders(cache: RangeCache, keyspace: str, pkey: bytes) -> list[RangeDescriptor]:
    return [r for r in cache.ranges(keyspace) if r.contains(pkey)]


# a replacement: which run of ranges it covers, its id, how its generation compares
replacements = st.tuples(st.sampled_from(["users", "events"]), st.integers(0, 20),
                         st.integers(1, 3), st.integers(0, 10), st.integers(-1, 2),
                         st.sampled_from(["exact", "short", "long"]),
                         st.lists(st.sampled_from(NODES), min_size=1, max_size=3,
                                  unique=True))


def make(cache: RangeCache, spec) -> tuple[RangeDescriptor, bool]:
    """A descriptor from ``spec`` and whether the cache must take it (the oracle)."""
    keyspace, first, length, pick, bump, shape, voters = spec
    ranges = cache.ranges(keyspace)
    first %= len(ranges)
    run = ranges[first:first + length]
    start, end = run[0].start, run[-1].end
    if shape == "short" and end != b"":
        end = end[:-1] + bytes([end[-1] - 1]) if end[-1] else end + b"\x00"
    elif shape == "long" and end != b"":
        end = end + b"\x00"
    rid = run[pick % len(run)].range_id if pick < 8 else 999
    generation = max(1, max(r.generation for r in run) + bump)
    # the oracle: the ranges from the first up to the one ending at ``end`` (a short
    # end may still fall on a boundary), none if no range of the run ends there
    ends = [r.end for r in run]
    covered = run[:ends.index(end) + 1] if end in ends else []
    valid = bool(covered) and rid in {r.range_id for r in covered} \
        and generation > max(r.generation for r in covered)
    return RangeDescriptor.of(rid, keyspace, start, end, voters, generation), valid


@settings(max_examples=150)
@given(split_lists, st.lists(replacements, max_size=12), st.lists(keys, max_size=10))
def test_any_sequence_of_replacements_keeps_the_tiling(points, specs, probes):
    cache = build(points)
    for spec in specs:
        before = {name: list(cache.ranges(name)) for name in cache.keyspaces}
        version = cache.version
        new, valid = make(cache, spec)
        if valid:
            replaced = cache.replace(new)
            assert cache.by_id(new.range_id) == new
            assert all(cache.by_id(r.range_id) is None for r in replaced
                       if r.range_id != new.range_id)
            assert cache.version == version + 1
        else:
            with pytest.raises(ReplaceRefused):
                cache.replace(new)
            assert {n: cache.ranges(n) for n in cache.keyspaces} == before
            assert cache.version == version
        for name in cache.keyspaces:
            check_tiling(cache.ranges(name))
    for name in cache.keyspaces:
        for key in probes:
            pkey = cache.keyspaces[name].placement_key(key)
            found = cache.lookup(name, pkey)
            assert holders(cache, name, pkey) == [found]
            assert cache.by_id(found.range_id) is found
    ids = [r.range_id for r in cache.all_ranges()]
    assert len(ids) == len(set(ids)), "range ids unique across keyspaces"


@settings(max_examples=150)
@given(split_lists, keys, keys)
def test_a_range_keyspace_keeps_keys_in_order(points, k1, k2):
    cache = build(points)
    ranges = cache.ranges("users")
    position = {r.range_id: i for i, r in enumerate(ranges)}
    low, high = sorted((k1, k2))
    assert position[cache.lookup("users", low).range_id] <= \
        position[cache.lookup("users", high).range_id]
    assert len(ranges) == len(points) + 1


@given(split_lists, keys)
def test_every_key_is_in_exactly_one_range_of_the_split_points(points, key):
    cache = build(points)
    found = cache.lookup("users", key)
    assert holders(cache, "users", key) == [found]
    # the oracle: the number of split points at or below the key
    assert cache.ranges("users").index(found) == sum(p.encode() <= key for p in points)


def test_the_a_k_l_q_r_z_example():
    cache = build(["l", "r"])
    spans = [readable_span(r.start, r.end, "range") for r in cache.ranges("users")]
    assert spans == ["[, l)", "[l, r)", "[r, )"]
    assert [cache.lookup("users", k).range_id for k in (b"alice", b"kate", b"l", b"mia",
                                                       b"quinn", b"r", b"zoe")] == \
        [1, 1, 2, 2, 2, 3, 3]


def test_a_stale_or_equal_generation_is_refused():
    cache = build(["m"])
    old = cache.by_id(1)
    newer = RangeDescriptor.of(1, "users", old.start, old.end, ("n4",), generation=3)
    cache.replace(newer)
    for generation in (1, 2, 3):
        with pytest.raises(StaleGeneration):
            cache.replace(RangeDescriptor.of(1, "users", old.start, old.end, ("n1",),
                                             generation=generation))
    assert cache.by_id(1) == newer and cache.lookup("users", b"a") == newer


def test_a_merge_replaces_the_ranges_it_covers():
    cache = build(["h", "p"])
    merged = RangeDescriptor.of(1, "users", b"", b"p", ("n1", "n2"), generation=2)
    replaced = cache.replace(merged)
    assert [r.range_id for r in replaced] == [1, 2]
    assert cache.by_id(2) is None and cache.lookup("users", b"k") == merged
    assert [r.range_id for r in cache.ranges("users")] == [1, 3]


@pytest.mark.parametrize("new, why", [
    (RangeDescriptor.of(1, "users", b"", b"g", ("n1",), generation=5), "tile"),
    (RangeDescriptor.of(7, "users", b"", b"m", ("n1",), generation=5), "not one of"),
    (RangeDescriptor.of(1, "nope", b"", b"", ("n1",), generation=5), "no keyspace"),
])
def test_a_replacement_that_breaks_the_map_is_refused(new, why):
    cache = build(["m"])
    with pytest.raises(ReplaceRefused, match=why):
        cache.replace(new)
    assert cache.version == 2


def test_typed_replicas():
    d = RangeDescriptor.of(5, "users", b"a", b"b", ("n1", "n2"), generation=2,
                           learners=("n3",), pending=("n4",))
    assert d.replicas == ("n1", "n2"), "only voters serve reads and count"
    assert (d.learners, d.pending) == (("n3",), ("n4",))
    assert d.write_targets == ("n1", "n2", "n3", "n4")
    assert d.members == (("n1", VOTER), ("n2", VOTER), ("n3", LEARNER), ("n4", PENDING))
    with pytest.raises(AssertionError):
        RangeDescriptor(1, "u", b"", b"", (("n1", VOTER), ("n1", LEARNER)))
    with pytest.raises(AssertionError):
        RangeDescriptor(1, "u", b"", b"", (("n1", "observer"),))


def test_to_json_has_readable_bounds():
    cache = build(["l", "r"])
    doc = cache.to_json()
    users = [r for r in doc["ranges"] if r["keyspace"] == "users"]
    assert [r["bounds"] for r in users] == ["[, l)", "[l, r)", "[r, )"]
    assert users[1]["start"] == b"l".hex() and users[1]["start_key"] == "l"
    events = [r for r in doc["ranges"] if r["keyspace"] == "events"]
    assert events[1]["bounds"] == "[0x4000000000000000, 0x8000000000000000)"
    assert users[0]["members"][0] == {"node": users[0]["replicas"][0], "role": "voter"}
    assert {k["name"]: k["ranges"] for k in doc["keyspaces"]} == {"users": 3, "events": 4}
    assert doc["version"] == 2


def test_split_points_must_increase_and_be_non_empty():
    for bad in (["b", "a"], ["a", "a"], ["", "a"]):
        with pytest.raises(AssertionError):
            bootstrap_ranges(USERS, NODES, split_points=bad)
