"""The commands of a strong range: what a committed log entry asks the range to do.

A log entry's data is an encoded :class:`Proposal`: one command, the proposer's
clock when it proposed (``now_ms``: every replica decides expiry by it, never by
its own clock) and, for exactly-once, the client's session (``client_id``,
``seq``). A command is a frozen slotted dataclass; everything the proposer
resolves before proposing is resolved in it, so applying it depends on nothing
but the range's state: SET's ``EX 10`` arrives as an absolute ``expiry_ms``, DECR
as ``Incr(key, -1)`` (resp_args.py turns Redis's arguments into commands).

Encoding: msgpack, no pickle. A command is the array ``[tag, *fields]``, fields in
declaration order (a command nested in a :class:`Txn` likewise); a proposal is
``[FORMAT, now_ms, client_id, seq, command]``. Decoding checks every field's type
and range and raises :class:`CodecError` alone, whatever the bytes.

Integers are signed 64-bit (versions, ``now_ms`` and expiry times unsigned), as
Redis's. An expiry of 0 means none.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
import msgpack

from ..placement.partitioner import hash_tag  # noqa: F401 (re-exported for the host)

FORMAT = 1  # the proposal encoding; a change a replica of the previous one would misread bumps it
MAX_CLIENT_ID_BYTES = 64  # a session's client id: part of its record's storage key
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
EXPIRE_CONDITIONS = ("NX", "XX", "GT", "LT")

_packb = msgpack.Packer(use_bin_type=True).pack


class CodecError(ValueError):
    """Bytes (or a decoded array) that are not an encoded proposal or command."""


# ---- the vocabulary -------------------------------------------------------------
# Each command class gets its TAG and the kind of each field (KINDS, for the
# decode checks in ``_CHECKS``) from its ``_command`` decorator.

_BY_TAG: dict[int, type] = {}


def _command(tag: int, *kinds: str):
    def register(cls):
        assert tag not in _BY_TAG and len(kinds) == len(fields(cls))
        cls.TAG, cls.KINDS = tag, kinds
        _BY_TAG[tag] = cls
        return cls
    return register


@_command(1, "bytes")
@dataclass(frozen=True, slots=True)
class Get:
    key: bytes


@_command(2, "keys")
@dataclass(frozen=True, slots=True)
class MGet:
    keys: tuple


@_command(3, "keys")
@dataclass(frozen=True, slots=True)
class Exists:
    """How many of ``keys`` exist (a key given twice counts twice, as in Redis)."""
    keys: tuple


@_command(4, "bytes")
@dataclass(frozen=True, slots=True)
class StrLen:
    key: bytes


@_command(5, "bytes", "int", "int")
@dataclass(frozen=True, slots=True)
class GetRange:
    key: bytes
    start: int
    end: int


@_command(6, "bytes", "bool", "bool")
@dataclass(frozen=True, slots=True)
class Ttl:
    """TTL (``seconds``) or PTTL, or with ``absolute`` EXPIRETIME / PEXPIRETIME:
    -2 absent, -1 no expiry."""
    key: bytes
    seconds: bool = False
    absolute: bool = False


@_command(10, "bytes", "bytes", "uint", "bool", "bool", "bool", "bool")
@dataclass(frozen=True, slots=True)
class Set:
    """SET with its options; ``expiry_ms`` the absolute time EX/PX/EXAT/PXAT gave."""
    key: bytes
    value: bytes
    expiry_ms: int = 0
    keep_ttl: bool = False
    nx: bool = False
    xx: bool = False
    get: bool = False


@_command(11, "bytes", "bytes")
@dataclass(frozen=True, slots=True)
class SetNX:
    key: bytes
    value: bytes


@_command(12, "bytes", "bytes")
@dataclass(frozen=True, slots=True)
class GetSet:
    key: bytes
    value: bytes


@_command(13, "bytes")
@dataclass(frozen=True, slots=True)
class GetDel:
    key: bytes


@_command(14, "bytes", "uint", "bool")
@dataclass(frozen=True, slots=True)
class GetEx:
    """GETEX: the value, and a new absolute expiry (``expiry_ms``) or ``persist``."""
    key: bytes
    expiry_ms: int = 0
    persist: bool = False


@_command(15, "keys")
@dataclass(frozen=True, slots=True)
class Delete:
    keys: tuple


@_command(16, "pairs")
@dataclass(frozen=True, slots=True)
class MSet:
    pairs: tuple  # ((key, value), ...)


@_command(17, "pairs")
@dataclass(frozen=True, slots=True)
class MSetNX:
    pairs: tuple


@_command(18, "bytes", "int")
@dataclass(frozen=True, slots=True)
class Incr:
    """INCR, DECR, INCRBY and DECRBY: add ``by`` (resp_args.py builds them)."""
    key: bytes
    by: int = 1


@_command(19, "bytes", "bytes")
@dataclass(frozen=True, slots=True)
class IncrByFloat:
    """The increment as the client wrote it: the replicas parse it (long double)."""
    key: bytes
    increment: bytes


@_command(20, "bytes", "bytes")
@dataclass(frozen=True, slots=True)
class Append:
    key: bytes
    value: bytes


@_command(21, "bytes", "int", "bytes")
@dataclass(frozen=True, slots=True)
class SetRange:
    key: bytes
    offset: int
    value: bytes


@_command(22, "bytes", "opt_bytes", "bytes", "opt_uint")
@dataclass(frozen=True, slots=True)
class Cas:
    """Compare-and-set: write ``value`` (no expiry) if the live value is
    ``expected`` (None: if the key is absent), or, when ``if_version`` is given,
    if the key's version is it (0: absent) whatever its value. Replies 1 or 0."""
    key: bytes
    expected: bytes | None
    value: bytes
    if_version: int | None = None


@_command(23, "bytes", "int", "conds")
@dataclass(frozen=True, slots=True)
class Expire:
    """EXPIRE-family with the absolute time (ms; at or before ``now_ms``: the key is
    deleted) and EXPIRE's conditions (``"NX"``, ``"XX"``, ``"GT"``, ``"LT"``)."""
    key: bytes
    expiry_ms: int
    conditions: tuple = ()


@_command(24, "bytes")
@dataclass(frozen=True, slots=True)
class Persist:
    key: bytes


@_command(25, "keys")
@dataclass(frozen=True, slots=True)
class Sweep:
    """Delete those of ``keys`` whose records expired by the proposal's clock: the
    host proposes it for the expired records it finds in its range (nothing else
    ever removes them; a read treats them as absent). Replies how many it deleted."""
    keys: tuple


@_command(26, "str")
@dataclass(frozen=True, slots=True)
class Refused:
    """A queued command whose arguments Redis refuses only when EXEC runs it (a
    syntax error, not an integer, ...): in a Txn, its reply is this error, and
    the transaction's other commands still apply, as in Redis."""
    message: str  # the whole error line


@_command(30, "commands", "watches")
@dataclass(frozen=True, slots=True)
class Txn:
    """MULTI ... EXEC: ``commands`` applied in order, atomically, unless a watched
    key's version is no longer the one given ((key, version) pairs; 0: absent)."""
    commands: tuple
    watches: tuple = ()


READ_ONLY = (Get, MGet, Exists, StrLen, GetRange, Ttl)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A log entry's data: a command, its proposer's clock and client session."""
    command: object
    now_ms: int
    client_id: bytes | None = None  # exactly-once: the client's id ...
    seq: int = 0                    # ... and this request's number in its session


def is_read_only(command) -> bool:
    """A command that writes nothing: served after ReadIndex, without a log entry."""
    return isinstance(command, READ_ONLY)


def keys_of(command) -> tuple:
    """Every key a command reads or writes (a Txn's: all its commands' and its
    watched keys'), so the host can check that they lie in one range."""
    match command:
        case MGet(keys=keys) | Exists(keys=keys) | Delete(keys=keys) | Sweep(keys=keys):
            return tuple(keys)
        case MSet(pairs=pairs) | MSetNX(pairs=pairs):
            return tuple(k for k, _ in pairs)
        case Refused():
            return ()
        case Txn(commands=commands, watches=watches):
            return tuple(k for c in commands for k in keys_of(c)) + tuple(k for k, _ in watches)
    return (command.key,)


# ---- encoding ---------------------------------------------------------------------

def command_to_wire(command) -> list:
    out = [command.TAG]
    for kind, f in zip(command.KINDS, fields(command)):
        value = getattr(command, f.name)
        if kind == "commands":
            value = [command_to_wire(c) for c in value]
        elif kind in ("pairs", "watches"):
            value = [list(p) for p in value]
        elif kind in ("keys", "conds"):
            value = list(value)
        out.append(value)
    return out


def encode_command(command) -> bytes:
    return _packb(command_to_wire(command))


def encode_proposal(p: Proposal) -> bytes:
    return _packb([FORMAT, p.now_ms, p.client_id, p.seq, command_to_wire(p.command)])


def _unpack(raw: bytes):
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise CodecError(f"not bytes: {type(raw).__name__}")
    try:
        return msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as e:  # msgpack raises many types on garbage; one error here
        raise CodecError(f"not msgpack: {type(e).__name__}: {e}") from e


def decode_command(raw: bytes):
    return command_from_wire(_unpack(raw))


def decode_proposal(raw: bytes) -> Proposal:
    w = _unpack(raw)
    if not isinstance(w, list) or len(w) != 5 or w[0] != FORMAT or type(w[0]) is not int:
        raise CodecError(f"not a proposal: {w!r:.80}")
    _, now_ms, client_id, seq, command = w
    if not (_is_uint(now_ms) and _is_uint(seq) and (client_id is None or (
            type(client_id) is bytes and len(client_id) <= MAX_CLIENT_ID_BYTES))):
        raise CodecError(f"bad proposal header: {w[:4]!r:.80}")
    return Proposal(command_from_wire(command), now_ms, client_id, seq)


def command_from_wire(w, nested: bool = False):
    """The command an array encodes; CodecError for anything else (a Txn inside
    a Txn too: transactions do not nest)."""
    if not isinstance(w, list) or not w or type(w[0]) is not int or w[0] not in _DECODERS:
        raise CodecError(f"not a command: {w!r:.80}")
    return _DECODERS[w[0]](w, nested)


def _is_int(v) -> bool:
    return type(v) is int and INT64_MIN <= v <= INT64_MAX


def _is_uint(v) -> bool:
    return type(v) is int and 0 <= v <= INT64_MAX


def _is_pair(v, second) -> bool:
    return isinstance(v, list) and len(v) == 2 and type(v[0]) is bytes and second(v[1])


_CHECKS = {
    "bytes": lambda v: type(v) is bytes,
    "str": lambda v: type(v) is str,
    "int": _is_int,
    "uint": _is_uint,
    "bool": lambda v: type(v) is bool,
    "opt_bytes": lambda v: v is None or type(v) is bytes,
    "opt_uint": lambda v: v is None or _is_uint(v),
    "keys": lambda v: isinstance(v, list) and v and all(type(k) is bytes for k in v),
    "conds": lambda v: isinstance(v, list) and all(c in EXPIRE_CONDITIONS for c in v),
    "pairs": lambda v: isinstance(v, list) and v and all(
        _is_pair(p, lambda x: type(x) is bytes) for p in v),
    "watches": lambda v: isinstance(v, list) and all(_is_pair(p, _is_uint) for p in v),
    "commands": lambda v: isinstance(v, list),
}


_PLAIN_KINDS = frozenset({"bytes", "str", "int", "uint", "bool", "opt_bytes", "opt_uint"})


def _decoder(cls):
    """``decode(w, nested)`` of one command class: its fields checked in order. A
    class of plain fields (most) is built from the array as it is: one check call
    per field and no conversion, the path every applied entry takes."""
    size = 1 + len(cls.KINDS)
    kinds = cls.KINDS
    checks = tuple(_CHECKS[k] for k in kinds)
    plain = all(k in _PLAIN_KINDS for k in kinds)

    def decode(w: list, nested: bool):
        if len(w) != size or (nested and cls is Txn):
            raise CodecError(f"bad {cls.__name__}: {w!r:.80}")
        if plain:
            for check, kind, v in zip(checks, kinds, w[1:]):
                if not check(v):
                    raise CodecError(f"bad {kind} field: {v!r:.80}")
            return cls(*w[1:])
        return cls(*[_field(kind, v) for kind, v in zip(kinds, w[1:])])
    return decode


def _field(kind: str, v):
    if not _CHECKS[kind](v):
        raise CodecError(f"bad {kind} field: {v!r:.80}")
    if kind == "commands":
        return tuple(command_from_wire(c, nested=True) for c in v)
    if kind in ("pairs", "watches"):
        return tuple(tuple(p) for p in v)
    if kind in ("keys", "conds"):
        return tuple(v)
    return v


_DECODERS = {tag: _decoder(cls) for tag, cls in _BY_TAG.items()}
