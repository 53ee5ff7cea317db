"""Metadata commands: the entries of the metadata Raft group's log.

Each command is a frozen, slotted dataclass with a fixed ``TAG``. ``encode`` gives
the msgpack array ``[tag, *fields]`` (nodes as arrays, keyspace specs as their
plain fields, descriptors as ``RangeDescriptor.to_plain``); ``decode`` checks every
field's type and raises :class:`DecodeError` for anything else, so a corrupt entry
never reaches the state machine. Whether a well-formed command may apply (a name
in use, a stale generation) is the state machine's answer, not decode's
(state.py).

* :class:`Bootstrap`: the static node list and the keyspaces of ``cluster.toml``:
  the first metadata transaction (:func:`bootstrap_from_config` builds it);
* :class:`AddNode`: a node joins (state ``joining``);
* :class:`SetNodeState`: ``joining -> up``, ``up -> leaving``, ``leaving -> up``;
* :class:`RemoveNode`: retire a node (state ``left``), refused if a strong range
  would lose its quorum;
* :class:`CreateKeyspace` / :class:`DropKeyspace`;
* :class:`UpdateDescriptor`: compare-and-set of one range's descriptor on its
  generation (replica changes now; moves later).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from ..placement.descriptor import RangeDescriptor
from .spec import KeyspaceSpec, SpecError, spec_from_fields, spec_from_settings

JOINING, UP, LEAVING, LEFT = "joining", "up", "leaving", "left"
NODE_STATES = (JOINING, UP, LEAVING, LEFT)


class DecodeError(ValueError):
    """Bytes that are not an encoded metadata command (or snapshot)."""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node's identity and addresses (``host:port``; resp and http may be "")
    and its place: datacenter and rack ("" = not configured)."""
    node_id: str
    peer: str
    resp: str = ""
    http: str = ""
    dc: str = ""
    rack: str = ""

    def to_plain(self) -> list:
        return [self.node_id, self.peer, self.resp, self.http, self.dc, self.rack]

    @classmethod
    def from_plain(cls, data) -> "NodeInfo":
        if type(data) not in (list, tuple) or len(data) != 6 \
                or any(type(v) is not str for v in data):
            raise DecodeError(f"not a node: {data!r}")
        return cls(*data)


@dataclass(frozen=True, slots=True)
class Bootstrap:
    TAG = 1
    nodes: tuple[NodeInfo, ...]
    keyspaces: tuple[KeyspaceSpec, ...]  # default first: ids 1, 2, ... in this order


@dataclass(frozen=True, slots=True)
class AddNode:
    TAG = 2
    node: NodeInfo


@dataclass(frozen=True, slots=True)
class SetNodeState:
    TAG = 3
    node_id: str
    state: str


@dataclass(frozen=True, slots=True)
class RemoveNode:
    TAG = 4
    node_id: str


@dataclass(frozen=True, slots=True)
class CreateKeyspace:
    TAG = 5
    spec: KeyspaceSpec


@dataclass(frozen=True, slots=True)
class DropKeyspace:
    TAG = 6
    name: str


@dataclass(frozen=True, slots=True)
class UpdateDescriptor:
    """Replace range ``descriptor.range_id`` if it is still at
    ``expected_generation``; the stored one gets generation ``expected + 1``."""
    TAG = 7
    expected_generation: int
    descriptor: RangeDescriptor


COMMAND_TYPES = (Bootstrap, AddNode, SetNodeState, RemoveNode, CreateKeyspace,
                 DropKeyspace, UpdateDescriptor)


def _fields(command) -> list:
    if type(command) is Bootstrap:
        return [[n.to_plain() for n in command.nodes],
                [s.to_plain() for s in command.keyspaces]]
    if type(command) is AddNode:
        return [command.node.to_plain()]
    if type(command) is CreateKeyspace:
        return [command.spec.to_plain()]
    if type(command) is UpdateDescriptor:
        return [command.expected_generation, command.descriptor.to_plain()]
    return [getattr(command, name) for name in command.__slots__]


def encode(command) -> bytes:
    assert type(command) in COMMAND_TYPES, f"not a metadata command: {command!r}"
    return msgpack.packb([command.TAG, *_fields(command)], use_bin_type=True)


def decode(data: bytes):
    """The command ``encode`` gave; DecodeError if ``data`` is not one."""
    try:
        body = msgpack.unpackb(data, raw=False)
        if type(body) is not list or not body or body[0] not in _DECODERS:
            raise DecodeError(f"not a metadata command: {body!r:.80}")
        return _DECODERS[body[0]](*body[1:])
    except DecodeError:
        raise
    except (ValueError, TypeError, SpecError, msgpack.UnpackException) as exc:
        raise DecodeError(f"bad metadata command: {exc}") from None


def decode_spec(data) -> KeyspaceSpec:
    try:
        return spec_from_fields(data)
    except SpecError as exc:
        raise DecodeError(f"bad keyspace spec: {exc}") from None


def _strings(*values) -> None:
    if any(type(v) is not str for v in values):
        raise DecodeError(f"expected strings: {values!r:.80}")


def _decode_bootstrap(nodes, keyspaces) -> Bootstrap:
    if type(nodes) is not list or type(keyspaces) is not list:
        raise DecodeError("Bootstrap is (array of nodes, array of keyspaces)")
    return Bootstrap(tuple(NodeInfo.from_plain(n) for n in nodes),
                     tuple(decode_spec(s) for s in keyspaces))


def _decode_set_state(node_id, state) -> SetNodeState:
    _strings(node_id, state)
    return SetNodeState(node_id, state)


def _decode_one_string(cls):
    def decode_(value):
        _strings(value)
        return cls(value)
    return decode_


def _decode_update(expected, descriptor) -> UpdateDescriptor:
    if type(expected) is not int:
        raise DecodeError(f"expected generation is not an integer: {expected!r}")
    return UpdateDescriptor(expected, RangeDescriptor.from_plain(descriptor))


_DECODERS = {
    Bootstrap.TAG: _decode_bootstrap,
    AddNode.TAG: lambda node: AddNode(NodeInfo.from_plain(node)),
    SetNodeState.TAG: _decode_set_state,
    RemoveNode.TAG: _decode_one_string(RemoveNode),
    CreateKeyspace.TAG: lambda spec: CreateKeyspace(decode_spec(spec)),
    DropKeyspace.TAG: _decode_one_string(DropKeyspace),
    UpdateDescriptor.TAG: _decode_update,
}


def bootstrap_from_config(config) -> Bootstrap:
    """The first metadata transaction of a cluster started from ``config`` (a
    config.Config, read by attribute): its static node list, every node up, and
    its keyspaces in the order that gives them their ids (default first)."""
    nodes = tuple(NodeInfo(n.id, f"{n.host}:{n.peer_port}", f"{n.host}:{n.resp_port}",
                           f"{n.host}:{n.http_port}") for n in config.cluster.nodes)
    return Bootstrap(nodes, tuple(spec_from_settings(k) for k in config.keyspaces))
