"""Cluster identity: the layout fingerprint, the start decision, the peer check, and
the identity file in a data directory (core/identity.py, node/identity.py)."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import replace

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quorumkv.config import ClusterSection, Config, NodeSection, local_cluster_nodes
from quorumkv.core import identity as ci
from quorumkv.core import messages as m
from quorumkv.core.identity import Identity, Layout
from quorumkv.errors import ConfigError
from quorumkv.net import transport as t
from quorumkv.node import identity as ni

THREE = [("n1", "127.0.0.1", 9079), ("n2", "127.0.0.1", 9080), ("n3", "127.0.0.1", 9081)]


def layout(nodes=THREE, ranges=16, rf=3) -> Layout:
    return Layout.of(nodes, ranges, rf)


def ident(cluster_id="c1", node_id="n1", **kw) -> Identity:
    return Identity(cluster_id, node_id, layout(**kw))


# ---- the layout -----------------------------------------------------------------


@given(st.permutations(THREE))
def test_the_fingerprint_ignores_the_order_of_the_node_list(nodes):
    assert layout(nodes).fingerprint == layout().fingerprint


def test_everything_that_decides_placement_changes_the_fingerprint():
    base = layout().fingerprint
    changed = [
        layout(THREE + [("n4", "127.0.0.1", 9082)]),       # a node added
        layout(THREE[:2]),                                  # a node removed
        layout([THREE[0], ("n2", "127.0.0.1", 9090), THREE[2]]),  # a peer port
        layout([THREE[0], ("n2", "127.0.0.2", 9080), THREE[2]]),  # a host
        layout([("n1", "127.0.0.1", 9079), ("n2", "127.0.0.1", 9080),
                ("n9", "127.0.0.1", 9081)]),                # a node renamed
        layout(ranges=32),
        layout(rf=2),
        Layout.of(THREE, 16, 3, partitioner="range"),
    ]
    prints = [x.fingerprint for x in changed]
    assert base not in prints and len(set(prints)) == len(prints)


def test_the_replication_factor_is_the_effective_one():
    """Placement caps it at the number of nodes; so does the layout."""
    assert layout(rf=5) == layout(rf=3)
    assert layout(rf=5).replication_factor == 3


def test_differences_name_each_change():
    new = Layout.of([THREE[0], ("n2", "127.0.0.1", 9090), ("n4", "127.0.0.1", 9082)], 32, 2)
    assert ci.differences(layout(), new) == [
        "nodes added: n4", "nodes removed: n3",
        "n2 peer address 127.0.0.1:9080 -> 127.0.0.1:9090",
        "ranges 16 -> 32", "replication factor 3 -> 2"]
    assert ci.differences(layout(), layout()) == []


def test_identity_json_round_trips_and_garbage_is_a_value_error():
    original = ident()
    assert Identity.from_json(json.loads(json.dumps(original.to_json()))) == original
    for bad in (None, [], {"format": 2}, {**original.to_json(), "node_id": ""},
                {**original.to_json(), "cluster_id": 7},
                {**original.to_json(), "layout": {"nodes": [["n1", "h"]]}},
                {**original.to_json(), "layout": {**layout().to_json(), "ranges": "16"}},
                {**original.to_json(), "layout": {**layout().to_json(),
                                                   "nodes": [["n1", "h", "9079"]]}}):
        with pytest.raises(ValueError):
            Identity.from_json(bad)


# ---- at start ---------------------------------------------------------------------


def test_a_new_data_directory_takes_the_configured_identity():
    d = ci.decide_start(None, ident(), "/d/n1", has_data=False)
    assert (d.action, d.identity) == (ci.NEW, ident())


def test_data_written_before_identities_adopts_the_configured_one():
    d = ci.decide_start(None, ident(), "/d/n1", has_data=True)
    assert (d.action, d.identity) == (ci.ADOPT, ident())
    assert "no cluster identity" in d.message and "adopting cluster c1" in d.message


def test_the_same_identity_starts():
    assert ci.decide_start(ident(), ident(), "/d/n1", True).action == ci.OK


def test_another_layout_is_refused_naming_both_and_what_changed():
    d = ci.decide_start(ident(), ident(ranges=32), "/d/n1", True)
    assert d.action == ci.REFUSE
    old, new = layout().fingerprint, layout(ranges=32).fingerprint
    assert f"written under cluster c1, layout {old} (3 nodes n1 n2 n3, 16 ranges" in d.message
    assert f"the configuration is cluster c1, layout {new} (3 nodes n1 n2 n3, 32 ranges" \
        in d.message
    assert "(ranges 16 -> 32)" in d.message
    assert "not supported yet" in d.message and "empty data directory" in d.message
    assert "\n" not in d.message


def test_another_cluster_id_is_refused():
    d = ci.decide_start(ident("aaa"), ident("bbb"), "/d/n1", True)
    assert d.action == ci.REFUSE
    assert "belongs to cluster aaa, but the configuration is cluster bbb" in d.message


def test_another_node_id_is_refused():
    d = ci.decide_start(ident(node_id="n1"), ident(node_id="n2"), "/d/n1", True)
    assert d.action == ci.REFUSE and "belongs to node n1, not n2" in d.message


def test_without_a_configured_id_only_the_layout_counts_and_the_stored_id_stays():
    d = ci.decide_start(ident("aaa"), ident(""), "/d/n1", True)
    assert (d.action, d.identity.cluster_id) == (ci.OK, "aaa")
    assert ci.decide_start(ident("aaa"), ident("", ranges=8), "/d/n1", True).action \
        == ci.REFUSE


def test_a_configured_id_is_recorded_over_data_that_had_none():
    d = ci.decide_start(ident(""), ident("bbb"), "/d/n1", True)
    assert (d.action, d.identity.cluster_id) == (ci.SET_ID, "bbb")


# ---- at connect -------------------------------------------------------------------


def hello_of(i: Identity) -> tuple:
    return i.node_id, i.cluster_id, i.layout.fingerprint, i.layout.canonical()


def test_a_peer_of_the_same_cluster_and_layout_is_accepted():
    assert ci.peer_refusal(ident(), *hello_of(ident(node_id="n2"))) == ""
    # a side without an id compares layouts only
    assert ci.peer_refusal(ident(""), *hello_of(ident("c9", node_id="n2"))) == ""


def test_a_peer_of_another_cluster_is_refused():
    reason = ci.peer_refusal(ident("aaa"), *hello_of(ident("bbb", node_id="n3")))
    assert reason == "node n3 belongs to cluster bbb, node n1 to cluster aaa"


def test_a_peer_of_another_layout_is_refused_saying_what_differs():
    theirs = ident(node_id="n3", ranges=32)
    reason = ci.peer_refusal(ident(), *hello_of(theirs))
    assert reason == (f"node n3 runs layout {theirs.layout.fingerprint}, node n1 layout "
                      f"{layout().fingerprint} (n1 -> n3: ranges 16 -> 32)")
    garbled = hello_of(theirs)[:3] + ("{not json",)
    assert "cannot be read" in ci.peer_refusal(ident(), *garbled)


def test_a_peer_claiming_our_own_id_is_refused():
    assert "not another node" in ci.peer_refusal(ident(), *hello_of(ident()))


# ---- the identity file ------------------------------------------------------------


def config_for(tmp_path, node_id="n1", cluster_id="", count=3, **cluster) -> Config:
    return Config(NodeSection(id=node_id, data_dir=str(tmp_path / "{id}")),
                  ClusterSection(id=cluster_id, nodes=local_cluster_nodes(count), **cluster))


def test_establish_records_the_identity_once_and_checks_it_after(tmp_path):
    cfg = config_for(tmp_path, cluster_id="c1")
    assert ni.read(cfg.data_dir) is None
    assert ni.establish(cfg) == ni.configured(cfg)
    assert ni.read(cfg.data_dir) == ni.configured(cfg)
    assert sorted(os.listdir(cfg.data_dir)) == [ni.IDENTITY_FILE]  # no temporary left
    assert ni.check(cfg).action == ci.OK
    with pytest.raises(ConfigError, match="ranges 16 -> 32"):
        ni.check(config_for(tmp_path, cluster_id="c1", ranges=32))
    with pytest.raises(ConfigError, match="nodes added: n4"):
        ni.check(config_for(tmp_path, cluster_id="c1", count=4))
    with pytest.raises(ConfigError, match="belongs to cluster c1"):
        ni.check(config_for(tmp_path, cluster_id="c2"))
    assert ni.read(cfg.data_dir) == ni.configured(cfg)  # a refusal writes nothing


def test_a_database_without_identity_is_adopted(tmp_path, caplog):
    cfg = config_for(tmp_path)
    os.makedirs(cfg.data_dir)
    with open(os.path.join(cfg.data_dir, ni.ROCKSDB_MARKER), "w") as f:
        f.write("MANIFEST-000001\n")
    assert ni.check(cfg).action == ci.ADOPT
    with caplog.at_level("INFO"):
        ni.establish(cfg)
    assert "written before identities were recorded" in caplog.text
    assert ni.read(cfg.data_dir) == ni.configured(cfg)


def test_a_damaged_identity_file_is_a_config_error_naming_it(tmp_path):
    cfg = config_for(tmp_path)
    os.makedirs(cfg.data_dir)
    path = ni.path_of(cfg.data_dir)
    with open(path, "w") as f:
        f.write("{half")
    with pytest.raises(ConfigError, match=f"{path} is not valid JSON"):
        ni.check(cfg)
    with open(path, "w") as f:
        json.dump({"format": 1, "cluster_id": "", "node_id": "n1"}, f)
    with pytest.raises(ConfigError, match="not a cluster layout"):
        ni.check(cfg)


def test_client_ports_are_not_part_of_the_layout(tmp_path):
    cfg = config_for(tmp_path)
    moved = replace(cfg, cluster=replace(cfg.cluster, nodes=tuple(
        replace(n, resp_port=n.resp_port + 100, http_port=n.http_port + 100)
        for n in cfg.cluster.nodes)))
    assert ni.configured(moved) == ni.configured(cfg)


# ---- the inbound side of the handshake (net/transport.py), over a fake wire ------------


class Wire:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name):
        return ("127.0.0.1", 40000) if name == "peername" else None


def inbound(mine: Identity):
    """An inbound connection of a transport of ``mine``; what it served and sent."""
    served = []

    def handler(items, channel):
        served.extend(items)
        return [(req_id, m.Pong(mine.node_id)) for req_id, _ in items]

    tr = t.PeerTransport("127.0.0.1", 0, {}, hello=m.Hello(*hello_of(mine)),
                         check_hello=lambda h: ci.peer_refusal(
                             mine, h.node_id, h.cluster_id, h.layout_fingerprint, h.layout))
    tr.handle(m.Ping, handler)
    tr.handle(m.Get, handler)
    proto = tr._make_inbound()
    wire = Wire()
    proto.connection_made(wire)
    return proto, wire, served


def frame(*bodies) -> bytes:
    payload = msgpack.packb([msgpack.unpackb(m.encode(r, x), raw=False) for r, x in bodies],
                            use_bin_type=True)
    return t.HEADER.pack(len(payload)) + payload


def sent(wire: Wire) -> list:
    out, pos = [], 0
    while pos < len(wire.data):
        (length,) = t.HEADER.unpack_from(wire.data, pos)
        out += [m.decode_body(b) for b in msgpack.unpackb(wire.data[pos + 4:pos + 4 + length],
                                                          raw=False)]
        pos += 4 + length
    return out


def test_an_accepted_hello_switches_the_connection_to_serving_requests():
    async def scenario():
        proto, wire, served = inbound(ident(node_id="n1"))
        proto.data_received(frame((1, m.Hello(*hello_of(ident(node_id="n2")))), (2, m.Ping())))
        proto.data_received(frame((3, m.Ping())))
        await asyncio.sleep(0)
        return wire, served

    wire, served = asyncio.run(scenario())
    assert served == [(2, m.Ping()), (3, m.Ping())]
    replies = sent(wire)
    assert replies[0] == (-1, m.HelloReply(*hello_of(ident(node_id="n1")), ""))
    assert replies[1:] == [(-2, m.Pong("n1")), (-3, m.Pong("n1"))]
    assert not wire.closed


@pytest.mark.parametrize("first, refusal", [
    ("ping", "it sent Ping before any handshake"),
    ("other-layout", "(n1 -> n2: ranges 16 -> 32)"),
    ("other-cluster", "node n2 belongs to cluster c2, node n1 to cluster c1"),
])
def test_a_refused_connection_serves_nothing_and_is_closed(first, refusal):
    opening = {"ping": m.Ping(),
               "other-layout": m.Hello(*hello_of(ident(node_id="n2", ranges=32))),
               "other-cluster": m.Hello(*hello_of(ident("c2", node_id="n2")))}[first]

    async def scenario():
        proto, wire, served = inbound(ident(node_id="n1"))
        proto.data_received(frame((1, opening), (2, m.Get("default", b"k", False, 1, 1))))
        await asyncio.sleep(0)
        return wire, served

    wire, served = asyncio.run(scenario())
    assert served == []
    (reply,) = sent(wire)
    assert reply[0] == -1 and type(reply[1]) is m.HelloReply and refusal in reply[1].refusal
    assert wire.closed


# ---- keyspaces in the layout ---------------------------------------------------------

USERS_L = ci.KeyspaceLayout("users", 2, "range", 3, 3, ("l", "r"))
EVENTS_L = ci.KeyspaceLayout("events", 3, "hash", 8, 3)


def with_keyspaces(*keyspaces, **kw) -> Identity:
    return Identity("c1", "n1", Layout.of(THREE, 16, 3, keyspaces=keyspaces, **kw))


def test_a_layout_of_default_alone_keeps_the_canonical_form_of_before_keyspaces():
    """Data directories and peers of the release before keep their fingerprint."""
    assert layout().canonical() == (
        '{"nodes":[["n1","127.0.0.1",9079],["n2","127.0.0.1",9080],'
        '["n3","127.0.0.1",9081]],"partitioner":"hash","ranges":16,"replication_factor":3}')


def test_every_keyspace_setting_that_decides_placement_changes_the_fingerprint():
    base = with_keyspaces(USERS_L, EVENTS_L).layout
    changed = [
        with_keyspaces(USERS_L),
        with_keyspaces(replace(EVENTS_L, keyspace_id=2), replace(USERS_L, keyspace_id=3)),
        with_keyspaces(replace(USERS_L, split_points=("m",), ranges=2), EVENTS_L),
        with_keyspaces(USERS_L, replace(EVENTS_L, ranges=4)),
        with_keyspaces(USERS_L, replace(EVENTS_L, replication_factor=2)),
        with_keyspaces(USERS_L, replace(EVENTS_L, name="evts")),
        with_keyspaces(USERS_L, EVENTS_L, partitioner="range", split_points=("m",)),
    ]
    prints = [x.layout.fingerprint for x in changed] + [base.fingerprint]
    assert len(set(prints)) == len(prints)
    assert with_keyspaces(replace(USERS_L, replication_factor=7)).layout == \
        with_keyspaces(USERS_L).layout, "capped at the node count"


def test_an_identity_with_keyspaces_round_trips_and_a_bad_keyspace_is_a_value_error():
    original = with_keyspaces(USERS_L, EVENTS_L)
    assert Identity.from_json(json.loads(json.dumps(original.to_json()))) == original
    raw = original.to_json()
    for bad in ({"name": "x"}, {**USERS_L.to_json(), "id": "2"},
                {**USERS_L.to_json(), "split_points": [1]}, "users"):
        broken = {**raw, "layout": {**raw["layout"], "keyspaces": [bad]}}
        with pytest.raises(ValueError):
            Identity.from_json(broken)


def test_keyspaces_added_after_the_last_one_are_accepted_and_recorded():
    stored, configured = with_keyspaces(USERS_L), with_keyspaces(USERS_L, EVENTS_L)
    d = ci.decide_start(stored, configured, "/d/n1", True)
    assert (d.action, d.identity) == (ci.EXTEND, configured)
    assert "keyspaces added: events" in d.message
    d = ci.decide_start(ident(), configured, "/d/n1", True)
    assert d.action == ci.EXTEND, "a data directory of default alone takes new keyspaces"


@pytest.mark.parametrize("configured, change", [
    (with_keyspaces(), "keyspaces removed: users"),
    (with_keyspaces(EVENTS_L, USERS_L), "keyspace order users events -> events users"),
    (with_keyspaces(replace(USERS_L, split_points=("m",), ranges=2), EVENTS_L),
     "keyspace users split points [l, r] -> [m]"),
    (with_keyspaces(replace(EVENTS_L, keyspace_id=2), replace(USERS_L, keyspace_id=3)),
     "keyspace events id 3 -> 2"),
])
def test_a_keyspace_removed_reordered_or_changed_over_data_is_refused(configured, change):
    d = ci.decide_start(with_keyspaces(USERS_L, EVENTS_L), configured, "/d/n1", True)
    assert d.action == ci.REFUSE
    assert change in d.message and "not supported yet" in d.message


def test_added_keyspaces_do_not_hide_another_node_id():
    d = ci.decide_start(with_keyspaces(USERS_L),
                        replace(with_keyspaces(USERS_L, EVENTS_L), node_id="n2"), "/d", True)
    assert d.action == ci.REFUSE and "belongs to node n1, not n2" in d.message


def test_the_configured_identity_covers_every_keyspace():
    from quorumkv.config import loads
    text = ('[[cluster.nodes]]\nid = "n1"\n[[keyspaces]]\nname = "users"\n'
            'partitioner = "range"\nsplit_points = ["l", "r"]\n'
            '[[keyspaces]]\nname = "events"\nranges = 8\nreplication_factor = 2\n')
    layout_ = ni.configured(loads(text, env={}, overrides={"id": "n1"})).layout
    assert layout_.keyspaces == (ci.KeyspaceLayout("users", 2, "range", 3, 1, ("l", "r")),
                                 ci.KeyspaceLayout("events", 3, "hash", 8, 1))
    assert (layout_.ranges, layout_.partitioner) == (16, "hash")
    assert "keyspaces users (range, 3 ranges, rf 1), events (hash, 8 ranges, rf 1)" \
        in layout_.describe()


def test_a_node_that_joined_is_accepted_and_a_removed_one_refused():
    n4 = hello_of(ident(node_id="n4"))  # same cluster and layout: a joined node's
    assert "not another node" in ci.peer_refusal(ident(), *n4)
    assert ci.peer_refusal(ident(), *n4, joined={"n4"}) == ""
    assert ci.peer_refusal(ident(), *n4, joined={"n4"}, left={"n4"}) == \
        "node n4 was removed from the cluster (node n1's metadata)"
    # a bootstrap node that was removed is refused as well
    assert "removed" in ci.peer_refusal(ident(), *hello_of(ident(node_id="n2")), left={"n2"})
