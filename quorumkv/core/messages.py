"""Peer messages: immutable typed records with an explicit msgpack encoding.

A frame body is the msgpack array ``[req_id, tag, *fields]``. ``req_id > 0`` is a
request expecting a reply, ``req_id < 0`` is the reply to request ``-req_id``, and
``0`` is a one-way message: nothing answers it (a ``PutAcks``, which answers
several requests at once, is one; so is a ``StreamAbort``). Each message
type has a fixed tag; fields are encoded in declaration order, with versions as
their plain arrays. No pickle, no bare dicts.

``PROTOCOL_VERSION`` names this set of messages and encodings; it travels in the
handshake (``Hello``), and peers of different versions refuse each other. Change
it with any change a peer of the previous version would misread. Version 1 had
string errors and no version in its Hello; version 2 has typed errors
(``ErrorReply(code, message, payload)``) and streams; version 3 addresses range
requests by range id and generation; version 4 adds strong keyspaces' traffic
(``StrongRequest`` / ``StrongReply``, ``RaftStatusRequest`` / ``RaftStatusReply``,
and core/raft/codec.py's tags 80-82) and the metadata group's forwarded commands
(``MetaRequest`` / ``MetaReply``, tags 28-29) and a joining node's
``JoinRequest`` / ``JoinReply`` (tags 71-72); added within version 4, before any
release carried them.

A request that concerns a range (``Put``, ``Get``, ``Scan``, ``TreeRequest``,
``DigestRequest``, ``FetchRequest``) ends with the ``range_id`` and the
``generation`` of the range descriptor its sender routed it by; the replica
checks them (core/placement/addressing.py) and answers a typed redirect when they
are not what it holds. ``Truncate`` is per keyspace, not per range, and names none.

Messages are ``NamedTuple`` classes, not frozen dataclasses, for the same reason
as :class:`~quorumkv.core.version.Version`: several are built per request, and a
tuple is built in one C call. Decoding checks every field's type.
"""

from typing import NamedTuple, get_type_hints

import msgpack

from ..errors import ErrorCode, remote_error  # noqa: F401 (ErrorCode: for users)
from .version import Version, new_tuple

PROTOCOL_VERSION = 4


class Put(NamedTuple):
    """Store ``version`` for ``key`` if it is newer than what the replica has."""
    TAG = 1
    keyspace: str
    key: bytes
    version: Version
    range_id: int     # the range and generation the sender routed it by
    generation: int


class PutAck(NamedTuple):
    TAG = 2


class PutAcks(NamedTuple):
    """Acknowledges several ``Put`` requests at once: a replica answers all the
    writes of one storage batch with one of these (sent with ``req_id`` 0; the
    transport hands each listed request a ``PutAck``)."""
    TAG = 18
    req_ids: tuple  # (int, ...) the acknowledged requests' ids


class Get(NamedTuple):
    """The stored version of ``key``; with ``digest``, without its value (the read
    compares versions by timestamp and coordinator, which identify a write)."""
    TAG = 3
    keyspace: str
    key: bytes
    digest: bool
    range_id: int
    generation: int


class GetReply(NamedTuple):
    TAG = 4
    version: Version | None


class Scan(NamedTuple):
    """Versions with placement keys in ``[start, end)``, about ``limit`` of them.

    The replica never splits a group of keys sharing one hash prefix, so a cursor
    made of a hash value never skips or repeats a key. With ``reverse`` (range
    keyspaces) the page runs from ``end`` down, keys descending, and ``last_pkey``
    of a truncated reply is the smallest key returned."""
    TAG = 5
    keyspace: str
    start: bytes
    end: bytes
    limit: int
    range_id: int
    generation: int
    reverse: bool = False


class ScanReply(NamedTuple):
    TAG = 6
    items: tuple  # ((key, Version), ...)
    truncated: bool  # stopped at ``limit`` before ``end``
    last_pkey: bytes


class Stats(NamedTuple):
    TAG = 7


class StatsReply(NamedTuple):
    TAG = 8
    node_id: str
    keys: int
    bytes: int
    hlc: int


class ErrorReply(NamedTuple):
    """A typed error answering any request: ``code`` an ``errors.ErrorCode`` (or a
    newer code this version does not know: still an int), ``message`` for logs,
    ``payload`` plain data whose shape the code defines (RANGE_NOT_FOUND and
    STALE_GENERATION: the replica's descriptors; NOT_LEADER: ``(leader id,)``)."""
    TAG = 9
    code: int
    message: str
    payload: tuple = ()

    def error(self):
        """This error as the matching ``errors.RemoteError`` subclass."""
        return remote_error(self.code, self.message, self.payload)


def error_reply(exc: BaseException, code: int = ErrorCode.INTERNAL) -> ErrorReply:
    """An unexpected exception as an INTERNAL (or ``code``) error reply."""
    return ErrorReply(int(code), f"{type(exc).__name__}: {exc}")


class Ping(NamedTuple):
    """A heartbeat; answered with :class:`Pong` (failure detection)."""
    TAG = 10


class Pong(NamedTuple):
    """``incarnation``: the node's start time, so a peer tells a restart from a
    node that kept running (node/heartbeat.py)."""
    TAG = 11
    node_id: str
    incarnation: int = 0


class TreeRequest(NamedTuple):
    """The replica's Merkle tree of one range (anti-entropy, core/merkle.py); the
    asker's root comes along, and equal roots are answered without the leaves.
    Both sides' truncations of the keyspace travel with it (``truncated``: T, or 0
    for none), and each side takes the later one before comparing."""
    TAG = 12
    keyspace: str
    start: bytes
    end: bytes
    depth: int
    root: bytes
    truncated: int
    range_id: int
    generation: int


class TreeReply(NamedTuple):
    TAG = 13
    root: bytes
    leaves: bytes  # 8 bytes per leaf; empty when the roots are equal
    truncated: int = 0  # the replica's truncation of the keyspace (after the asker's)


class DigestRequest(NamedTuple):
    """Per-key digests of the entries in some buckets of a range's tree."""
    TAG = 14
    keyspace: str
    start: bytes
    end: bytes
    depth: int
    buckets: tuple  # (int, ...)
    range_id: int
    generation: int


class DigestReply(NamedTuple):
    TAG = 15
    items: tuple  # ((pkey, digest int), ...)


class FetchRequest(NamedTuple):
    """The stored versions of these placement keys."""
    TAG = 16
    keyspace: str
    pkeys: tuple  # (bytes, ...)
    range_id: int
    generation: int


class FetchReply(NamedTuple):
    TAG = 17
    items: tuple  # ((pkey, Version), ...)


class Truncate(NamedTuple):
    """Truncate ``keyspace`` at HLC timestamp ``ts`` (FLUSHDB, core/truncation.py):
    every version stamped ``ts`` or earlier is gone. Answered with ``PutAck`` once
    the truncation is durable and, with ``sync``, the old versions deleted."""
    TAG = 19
    keyspace: str
    ts: int
    sync: bool = False


class TruncationsRequest(NamedTuple):
    """The replica's truncations (a node asks its peers when it starts)."""
    TAG = 20


class TruncationsReply(NamedTuple):
    TAG = 21
    items: tuple  # ((keyspace, ts), ...)


class RangeStatsRequest(NamedTuple):
    """The replica's per-range rows (node/rangestats.py), for ``GET /v1/ranges``."""
    TAG = 22


class StrongRequest(NamedTuple):
    """A command for a range of a strong keyspace, sent to the node believed to
    lead the range's Raft group: ``command`` is core/strong's encoded command,
    ``client_id`` and ``seq`` its exactly-once session (b"" and 0: none). Answered
    with a ``StrongReply``, or NOT_LEADER (payload ``[leader id or ""]``) or a
    range redirect."""
    TAG = 24
    range_id: int
    generation: int
    command: bytes
    client_id: bytes
    seq: int


class StrongReply(NamedTuple):
    """The state machine's reply: core.strong.replies.reply_to_wire's array."""
    TAG = 25
    reply: list


class MetaRequest(NamedTuple):
    """A metadata command (core.meta.encode) for the metadata group's leader
    (node/raft/meta.py). Answered with a ``MetaReply``, or NOT_LEADER (payload
    ``[leader id or ""]``)."""
    TAG = 28
    command: bytes


class MetaReply(NamedTuple):
    """The command's result as msgpack ``[ok, error, value]`` (core.meta.Result)."""
    TAG = 29
    result: bytes


class RangeStatsReply(NamedTuple):
    """One row per range: ``(range_id, reads, writes, reads per s x 1000, writes
    per s x 1000, stored entries, bytes)``, all integers; entries and bytes are -1
    where this node stores no copy of the range or has not measured it yet."""
    TAG = 23
    node_id: str
    rows: tuple


class RaftStatusRequest(NamedTuple):
    """The replica's Raft groups as node/raft/status.py describes them, for the
    ``strong_ranges`` of ``/v1/cluster``."""
    TAG = 26


class RaftStatusReply(NamedTuple):
    """One row per Raft group of ``node_id``: ``(range_id, role, term, leader,
    commit, applied, progress)``, progress (on a leader; else empty) a tuple of
    ``(member, match, next, state)``; roles and states are core.raft's names
    ("leader", "replicate", ...)."""
    TAG = 27
    node_id: str
    rows: tuple


class Hello(NamedTuple):
    """The first message on every peer connection, from the side that opened it:
    who connects, the protocol version it speaks, and the cluster and layout it
    runs under (core/identity.py). Nothing else is served on a connection before
    its Hello is accepted. (Tags 64 and up are the connection's own messages,
    apart from the data messages.) Its first four fields never change and any
    later version adds fields at the end, so every version can read who connects
    and which version it speaks (a version-1 Hello has no version field)."""
    TAG = 64
    node_id: str
    cluster_id: str  # "" = none
    layout_fingerprint: str
    layout: str  # the layout's canonical JSON, to say what differs on a refusal
    protocol_version: int = PROTOCOL_VERSION


class HelloReply(NamedTuple):
    """The answer to a Hello: the answering node's own identity, and ``refusal``
    empty when it accepts, or why not (then it closes the connection)."""
    TAG = 65
    node_id: str
    cluster_id: str
    layout_fingerprint: str
    layout: str
    refusal: str
    protocol_version: int = PROTOCOL_VERSION


class LegacyHelloReply(NamedTuple):
    """A HelloReply as protocol version 1 reads it (no version field): how a
    version-1 peer hears why it is refused. Sent only, never decoded."""
    TAG = 65
    node_id: str
    cluster_id: str
    layout_fingerprint: str
    layout: str
    refusal: str


class JoinRequest(NamedTuple):
    """Instead of a Hello, on a connection of its own: a node asks to join the
    cluster (node/join.py). ``node`` is core.meta's NodeInfo as msgpack; the
    cluster id is "" when the joining node's configuration names none. Answered
    with one ``JoinReply``, then the connection closes."""
    TAG = 71
    node: bytes
    cluster_id: str
    protocol_version: int = PROTOCOL_VERSION


class JoinReply(NamedTuple):
    """``refusal`` empty when the node is added: then ``cluster_toml`` is the
    cluster's configuration without a [node] section (its id, bootstrap node
    list and keyspaces: the joining node runs under the same layout) and
    ``members`` the msgpack list of every node not left (NodeInfo arrays)."""
    TAG = 72
    refusal: str
    cluster_id: str
    cluster_toml: str
    members: bytes


def version_refusal(node_id: str, version: int, me: str, mine: int) -> str:
    """Why a peer speaking ``version`` is refused ("" if it is ours); names both
    nodes and both versions so that it reads the same in either one's log."""
    if version == mine:
        return ""
    return (f"node {node_id} speaks peer protocol version {version}, node {me} version "
            f"{mine}: run the same QuorumKV version on both")


# ---- streams (net/stream.py): a sequence of chunks with a bounded window ----------


class StreamOpen(NamedTuple):
    """Opens stream ``stream_id`` (unique per sending connection) of ``kind`` (which
    receiver handler gets it); ``header`` is the kind's own opening data. The
    sender keeps at most ``window`` chunks unacknowledged. Answered ``StreamAck``
    (seq 0) or an ``ErrorReply``."""
    TAG = 66
    stream_id: int
    kind: str
    header: bytes
    window: int


class StreamChunk(NamedTuple):
    """Chunk ``seq`` (1, 2, ...) of a stream; answered ``StreamAck`` once the
    receiver's handler has taken it, which frees one place in the window."""
    TAG = 67
    stream_id: int
    seq: int
    data: bytes


class StreamEnd(NamedTuple):
    """The end, after ``chunks`` chunks; answered ``StreamAck`` (seq chunks + 1)
    once the receiver's handler finished, or an ``ErrorReply`` if it failed."""
    TAG = 68
    stream_id: int
    chunks: int


class StreamAck(NamedTuple):
    TAG = 69
    stream_id: int
    seq: int


class StreamAbort(NamedTuple):
    """One-way, from the sender: the stream ends with this error."""
    TAG = 70
    stream_id: int
    message: str


MESSAGE_TYPES = (Put, PutAck, Get, GetReply, Scan, ScanReply, Stats, StatsReply, ErrorReply,
                 Ping, Pong, TreeRequest, TreeReply, DigestRequest, DigestReply,
                 FetchRequest, FetchReply, PutAcks, Truncate, TruncationsRequest,
                 TruncationsReply, RangeStatsRequest, RangeStatsReply, StrongRequest, StrongReply,
                 RaftStatusRequest, RaftStatusReply, MetaRequest, MetaReply, Hello,
                 HelloReply, JoinRequest, JoinReply, StreamOpen, StreamChunk, StreamEnd,
                 StreamAck, StreamAbort)


class DecodeError(Exception):
    """A peer sent a frame we cannot decode: a bug or a version mismatch."""


_PLAIN_TYPES = (str, bytes, int, bool)
# per message type: the (name, type) pairs of its plain fields, checked on decode
_CHECKS = {cls: tuple((name, t) for name, t in get_type_hints(cls).items()
                      if t in _PLAIN_TYPES) for cls in MESSAGE_TYPES}
_packb = msgpack.Packer(use_bin_type=True).pack


# the last Put encoded, and its body after [req_id: a write goes to every replica, so
# the same Put is encoded once for all of them
_last_put: list = [None, b""]


# message class -> its encode(req_id, message): messages defined by other modules
# (core/raft/codec.py), added to the protocol with :func:`extend`
_EXTENDED: dict = {}


def extend(decoders: dict, encoders: dict) -> None:
    """Add another module's messages to the peer protocol: ``decoders`` maps tags
    to functions of the fields, ``encoders`` message classes to ``encode(req_id,
    message)``. A tag may not be taken twice."""
    global MESSAGE_TYPES
    for tag, decoder in decoders.items():
        assert _DECODERS.get(tag, decoder) is decoder, f"tag {tag} is taken"
        _DECODERS[tag] = decoder
    _EXTENDED.update(encoders)
    MESSAGE_TYPES += tuple(cls for cls in encoders if cls not in MESSAGE_TYPES)


def encode(req_id: int, message) -> bytes:
    cls = type(message)
    if cls is Put:
        if message is not _last_put[0]:  # immutable: the same object, the same bytes
            body = _packb([Put.TAG, *message])[1:]  # without its array header; may raise
            _last_put[:] = (message, body)          # so the memo is set only after it
        return b"\x97" + _packb(req_id) + _last_put[1]  # [req_id, tag, 5 fields]
    if cls is PutAck:
        return _packb([req_id, PutAck.TAG])
    if cls is PutAcks:
        return _packb([req_id, PutAcks.TAG, list(message.req_ids)])
    if cls is ScanReply:
        return _packb([req_id, cls.TAG, list(message.items), message.truncated,
                       message.last_pkey])
    if cls is FetchReply or cls is DigestReply or cls is TruncationsReply:
        return _packb([req_id, cls.TAG, list(message.items)])
    if cls is RangeStatsReply:
        return _packb([req_id, cls.TAG, message.node_id, [list(r) for r in message.rows]])
    if cls is RaftStatusReply:
        return _packb([req_id, cls.TAG, message.node_id,
                       [[*row[:6], [list(p) for p in row[6]]] for row in message.rows]])
    extended = _EXTENDED.get(cls)
    if extended is not None:
        return extended(req_id, message)
    return _packb([req_id, cls.TAG, *message])


def _typed_tuple(values, kind) -> tuple:
    if not isinstance(values, (list, tuple)) or any(type(v) is not kind for v in values):
        raise TypeError(f"expected a list of {kind.__name__}")
    return tuple(values)


def _digest_item(item) -> tuple:
    pkey, digest = item
    if type(pkey) is not bytes or type(digest) is not int:
        raise TypeError("digest item is not (bytes, int)")
    return pkey, digest


def _checked(message):
    """``message`` if every plain field holds exactly its declared type."""
    for name, want in _CHECKS[type(message)]:
        if type(getattr(message, name)) is not want:
            raise TypeError(f"{type(message).__name__}.{name} is not {want.__name__}")
    return message


def _scan_item(item) -> tuple:
    key, v = item
    if type(key) is not bytes:
        raise TypeError("scan item key is not bytes")
    return key, Version.from_tuple(v)


def _decode_put(values) -> Put:
    ks, key, v, range_id, generation = values
    if (type(ks) is not str or type(key) is not bytes  # _checked, inline: the most
            or type(range_id) is not int or type(generation) is not int):  # common one
        raise TypeError("Put fields are not (str, bytes, version, int, int)")
    return new_tuple(Put, (ks, key, Version.from_tuple(v), range_id, generation))


def _decode_get(values) -> Get:
    ks, key, digest, range_id, generation = values
    if (type(ks) is not str or type(key) is not bytes or type(digest) is not bool
            or type(range_id) is not int or type(generation) is not int):  # _checked, inline
        raise TypeError("Get fields are not (str, bytes, bool, int, int)")
    return new_tuple(Get, (ks, key, digest, range_id, generation))


def _decode_put_ack(values) -> PutAck:
    if values:
        raise ValueError("PutAck has no fields")
    return PUT_ACK


def _decode_put_acks(values) -> PutAcks:
    (req_ids,) = values
    return new_tuple(PutAcks, (_typed_tuple(req_ids, int),))


def _decode_get_reply(values) -> GetReply:
    (v,) = values
    return new_tuple(GetReply, (None if v is None else Version.from_tuple(v),))


def _decode_scan_reply(values) -> ScanReply:
    items, truncated, last = values
    return _checked(ScanReply(tuple(_scan_item(item) for item in items), truncated, last))


def _decode_digest_request(values) -> DigestRequest:
    ks, start, end, depth, buckets, range_id, generation = values
    return _checked(DigestRequest(ks, start, end, depth, _typed_tuple(buckets, int),
                                  range_id, generation))


def _decode_digest_reply(values) -> DigestReply:
    (items,) = values
    return DigestReply(tuple(_digest_item(item) for item in items))


def _decode_fetch_request(values) -> FetchRequest:
    ks, pkeys, range_id, generation = values
    return _checked(FetchRequest(ks, _typed_tuple(pkeys, bytes), range_id, generation))


def _decode_fetch_reply(values) -> FetchReply:
    (items,) = values
    return FetchReply(tuple(_scan_item(item) for item in items))


def _truncation_item(item) -> tuple:
    keyspace, ts = item
    if type(keyspace) is not str or type(ts) is not int:
        raise TypeError("truncation item is not (str, int)")
    return keyspace, ts


def _decode_truncations_reply(values) -> TruncationsReply:
    (items,) = values
    return TruncationsReply(tuple(_truncation_item(item) for item in items))


PLAIN_DATA_DEPTH = 8


def _plain_data(value, depth: int = 0):
    """``value`` if it is plain data (None, bool, int, float, str, bytes, arrays and
    str-keyed maps of them), arrays as tuples; else TypeError."""
    if value is None or type(value) in (bool, int, float, str, bytes):
        return value
    if depth >= PLAIN_DATA_DEPTH:
        raise TypeError("plain data nested too deep")
    if type(value) in (list, tuple):
        return tuple(_plain_data(v, depth + 1) for v in value)
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: _plain_data(v, depth + 1) for k, v in value.items()}
    raise TypeError(f"not plain data: {type(value).__name__}")


def _decode_error_reply(values) -> ErrorReply:
    code, message, payload = values
    if type(code) is not int or type(message) is not str or type(payload) is not list:
        raise TypeError("ErrorReply is not (int, str, array)")
    return ErrorReply(code, message, _plain_data(payload))


def _hello_fields(values, required: int) -> tuple:
    """A Hello's or HelloReply's fields of this version: the first ``required``
    (strings), then the protocol version (1 when absent: a version-1 peer); fields
    a later version added after it are left out."""
    if len(values) < required:
        raise ValueError("handshake message too short")
    fields = values[:required]
    version = values[required] if len(values) > required else 1
    if any(type(f) is not str for f in fields) or type(version) is not int:
        raise TypeError("handshake fields are not strings and a version")
    return (*fields, version)


def _decode_hello(values) -> Hello:
    return Hello(*_hello_fields(values, 4))


def _decode_hello_reply(values) -> HelloReply:
    return HelloReply(*_hello_fields(values, 5))


def _decode_range_stats_reply(values) -> RangeStatsReply:
    node_id, rows = values
    return _checked(RangeStatsReply(node_id, tuple(_typed_tuple(row, int) for row in rows)))


_RAFT_ROW = (int, str, int, str, int, int)
_RAFT_PROGRESS = (str, int, int, str)


def _typed_row(row, types: tuple) -> tuple:
    if (not isinstance(row, (list, tuple)) or len(row) != len(types)
            or any(type(v) is not t for v, t in zip(row, types))):
        raise TypeError(f"row is not ({', '.join(t.__name__ for t in types)})")
    return tuple(row)


def _raft_status_row(row) -> tuple:
    if not isinstance(row, (list, tuple)) or len(row) != 7 or type(row[6]) is not list:
        raise TypeError("raft status row is not 6 fields and a progress array")
    return (*_typed_row(row[:6], _RAFT_ROW),
            tuple(_typed_row(p, _RAFT_PROGRESS) for p in row[6]))


def _decode_raft_status_reply(values) -> RaftStatusReply:
    node_id, rows = values
    if type(rows) is not list:
        raise TypeError("RaftStatusReply rows are not an array")
    return _checked(RaftStatusReply(node_id, tuple(_raft_status_row(r) for r in rows)))


def _decode_strong_reply(values) -> StrongReply:
    (reply,) = values
    if type(reply) is not list:
        raise TypeError("StrongReply's reply is not an array")
    return StrongReply(reply)


def _plain_decoder(cls):
    return lambda values: _checked(cls(*values))


PUT_ACK = PutAck()
# tag -> decoder of the fields after it: messages whose fields are all plain types
# are built and type-checked as they are; the others rebuild versions and tuples
_DECODERS = {cls.TAG: _plain_decoder(cls) for cls in MESSAGE_TYPES}
_DECODERS.update({Put.TAG: _decode_put, Get.TAG: _decode_get, PutAck.TAG: _decode_put_ack,
                  PutAcks.TAG: _decode_put_acks,
                  GetReply.TAG: _decode_get_reply, ScanReply.TAG: _decode_scan_reply,
                  DigestRequest.TAG: _decode_digest_request,
                  DigestReply.TAG: _decode_digest_reply,
                  FetchRequest.TAG: _decode_fetch_request,
                  FetchReply.TAG: _decode_fetch_reply,
                  TruncationsReply.TAG: _decode_truncations_reply,
                  ErrorReply.TAG: _decode_error_reply,
                  RangeStatsReply.TAG: _decode_range_stats_reply,
                  StrongReply.TAG: _decode_strong_reply,
                  RaftStatusReply.TAG: _decode_raft_status_reply,
                  Hello.TAG: _decode_hello, HelloReply.TAG: _decode_hello_reply})


def decode_body(body: list) -> tuple[int, object]:
    try:
        req_id = body[0]
        if type(req_id) is not int:
            raise TypeError("req_id is not an int")
        return req_id, _DECODERS[body[1]](body[2:])
    except (ValueError, TypeError, LookupError) as exc:
        raise DecodeError(f"bad peer frame: {exc!r}") from exc


__all__ = [cls.__name__ for cls in MESSAGE_TYPES] + [
    "encode", "decode_body", "DecodeError", "PUT_ACK", "PROTOCOL_VERSION", "ErrorCode",
    "LegacyHelloReply", "error_reply", "version_refusal"]
