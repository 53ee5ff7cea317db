"""The strong client's routing, without a cluster: RangeRouter places keys in the
same range as the server's RangeCache (hash with {tags}, and range keyspaces),
keeps leaders only for ranges it knows, and Sessions hand out one seq per request."""

from __future__ import annotations

import random

import pytest

from quorumkv.client.strong import RangeRouter, Sessions
from quorumkv.config import ClusterSection, Config, KeyspaceSettings, NodeSection, \
    local_cluster_nodes, validate
from quorumkv.node.node import build_range_map


def described(name: str, mode: str = "strong", **settings):
    cfg = Config(node=NodeSection(id="n1"), cluster=ClusterSection(nodes=local_cluster_nodes(3)),
                 keyspaces=(KeyspaceSettings(name, mode=mode, **settings),))
    validate(cfg)
    cache = build_range_map(cfg)
    ks = cache.keyspaces[name]
    reply = {"mode": mode, "partitioner": ks.partitioner,
             "ranges": [d.to_json(ks.partitioner) for d in cache.ranges(name)]}
    return cache, ks, reply


@pytest.mark.parametrize("settings", [dict(ranges=8), dict(partitioner="range",
                                                           split_points=("g", "p"))])
def test_the_router_places_every_key_where_the_server_does(settings):
    cache, ks, reply = described("locks", **settings)
    router = RangeRouter()
    router.load(reply)
    rng = random.Random(7)
    keys = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12))) for _ in range(500)]
    keys += [b"{user1}.a", b"{user1}.b", b"a{b", b"{}x", b"", b"zzz"]
    for key in keys:
        assert router.range_of(key) == cache.lookup("locks", ks.placement_key(key)).range_id
    assert router.range_of("{user1}.a") == router.range_of(b"{user1}.b")


def test_leaders_are_kept_only_for_known_ranges_and_forgotten_on_failure():
    _, _, reply = described("locks", ranges=4)
    router = RangeRouter()
    router.load(reply)
    first = router.range_ids[0]
    assert router.moved(first, ("127.0.0.2", 7380)) is True
    assert router.moved(9999, ("127.0.0.3", 7381)) is False  # unknown: reload the ranges
    assert router.leaders == {first: ("127.0.0.2", 7380)}
    router.forget(first, ("127.0.0.3", 7381))  # not the one kept: nothing changes
    assert router.leaders == {first: ("127.0.0.2", 7380)}
    router.forget(first, ("127.0.0.2", 7380))
    assert router.leaders == {}


def test_an_eventual_keyspace_is_refused():
    _, _, reply = described("default", mode="eventual", ranges=4)
    with pytest.raises(ValueError, match="eventual mode: StrongClient is for strong"):
        RangeRouter().load(reply)


def test_sessions_give_each_request_the_next_seq_and_concurrent_ones_their_own():
    sessions = Sessions()
    a = sessions.take()
    b = sessions.take()  # while a is in flight: another session
    assert a[0] != b[0] and a[1] == b[1] == 1
    assert len(a[0].encode()) <= 48  # QKV.REQUEST's limit
    sessions.give(a)
    again = sessions.take()
    assert again is a and again[1] == 2  # reused, next number
