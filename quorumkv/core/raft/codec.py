"""The wire form of Raft traffic between two nodes: explicit msgpack, checked on decode.

A node sends another, per loop turn, the Raft messages of all its groups for that
node in one :class:`RaftBatch`, and the heartbeats of all the groups it leads there
in one :class:`NodeHeartbeat` (the answers in one :class:`NodeHeartbeatResp`): one
heartbeat per node pair per tick, not one per group (CockroachDB coalesces
them so too). The host turns a turn's outgoing ``(group, Message)`` pairs into
these with :func:`collapse_heartbeats` and :func:`batch_by_destination`, and a
received heartbeat back into per-group HEARTBEAT / HEARTBEAT_RESP messages with
:func:`expand_heartbeat`. Raft tolerates reordering, so a heartbeat travelling
apart from its group's other messages is safe.

Bodies follow core/messages.py, ``[req_id, tag, *fields]``, with tags 80-89
(messages.py uses 1-23 and 64-70; 83-89 are free for later Raft messages):

    80 RaftBatch          [[group, [message, ...]], ...]
    81 NodeHeartbeat      frm, to, [[group, term, commit, context], ...]
    82 NodeHeartbeatResp  frm, to, [[group, term, commit, context], ...]

    message    [type, to, frm, term, log_term, index, [entry, ...], commit, reject,
                reject_hint, snapshot or nil, context]
    entry      [term, index, type, data]
    snapshot   [index, term, conf state, data]
    conf state [voters, learners, voters_outgoing, learners_next, auto_leave]
               (ids as sorted arrays of strings)

Every field is always present. Decoding checks every type (and that terms and
indexes are non-negative, and that a message type is one sent on the wire), and
raises :class:`CodecError` (a messages.DecodeError) on anything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import msgpack

from .. import messages
from ..messages import DecodeError
from .types import (LOCAL_MESSAGES, ConfState, Entry, EntryType, Message, MessageType,
                    Snapshot, SnapshotMeta)


class CodecError(DecodeError):
    """Bytes or a body that are not a Raft message this version can read."""


class RaftBatch(NamedTuple):
    """The messages of many groups from one node to another: ``((group, (Message,
    ...)), ...)``, each group's messages in the order its Ready gave them."""
    TAG = 80
    groups: tuple


class GroupBeat(NamedTuple):
    """One group's heartbeat (or its answer) inside a node heartbeat."""
    group: int
    term: int
    commit: int
    context: bytes = b""


class NodeHeartbeat(NamedTuple):
    """The heartbeats of every group where ``frm`` leads ``to``, in one message."""
    TAG = 81
    frm: str
    to: str
    beats: tuple  # (GroupBeat, ...)


class NodeHeartbeatResp(NamedTuple):
    """The answers of ``frm`` to a NodeHeartbeat: one beat per group it answers."""
    TAG = 82
    frm: str
    to: str
    beats: tuple  # (GroupBeat, ...)


RAFT_TAGS = (RaftBatch.TAG, NodeHeartbeat.TAG, NodeHeartbeatResp.TAG)


# ---- coalescing heartbeats --------------------------------------------------------------

# the message type of each node heartbeat, and back
_BEAT_TYPES = {NodeHeartbeat: MessageType.HEARTBEAT,
               NodeHeartbeatResp: MessageType.HEARTBEAT_RESP}
_BEAT_CLASSES = {t: cls for cls, t in _BEAT_TYPES.items()}


def _is_plain_beat(msg: Message) -> bool:
    """A HEARTBEAT(_RESP) whose fields all fit in a GroupBeat; another one (never
    made by raft.py) travels as it is, in a batch, so nothing is lost."""
    return (msg.type in _BEAT_CLASSES and msg.log_term == 0 and msg.index == 0
            and not msg.entries and not msg.reject and msg.reject_hint == 0
            and msg.snapshot is None)


def collapse_heartbeats(outgoing: Iterable[tuple[int, Message]]
                        ) -> tuple[list, list[tuple[int, Message]]]:
    """``(node heartbeats, the rest)``: the HEARTBEAT and HEARTBEAT_RESP messages of
    ``outgoing`` as one NodeHeartbeat and one NodeHeartbeatResp per (frm, to) pair,
    beats in the order given; every other pair, in order, as the rest."""
    beats: dict[tuple, list[GroupBeat]] = {}
    rest = []
    for group, msg in outgoing:
        if _is_plain_beat(msg):
            key = (_BEAT_CLASSES[msg.type], msg.frm, msg.to)
            beats.setdefault(key, []).append(GroupBeat(group, msg.term, msg.commit,
                                                       msg.context))
        else:
            rest.append((group, msg))
    return [cls(frm, to, tuple(b)) for (cls, frm, to), b in beats.items()], rest


def expand_heartbeat(heartbeat: NodeHeartbeat | NodeHeartbeatResp
                     ) -> list[tuple[int, Message]]:
    """The per-group messages a node heartbeat stands for, in its order."""
    kind = _BEAT_TYPES[type(heartbeat)]
    return [(b.group, Message(kind, heartbeat.to, heartbeat.frm, b.term, commit=b.commit,
                              context=b.context)) for b in heartbeat.beats]


def batch_by_destination(outgoing: Iterable[tuple[int, Message]]) -> dict[str, RaftBatch]:
    """One RaftBatch per receiving node; each group's messages keep their order."""
    by_node: dict[str, dict[int, list[Message]]] = {}
    for group, msg in outgoing:
        by_node.setdefault(msg.to, {}).setdefault(group, []).append(msg)
    return {node: RaftBatch(tuple((g, tuple(msgs)) for g, msgs in groups.items()))
            for node, groups in by_node.items()}


# ---- encoding ---------------------------------------------------------------------------

_packb = msgpack.Packer(use_bin_type=True).pack


def _conf_state(cs: ConfState) -> list:
    return [sorted(cs.voters), sorted(cs.learners), sorted(cs.voters_outgoing),
            sorted(cs.learners_next), cs.auto_leave]


def _snapshot(snap: Snapshot | None):
    if snap is None:
        return None
    meta = snap.meta
    return [meta.index, meta.term, _conf_state(meta.conf_state), snap.data]


def message_fields(msg: Message) -> list:
    """The array one Message is on the wire."""
    if msg.type in LOCAL_MESSAGES:
        raise ValueError(f"{msg.type.name} is a local message: it is never sent")
    return [int(msg.type), msg.to, msg.frm, msg.term, msg.log_term, msg.index,
            [[e.term, e.index, int(e.type), e.data] for e in msg.entries], msg.commit,
            msg.reject, msg.reject_hint, _snapshot(msg.snapshot), msg.context]


def _beats(beats) -> list:
    return [[b.group, b.term, b.commit, b.context] for b in beats]


def encode(req_id: int, message) -> bytes:
    """The body ``[req_id, tag, *fields]`` of a RaftBatch or a node heartbeat."""
    cls = type(message)
    if cls is RaftBatch:
        groups = [[g, [message_fields(m) for m in msgs]] for g, msgs in message.groups]
        return _packb([req_id, RaftBatch.TAG, groups])
    if cls is NodeHeartbeat or cls is NodeHeartbeatResp:
        return _packb([req_id, cls.TAG, message.frm, message.to, _beats(message.beats)])
    raise TypeError(f"not a Raft wire message: {cls.__name__}")


# ---- decoding: every check raises TypeError or ValueError, wrapped once ------------------

_WIRE_TYPES = {int(t): t for t in MessageType if t not in LOCAL_MESSAGES}
_ENTRY_TYPES = {int(t): t for t in EntryType}


def _uint(value, what: str) -> int:
    if type(value) is not int or value < 0:
        raise TypeError(f"{what} is not a non-negative integer: {value!r}")
    return value


def _array(value, size: int | None, what: str) -> list:
    if type(value) is not list or (size is not None and len(value) != size):
        raise TypeError(f"{what} is not an array" + (f" of {size}" if size else ""))
    return value


def _ids(value, what: str) -> frozenset[str]:
    if type(value) is not list or any(type(v) is not str for v in value):
        raise TypeError(f"{what} is not an array of strings")
    return frozenset(value)


def _decode_conf_state(value) -> ConfState:
    voters, learners, outgoing, learners_next, auto_leave = _array(value, 5, "conf state")
    if type(auto_leave) is not bool:
        raise TypeError("conf state auto_leave is not a bool")
    return ConfState(_ids(voters, "voters"), _ids(learners, "learners"),
                     _ids(outgoing, "voters_outgoing"), _ids(learners_next, "learners_next"),
                     auto_leave)


def _decode_snapshot(value) -> Snapshot | None:
    if value is None:
        return None
    index, term, conf_state, data = _array(value, 4, "snapshot")
    if type(data) is not bytes:
        raise TypeError("snapshot data is not bytes")
    return Snapshot(SnapshotMeta(_uint(index, "snapshot index"), _uint(term, "snapshot term"),
                                 _decode_conf_state(conf_state)), data)


def _decode_entry(value) -> Entry:
    if type(value) is not list or len(value) != 4:
        raise TypeError("an entry is not an array of 4")
    term, index, kind, data = value
    if (type(term) is not int or type(index) is not int or term < 0 or index < 0
            or type(kind) is not int or type(data) is not bytes):
        raise TypeError("an entry is not [term, index, type, data]")
    return Entry(term, index, data, _ENTRY_TYPES[kind])


def decode_message(value) -> Message:
    """The Message one wire array stands for."""
    (kind, to, frm, term, log_term, index, entries, commit, reject, reject_hint, snapshot,
     context) = _array(value, 12, "a message")
    if type(kind) is not int or kind not in _WIRE_TYPES:
        raise ValueError(f"message type {kind!r} is not sent on the wire")
    if type(to) is not str or type(frm) is not str:
        raise TypeError("message to / frm are not strings")
    if type(reject) is not bool or type(context) is not bytes:
        raise TypeError("message reject / context are not bool / bytes")
    return Message(_WIRE_TYPES[kind], to, frm, _uint(term, "term"), _uint(log_term, "log_term"),
                   _uint(index, "index"),
                   tuple(map(_decode_entry, _array(entries, None, "entries"))),
                   _uint(commit, "commit"), reject, _uint(reject_hint, "reject_hint"),
                   _decode_snapshot(snapshot), context)


def _decode_group(value) -> tuple[int, tuple[Message, ...]]:
    group, msgs = _array(value, 2, "a batch group")
    return _uint(group, "group id"), tuple(map(decode_message, _array(msgs, None, "messages")))


def _decode_batch(values) -> RaftBatch:
    (groups,) = values
    return RaftBatch(tuple(map(_decode_group, _array(groups, None, "batch groups"))))


def _decode_beat(value) -> GroupBeat:
    group, term, commit, context = _array(value, 4, "a group beat")
    if type(context) is not bytes:
        raise TypeError("beat context is not bytes")
    return GroupBeat(_uint(group, "group id"), _uint(term, "term"), _uint(commit, "commit"),
                     context)


def _heartbeat_decoder(cls):
    def decode(values):
        frm, to, beats = values
        if type(frm) is not str or type(to) is not str:
            raise TypeError("heartbeat frm / to are not strings")
        return cls(frm, to, tuple(map(_decode_beat, _array(beats, None, "beats"))))
    return decode


# tag -> decoder of the fields after the tag (for the transport's table of decoders);
# each raises ValueError, TypeError or LookupError on bad input, as messages.py's do
DECODERS = {RaftBatch.TAG: _decode_batch,
            NodeHeartbeat.TAG: _heartbeat_decoder(NodeHeartbeat),
            NodeHeartbeatResp.TAG: _heartbeat_decoder(NodeHeartbeatResp)}


def decode_body(body) -> tuple[int, object]:
    """``(req_id, message)`` of a decoded body ``[req_id, tag, *fields]``."""
    try:
        body = _array(body, None, "a body")
        if len(body) < 2:  # said here: the interpreter's unpacking message varies
            raise ValueError(f"not enough values in a body: {len(body)} of at least 2")
        req_id, tag = body[:2]
        if type(req_id) is not int or type(tag) is not int:
            raise TypeError("req_id / tag are not integers")
        if tag not in DECODERS:
            raise ValueError(f"tag {tag} is not a Raft message")
        return req_id, DECODERS[tag](body[2:])
    except (ValueError, TypeError, LookupError) as exc:
        raise CodecError(f"bad Raft message: {exc}") from exc


def decode(data: bytes) -> tuple[int, object]:
    """``(req_id, message)`` of the bytes ``encode`` gave."""
    try:
        body = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise CodecError(f"bad Raft message: not one msgpack value: {exc}") from exc
    return decode_body(body)


# Raft traffic travels in the same frames as every other peer message.
messages.extend(DECODERS, {RaftBatch: encode, NodeHeartbeat: encode, NodeHeartbeatResp: encode})
