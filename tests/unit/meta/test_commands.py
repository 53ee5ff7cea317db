"""Metadata commands: every one encodes and decodes to itself; decode refuses
anything that is not a well-formed command."""

from __future__ import annotations

import msgpack
import pytest

from quorumkv.config import loads
from quorumkv.core.meta import (AddNode, Bootstrap, CreateKeyspace, DecodeError, DropKeyspace,
                                KeyspaceSpec, NodeInfo, RemoveNode, SetNodeState,
                                UpdateDescriptor, bootstrap_from_config, decode, encode)
from quorumkv.core.placement import RangeDescriptor

from .helpers import bootstrap, node

COMMANDS = [
    bootstrap(3, KeyspaceSpec("users", partitioner="range", ranges=3, split_points=("l", "r"),
                              db=1)),
    AddNode(node("n4", dc="eu", rack="r1")),
    SetNodeState("n4", "up"),
    RemoveNode("n4"),
    CreateKeyspace(KeyspaceSpec("locks", mode="strong", ranges=8, db=None)),
    DropKeyspace("locks"),
    UpdateDescriptor(3, RangeDescriptor.of(7, "users", b"l", b"r", ("n1", "n2"),
                                           generation=3, learners=("n3",))),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: type(c).__name__)
def test_every_command_round_trips(command):
    data = encode(command)
    assert type(data) is bytes and decode(data) == command


@pytest.mark.parametrize("body", [
    [], [99], "text", [2], [2, ["n4", "a:1"]], [3, "n1"], [3, "n1", 5], [4, 7],
    [5, {"name": "bad name"}], [5, {"name": "x", "rf": 0}], [5, ["x"]], [6, None],
    [7, "3", {}], [7, 3, {"range_id": 1}], [1, "nodes", []],
    [1, [["n1", "a:1", "", "", "", 5]], []],
])
def test_decode_refuses_what_is_not_a_command(body):
    with pytest.raises(DecodeError):
        decode(msgpack.packb(body))


def test_decode_refuses_bytes_that_are_not_msgpack():
    with pytest.raises(DecodeError):
        decode(b"\xc1")
    with pytest.raises(DecodeError):
        decode(encode(RemoveNode("n1"))[:-1])


def test_bootstrap_from_config_lists_the_static_nodes_and_keyspaces_in_id_order():
    cfg = loads('[[keyspaces]]\nname = "users"\npartitioner = "range"\nsplit_points = ["m"]\n'
                '[[cluster.nodes]]\nid = "n1"\n[[cluster.nodes]]\nid = "n2"\nhost = "127.0.0.2"\n'
                'peer_port = 1\nresp_port = 2\nhttp_port = 3\n', env={}, overrides={"id": "n1"})
    cmd = bootstrap_from_config(cfg)
    assert cmd.nodes == (NodeInfo("n1", "127.0.0.1:9079", "127.0.0.1:7379", "127.0.0.1:8079"),
                         NodeInfo("n2", "127.0.0.2:1", "127.0.0.2:2", "127.0.0.2:3"))
    assert [s.name for s in cmd.keyspaces] == ["default", "users"]
    assert cmd.keyspaces[1] == KeyspaceSpec("users", partitioner="range", ranges=2,
                                            split_points=("m",))
    assert decode(encode(cmd)) == cmd and isinstance(cmd, Bootstrap)
