"""Redis arguments to strong-range commands: what the proposer resolves.

``command_from_args([b"SET", b"k", b"v", b"EX", b"10"], now_ms)`` is
``Set(b"k", b"v", expiry_ms=now_ms + 10_000)``. Everything that depends on the
arguments alone is checked here, before anything is proposed, with Redis 7's
error text (:class:`ArgError`): arity, syntax, integers, expire times, DECRBY's
one impossible amount, a float increment that Redis would refuse. What depends on
the stored value (an INCR of "abc") is the machine's to answer.
"""

from __future__ import annotations

from ..strings import INT64_MAX, INT64_MIN, is_canonical_int64
from . import commands as c
from . import longdouble
from .replies import DECREMENT_OVERFLOW, NOT_FLOAT, NOT_INTEGER, OFFSET_OUT_OF_RANGE

SYNTAX = "ERR syntax error"


class ArgError(ValueError):
    """Arguments Redis refuses; ``str()`` is the whole error line, with its prefix."""


class ArityError(ArgError):
    """The wrong number of arguments: Redis refuses it even inside MULTI, when
    queueing (and EXEC then answers EXECABORT)."""


def command_from_args(args: list[bytes], now_ms: int):
    """The command Redis's ``args`` (name first) ask for, proposed at ``now_ms``;
    ArgError as Redis answers; KeyError for a name this module does not know."""
    name = args[0].upper().decode("latin-1")
    arity, build = _COMMANDS[name]
    if (arity >= 0 and len(args) != arity) or len(args) < -arity:
        raise ArityError(f"ERR wrong number of arguments for '{name.lower()}' command")
    return build(args, now_ms)


def queued_command(args: list[bytes], now_ms: int):
    """A command of a MULTI block, built when EXEC runs (at ``now_ms``): an
    argument error Redis gives only then becomes a :class:`~.commands.Refused`
    in the transaction; an arity error is raised, as Redis refuses to queue it."""
    try:
        return command_from_args(args, now_ms)
    except ArityError:
        raise
    except ArgError as e:
        return c.Refused(str(e))


def is_supported(name: bytes) -> bool:
    return name.upper().decode("latin-1") in _COMMANDS


def to_int(raw: bytes) -> int:
    """A Redis integer argument (string2ll: no ``+``, spaces or leading zeros)."""
    if not is_canonical_int64(raw):
        raise ArgError(NOT_INTEGER)
    return int(raw)


def _invalid_expire(command: str) -> ArgError:
    return ArgError(f"ERR invalid expire time in '{command}' command")


def _expiry(option: bytes, raw: bytes, now_ms: int, command: str) -> int:
    """The absolute expiry of SET's, SETEX's or GETEX's ``EX/PX/EXAT/PXAT n``: ``n``
    positive, and no step of Redis's 64-bit arithmetic overflowing."""
    n = to_int(raw)
    if n <= 0:
        raise _invalid_expire(command)
    if option in (b"EX", b"EXAT"):
        if n > INT64_MAX // 1000:
            raise _invalid_expire(command)
        n *= 1000
    if option in (b"EX", b"PX"):
        if n > INT64_MAX - now_ms:
            raise _invalid_expire(command)
        n += now_ms
    return n


_EXPIRES = (b"EX", b"PX", b"EXAT", b"PXAT")


def _set(args, now_ms):
    """SET's options as Redis 7 parses them: an option may repeat, but EX/PX/EXAT/
    PXAT/KEEPTTL exclude each other, and so do NX and XX; the expire time is read
    after all the options (a syntax error wins over a bad number)."""
    flags = {"keep_ttl": False, "nx": False, "xx": False, "get": False}
    unit = raw = None  # the expire option given, and its argument
    i = 3
    while i < len(args):
        option = args[i].upper()
        if option in _EXPIRES and unit in (None, option) and not flags["keep_ttl"] \
                and i + 1 < len(args):
            unit, raw = option, args[i + 1]
            i += 2
            continue
        if option == b"NX" and not flags["xx"]:
            flags["nx"] = True
        elif option == b"XX" and not flags["nx"]:
            flags["xx"] = True
        elif option == b"KEEPTTL" and unit is None:
            flags["keep_ttl"] = True
        elif option == b"GET":
            flags["get"] = True
        else:
            raise ArgError(SYNTAX)
        i += 1
    expiry = _expiry(unit, raw, now_ms, "set") if unit else 0
    return c.Set(args[1], args[2], expiry, **flags)


def _getex(args, now_ms):
    persist, unit, raw = False, None, None
    i = 2
    while i < len(args):
        option = args[i].upper()
        if option in _EXPIRES and unit in (None, option) and not persist and i + 1 < len(args):
            unit, raw = option, args[i + 1]
            i += 2
        elif option == b"PERSIST" and unit is None:
            persist = True
            i += 1
        else:
            raise ArgError(SYNTAX)
    return c.GetEx(args[1], _expiry(unit, raw, now_ms, "getex") if unit else 0, persist)


_CONDITIONS = (b"NX", b"XX", b"GT", b"LT")


def _expire_family(unit_ms: int, relative: bool, command: str):
    def build(args, now_ms):
        conditions = expire_conditions(args[3:])
        n = to_int(args[2])
        if unit_ms == 1000:
            if not INT64_MIN // 1000 < n <= INT64_MAX // 1000:
                raise _invalid_expire(command)
            n *= 1000
        if relative:
            if n > INT64_MAX - now_ms:
                raise _invalid_expire(command)
            n += now_ms
        return c.Expire(args[1], n, conditions)
    return build


def expire_conditions(options) -> tuple:
    """EXPIRE's ``[NX|XX|GT|LT]...``, checked as Redis 7 does (the eventual EXPIRE
    of api/resp/expiry.py uses it too)."""
    given = set()
    for raw in options:
        option = raw.upper()
        if option not in _CONDITIONS:
            raise ArgError(f"ERR Unsupported option {raw.decode(errors='replace')}")
        given.add(option)
    if b"NX" in given and len(given) > 1:
        raise ArgError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if b"GT" in given and b"LT" in given:
        raise ArgError("ERR GT and LT options at the same time are not compatible")
    return tuple(sorted(o.decode() for o in given))


def _pairs(args, command: str) -> tuple:
    """MSET's pairs. An odd count is an arity error Redis finds only when the
    command runs (so inside MULTI it is queued, then fails in EXEC's array)."""
    if len(args) % 2 != 1:
        raise ArgError(f"ERR wrong number of arguments for '{command}' command")
    return tuple(zip(args[1::2], args[2::2]))


def _decrby(args, now_ms):
    amount = to_int(args[2])
    if amount == INT64_MIN:  # its negation is no 64-bit integer
        raise ArgError(DECREMENT_OVERFLOW)
    return c.Incr(args[1], -amount)


def _incrbyfloat(args, now_ms):
    try:
        longdouble.parse(args[2])  # refused now rather than after a log entry
    except longdouble.NotAFloat:
        raise ArgError(NOT_FLOAT) from None
    return c.IncrByFloat(args[1], args[2])


def _setrange(args, now_ms):
    offset = to_int(args[2])
    if offset < 0:
        raise ArgError(OFFSET_OUT_OF_RANGE)
    return c.SetRange(args[1], offset, args[3])


def _setex(option: bytes, command: str):
    return lambda a, now: c.Set(a[1], a[3], expiry_ms=_expiry(option, a[2], now, command))


_COMMANDS = {
    "GET": (2, lambda a, now: c.Get(a[1])),
    "MGET": (-2, lambda a, now: c.MGet(tuple(a[1:]))),
    "EXISTS": (-2, lambda a, now: c.Exists(tuple(a[1:]))),
    "STRLEN": (2, lambda a, now: c.StrLen(a[1])),
    "GETRANGE": (4, lambda a, now: c.GetRange(a[1], to_int(a[2]), to_int(a[3]))),
    "TTL": (2, lambda a, now: c.Ttl(a[1], seconds=True)),
    "PTTL": (2, lambda a, now: c.Ttl(a[1])),
    "EXPIRETIME": (2, lambda a, now: c.Ttl(a[1], seconds=True, absolute=True)),
    "PEXPIRETIME": (2, lambda a, now: c.Ttl(a[1], absolute=True)),
    "SET": (-3, _set),
    "SETNX": (3, lambda a, now: c.SetNX(a[1], a[2])),
    "SETEX": (4, _setex(b"EX", "setex")),
    "PSETEX": (4, _setex(b"PX", "psetex")),
    "GETSET": (3, lambda a, now: c.GetSet(a[1], a[2])),
    "GETDEL": (2, lambda a, now: c.GetDel(a[1])),
    "GETEX": (-2, _getex),
    "DEL": (-2, lambda a, now: c.Delete(tuple(a[1:]))),
    "UNLINK": (-2, lambda a, now: c.Delete(tuple(a[1:]))),
    "MSET": (-3, lambda a, now: c.MSet(_pairs(a, "mset"))),
    "MSETNX": (-3, lambda a, now: c.MSetNX(_pairs(a, "msetnx"))),
    "INCR": (2, lambda a, now: c.Incr(a[1], 1)),
    "DECR": (2, lambda a, now: c.Incr(a[1], -1)),
    "INCRBY": (3, lambda a, now: c.Incr(a[1], to_int(a[2]))),
    "DECRBY": (3, _decrby),
    "INCRBYFLOAT": (3, _incrbyfloat),
    "APPEND": (3, lambda a, now: c.Append(a[1], a[2])),
    "SETRANGE": (4, _setrange),
    "EXPIRE": (-3, _expire_family(1000, True, "expire")),
    "PEXPIRE": (-3, _expire_family(1, True, "pexpire")),
    "EXPIREAT": (-3, _expire_family(1000, False, "expireat")),
    "PEXPIREAT": (-3, _expire_family(1, False, "pexpireat")),
    "PERSIST": (2, lambda a, now: c.Persist(a[1])),
    # QuorumKV's compare-and-set: QKV.CAS key expected new -> 1 (swapped) or 0
    "QKV.CAS": (4, lambda a, now: c.Cas(a[1], a[2], a[3])),
}
