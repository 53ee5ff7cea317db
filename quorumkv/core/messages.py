"""Peer messages: frozen, slotted dataclasses with an explicit msgpack encoding.

A frame body is the msgpack array ``[req_id, tag, *fields]``. ``req_id > 0`` is a
request expecting a reply, ``req_id < 0`` is the reply to request ``-req_id``, and
``0`` is one-way. Each message type has a fixed tag; fields are encoded in
declaration order, with versions as their plain tuples. No pickle, no bare dicts.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

import msgpack

from .version import Version


@dataclass(frozen=True, slots=True)
class Put:
    """Store ``version`` for ``key`` if it is newer than what the replica has."""
    TAG = 1
    keyspace: str
    key: bytes
    version: Version


@dataclass(frozen=True, slots=True)
class PutAck:
    TAG = 2


@dataclass(frozen=True, slots=True)
class Get:
    TAG = 3
    keyspace: str
    key: bytes


@dataclass(frozen=True, slots=True)
class GetReply:
    TAG = 4
    version: Version | None


@dataclass(frozen=True, slots=True)
class Scan:
    """Versions with placement keys in ``[start, end)``, about ``limit`` of them.

    The replica never splits a group of keys sharing one hash prefix, so a cursor
    made of a hash value never skips or repeats a key."""
    TAG = 5
    keyspace: str
    start: bytes
    end: bytes
    limit: int


@dataclass(frozen=True, slots=True)
class ScanReply:
    TAG = 6
    items: tuple  # ((key, Version), ...)
    truncated: bool  # stopped at ``limit`` before ``end``
    last_pkey: bytes


@dataclass(frozen=True, slots=True)
class Stats:
    TAG = 7


@dataclass(frozen=True, slots=True)
class StatsReply:
    TAG = 8
    node_id: str
    keys: int
    bytes: int
    hlc: int


@dataclass(frozen=True, slots=True)
class ErrorReply:
    TAG = 9
    message: str


MESSAGE_TYPES = (Put, PutAck, Get, GetReply, Scan, ScanReply, Stats, StatsReply, ErrorReply)
_BY_TAG = {cls.TAG: cls for cls in MESSAGE_TYPES}


class DecodeError(Exception):
    """A peer sent a frame we cannot decode: a bug or a version mismatch."""


_PLAIN_TYPES = {"str": str, "bytes": bytes, "int": int, "bool": bool}
# per message type: its field names, and the (name, type) pairs checked on decode
_FIELD_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in MESSAGE_TYPES}
_CHECKS = {cls: tuple((f.name, _PLAIN_TYPES[f.type]) for f in fields(cls)
                      if f.type in _PLAIN_TYPES) for cls in MESSAGE_TYPES}


def encode(req_id: int, message) -> bytes:
    cls = type(message)
    if cls is Put:  # the hot path
        body = [req_id, 1, message.keyspace, message.key, message.version.as_tuple()]
    elif cls is ScanReply:
        body = [req_id, cls.TAG, [(k, v.as_tuple()) for k, v in message.items],
                message.truncated, message.last_pkey]
    elif cls is GetReply:
        body = [req_id, cls.TAG,
                None if message.version is None else message.version.as_tuple()]
    else:
        body = [req_id, cls.TAG] + [getattr(message, name) for name in _FIELD_NAMES[cls]]
    return msgpack.packb(body, use_bin_type=True)


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


def decode_body(body: list) -> tuple[int, object]:
    try:
        req_id, tag, *values = body
        if type(req_id) is not int:
            raise TypeError("req_id is not an int")
        cls = _BY_TAG[tag]
        if cls is Put:
            ks, key, v = values
            return req_id, _checked(Put(ks, key, Version.from_tuple(v)))
        if cls is GetReply:
            (v,) = values
            return req_id, GetReply(None if v is None else Version.from_tuple(v))
        if cls is ScanReply:
            items, truncated, last = values
            return req_id, _checked(ScanReply(
                tuple(_scan_item(item) for item in items), truncated, last))
        return req_id, _checked(cls(*values))
    except (ValueError, TypeError, LookupError) as exc:
        raise DecodeError(f"bad peer frame: {exc!r}") from exc


__all__ = [cls.__name__ for cls in MESSAGE_TYPES] + ["encode", "decode_body", "DecodeError",
                                                       "astuple"]
