"""What applying (or reading) a command answers: small typed replies.

The RESP layer turns each into Redis's reply (``Ok`` is ``+OK``, ``Nil`` a null
bulk string, or with ``array`` the null array EXEC answers when a WATCH failed;
``Error.message`` is the whole error line, prefix included); HTTP uses
``version``: the log index of the write that last set the key the reply
concerns, as it is after the command (0: the key is absent). A multi-key reply
carries the highest version among its keys.

Replies are kept in the range's session records (core/strong/machine.py), so they
have an explicit msgpack encoding, checked on decode like the commands'.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import resp

# Redis 7's error texts, word for word
NOT_INTEGER = "ERR value is not an integer or out of range"
OVERFLOW = "ERR increment or decrement would overflow"
DECREMENT_OVERFLOW = "ERR decrement would overflow"
NOT_FLOAT = "ERR value is not a valid float"
NAN_OR_INFINITY = "ERR increment would produce NaN or Infinity"
OFFSET_OUT_OF_RANGE = "ERR offset is out of range"
# Redis names its limit, proto-max-bulk-len; here the limit is node.max_value_bytes
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
# QuorumKV's own
DUPLICATE_REQUEST = "ERR duplicate request"
KEY_OUTSIDE_RANGE = ("ERR key is outside the range this command was proposed to "
                     "(the range changed): route it again")


@dataclass(frozen=True, slots=True)
class Ok:
    version: int = 0


@dataclass(frozen=True, slots=True)
class Nil:
    array: bool = False  # EXEC's null array (a WATCHed key changed), not a null bulk
    version: int = 0


@dataclass(frozen=True, slots=True)
class Bulk:
    value: bytes
    version: int = 0


@dataclass(frozen=True, slots=True)
class Int:
    value: int
    version: int = 0


@dataclass(frozen=True, slots=True)
class Error:
    message: str  # the whole error line: "ERR value is not an integer or out of range"
    version: int = 0


@dataclass(frozen=True, slots=True)
class Array:
    items: tuple  # replies
    version: int = 0


Reply = Ok | Nil | Bulk | Int | Error | Array

_OK, _NIL, _BULK, _INT, _ERROR, _ARRAY = range(6)
NULL_ARRAY2 = b"*-1\r\n"


def to_resp(reply: Reply, resp3: bool = False) -> bytes:
    """The reply as Redis sends it, in RESP2 or RESP3."""
    match reply:
        case Ok():
            return resp.OK
        case Nil(array=True) if not resp3:
            return NULL_ARRAY2
        case Nil():
            return resp.null(resp3)
        case Bulk(value=v):
            return resp.bulk(v)
        case Int(value=n):
            return resp.integer(n)
        case Error(message=m):
            return resp.error(m)
        case Array(items=items):
            return resp.array([to_resp(i, resp3) for i in items])
    raise TypeError(f"not a reply: {reply!r:.80}")


class ReplyCodecError(ValueError):
    """Bytes that are not an encoded reply."""


def reply_to_wire(reply: Reply) -> list:
    """The reply as a msgpack-ready array: ``[kind, version, *payload]``."""
    match reply:
        case Ok(version=v):
            return [_OK, v]
        case Nil(array=a, version=v):
            return [_NIL, v, a]
        case Bulk(value=x, version=v):
            return [_BULK, v, x]
        case Int(value=x, version=v):
            return [_INT, v, x]
        case Error(message=m, version=v):
            return [_ERROR, v, m]
        case Array(items=items, version=v):
            return [_ARRAY, v, [reply_to_wire(i) for i in items]]
    raise TypeError(f"not a reply: {reply!r:.80}")


_PAYLOAD = {_NIL: (Nil, bool), _BULK: (Bulk, bytes), _INT: (Int, int), _ERROR: (Error, str)}


def reply_from_wire(w) -> Reply:
    """The inverse of :func:`reply_to_wire`; ReplyCodecError on anything else."""
    if (not isinstance(w, (list, tuple)) or len(w) < 2 or type(w[0]) is not int
            or type(w[1]) is not int):
        raise ReplyCodecError(f"not a reply: {w!r:.80}")
    kind, version = w[0], w[1]
    if kind == _OK and len(w) == 2:
        return Ok(version)
    if kind in _PAYLOAD and len(w) == 3 and type(w[2]) is _PAYLOAD[kind][1]:
        cls = _PAYLOAD[kind][0]
        return cls(w[2], version=version) if cls is not Nil else Nil(w[2], version)
    if kind == _ARRAY and len(w) == 3 and isinstance(w[2], (list, tuple)):
        return Array(tuple(reply_from_wire(i) for i in w[2]), version)
    raise ReplyCodecError(f"not a reply: {w!r:.80}")
