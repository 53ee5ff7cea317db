"""Merging replicas' pages of a span (core.scan.merge_span) against an oracle.

The oracle knows every replica's full contents: the merged page must hold, in
placement-key order, exactly the live newest versions of the keys up to the cut
(the end of the shortest truncated page, a whole hash group in a hash keyspace),
and resuming at ``resume`` must neither skip nor repeat a key."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core import messages as m
from quorumkv.core.placement import Keyspace
from quorumkv.core.scan import group_prefix, merge_span, page_items
from quorumkv.core.version import Version, merge

RANGE = Keyspace("users", 2, partitioner="range")
HASH = Keyspace("default", 1)


def page(keyspace, stored: dict, start: bytes, limit: int) -> m.ScanReply:
    """A replica's page as storage.scan and replica.scan_range make it."""
    group = group_prefix(keyspace)
    items = sorted((keyspace.placement_key(k), v) for k, v in stored.items())
    items = [(p, v) for p, v in items if p >= start]
    out = []
    for pkey, version in items:
        if len(out) >= limit and (not group or pkey[:group] != out[-1][0][:group]):
            return m.ScanReply(page_items(keyspace, out), True, out[-1][0])
        out.append((pkey, version))
    return m.ScanReply(page_items(keyspace, out), False, out[-1][0] if out else b"")


replica_contents = st.lists(st.dictionaries(
    st.binary(min_size=1, max_size=3),
    st.builds(lambda ts, tomb: Version(ts, "n1", tomb, 0, b"" if tomb else b"v%d" % ts),
              st.integers(1, 5), st.booleans()),
    max_size=12), min_size=1, max_size=3)


@settings(max_examples=300, deadline=None)
@given(replica_contents, st.integers(1, 4), st.sampled_from([RANGE, HASH]))
def test_paging_a_span_returns_each_live_key_once_in_order(replicas, limit, keyspace):
    everything: dict[bytes, Version] = {}
    for stored in replicas:
        for key, version in stored.items():
            everything[key] = merge(everything.get(key), version)
    expected = sorted((keyspace.placement_key(k), k, v) for k, v in everything.items()
                      if v.is_live(0))
    got, start = [], b""
    for _ in range(100):  # bounded: every page makes progress
        span = merge_span([page(keyspace, s, start, limit) for s in replicas], keyspace, 0)
        got.extend(span.items)
        if span.resume is None:
            break
        assert span.resume > start
        start = span.resume
    assert got == [(k, v) for _, k, v in expected]


def test_the_cut_is_where_the_shortest_truncated_page_ends():
    a, b = Version(1, "n1", False, 0, b"a"), Version(2, "n2", False, 0, b"b")
    short = m.ScanReply(((b"a", a), (b"b", a)), True, b"b")
    longer = m.ScanReply(((b"a", b), (b"c", a), (b"d", a)), False, b"d")
    span = merge_span([short, longer], RANGE, 0)
    assert span.items == [(b"a", b), (b"b", a)]
    assert span.resume == b"b\x00"
