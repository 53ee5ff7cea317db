"""The commands of a strong keyspace: RESP arguments turned into core/strong
commands, the range's reply turned back into Redis's.

A connection whose keyspace is strong (``ctx.strong``) looks its commands up in
:data:`STRONG` first (the server's ``_start_next`` does, through
:func:`strong_spec`): each key command there parses its arguments with Redis's
arity and syntax errors into one core.strong command, which the keyspace's
StrongReplicator (``KV.strong``) runs on the one range that holds its keys
(keys in several ranges: ``-CROSSSLOT``, Redis Cluster's answer; keys that share
a hash tag ``{...}`` share a range). Commands that need no keyspace (PING,
CLIENT, QKV.USE ...) run as on any keyspace; the data commands strong keyspaces
do not serve yet (SCAN, KEYS, RENAME ...) answer an error naming them.

Exactly-once. A write carries a client session: a random 16-byte client id and
that session's next sequence number; the range applies one (id, seq) once,
however often the replicator retries it. A range keeps one reply per session,
for requests sent one after another, so a connection takes one session per
write it has in flight (pipelined writes of one connection each get their own,
reused once answered): the first is drawn (os.urandom) at its first strong
write, more only while writes overlap (at most the connection's in-flight
bound). Reads take no log entry and no session.

Transactions. MULTI queues key commands (``+QUEUED``); a command refused at
queue time (unknown, wrong arity, not a key command of the keyspace, or keys in
another range than the transaction's) answers its error and makes EXEC answer
EXECABORT, as Redis does. EXEC parses the queued commands (a syntax error is
that command's reply in EXEC's array, the others still apply, as in Redis) and
sends one core ``Txn`` with the versions WATCH read; a watched key that changed
makes EXEC answer the null array.
"""

from __future__ import annotations

import dataclasses
import os

from ...core import resp
from ...core.strong import commands as c
from ...core.strong.replies import Array, Bulk, Error, Int, Nil, Ok
from ...errors import (ArityError, ExecAbortError, QuorumKVError, RequestError,
                       SyntaxError_, UnknownCommandError, UnsupportedError)
from .expiry import _to_ms, parse_conditions, parse_expiry
from .registry import COMMANDS, ONE_KEY, Spec, error_reply, to_int
from .strings import _needs_strong, _set_options

MAX_TXN_COMMANDS = 10_000  # queued in one MULTI; more is refused (and aborts EXEC)
NULL_ARRAY2 = b"*-1\r\n"


# ---- replies --------------------------------------------------------------------------

def to_resp(reply, resp3: bool) -> bytes:
    """A core.strong reply as Redis encodes it."""
    match reply:
        case Ok():
            return resp.OK
        case Nil(array=True):
            return resp.NULL3 if resp3 else NULL_ARRAY2
        case Nil():
            return resp.null(resp3)
        case Bulk(value=value):
            return resp.bulk(value)
        case Int(value=value):
            return resp.integer(value)
        case Error(message=message):
            return resp.error(message)
        case Array(items=items):
            return resp.array([to_resp(i, resp3) for i in items])
    raise TypeError(f"not a strong reply: {reply!r:.80}")


def _type_reply(reply, resp3: bool) -> bytes:
    """TYPE from a Get: every value of a strong keyspace is a string."""
    if isinstance(reply, Error):
        return to_resp(reply, resp3)
    return resp.simple("string" if isinstance(reply, Bulk) else "none")


# ---- arguments -> commands ----------------------------------------------------------------
# Each parser takes (ctx, args) and returns the core command; it raises the
# RequestError Redis answers for bad arguments. Limits are checked in _checked.

def _set(ctx, args):
    expiry, nx, xx, keep_ttl, get = _set_options(ctx, args)
    return c.Set(args[1], args[2], expiry, keep_ttl, nx, xx, get)


def _setex(unit: bytes, name: str):
    def parse(ctx, args):
        return c.Set(args[1], args[3], parse_expiry(ctx, unit, args[2], name))
    return parse


def _getex(ctx, args):
    """GETEX's options as Redis reads them: one expiry kind (repeatable, the last
    wins) or PERSIST (repeatable), the time parsed once every option is read."""
    unit, raw, persist = None, None, False
    i = 2
    while i < len(args):
        option = args[i].upper()
        if option == b"PERSIST" and unit is None:
            persist, i = True, i + 1
        elif (option in (b"EX", b"PX", b"EXAT", b"PXAT") and not persist
              and unit in (None, option) and i + 1 < len(args)):
            unit, raw, i = option, args[i + 1], i + 2
        else:
            raise SyntaxError_("syntax error")
    if unit is None:
        return c.GetEx(args[1], persist=persist)
    return c.GetEx(args[1], parse_expiry(ctx, unit, raw, "getex"))


def _pairs(args, name: str) -> tuple:
    if len(args) % 2 != 1:
        raise ArityError(name)
    return tuple(zip(args[1::2], args[2::2]))


def _decrby(ctx, args):
    try:
        return c.decrby(args[1], to_int(args[2]))
    except ValueError as e:  # the one amount whose negation overflows
        raise RequestError(str(e)) from None


def _setrange(ctx, args):
    offset = to_int(args[2])
    if offset < 0:
        raise RequestError("offset is out of range")
    return c.SetRange(args[1], offset, args[3])


def _expire(unit_ms: int, relative: bool, name: str):
    def parse(ctx, args):
        conditions = parse_conditions(args[3:])
        expiry = _to_ms(to_int(args[2]), unit_ms, ctx.now_ms() if relative else 0, name)
        return c.Expire(args[1], expiry, tuple(sorted(x.decode() for x in conditions)))
    return parse


def _getrange(ctx, args):
    return c.GetRange(args[1], to_int(args[2]), to_int(args[3]))


# name -> (parse, reply mapping or None)
PARSERS = {
    "GET": (lambda ctx, a: c.Get(a[1]), None),
    "SET": (_set, None),
    "SETNX": (lambda ctx, a: c.SetNX(a[1], a[2]), None),
    "SETEX": (_setex(b"EX", "setex"), None),
    "PSETEX": (_setex(b"PX", "psetex"), None),
    "GETSET": (lambda ctx, a: c.GetSet(a[1], a[2]), None),
    "GETDEL": (lambda ctx, a: c.GetDel(a[1]), None),
    "GETEX": (_getex, None),
    "MGET": (lambda ctx, a: c.MGet(tuple(a[1:])), None),
    "MSET": (lambda ctx, a: c.MSet(_pairs(a, "mset")), None),
    "MSETNX": (lambda ctx, a: c.MSetNX(_pairs(a, "msetnx")), None),
    "DEL": (lambda ctx, a: c.Delete(tuple(a[1:])), None),
    "UNLINK": (lambda ctx, a: c.Delete(tuple(a[1:])), None),
    "EXISTS": (lambda ctx, a: c.Exists(tuple(a[1:])), None),
    "INCR": (lambda ctx, a: c.Incr(a[1], 1), None),
    "DECR": (lambda ctx, a: c.Incr(a[1], -1), None),
    "INCRBY": (lambda ctx, a: c.Incr(a[1], to_int(a[2])), None),
    "DECRBY": (_decrby, None),
    "INCRBYFLOAT": (lambda ctx, a: c.IncrByFloat(a[1], a[2]), None),
    "APPEND": (lambda ctx, a: c.Append(a[1], a[2]), None),
    "SETRANGE": (_setrange, None),
    "GETRANGE": (_getrange, None),
    "SUBSTR": (_getrange, None),
    "STRLEN": (lambda ctx, a: c.StrLen(a[1]), None),
    "EXPIRE": (_expire(1000, True, "expire"), None),
    "PEXPIRE": (_expire(1, True, "pexpire"), None),
    "EXPIREAT": (_expire(1000, False, "expireat"), None),
    "PEXPIREAT": (_expire(1, False, "pexpireat"), None),
    "TTL": (lambda ctx, a: c.Ttl(a[1], seconds=True), None),
    "PTTL": (lambda ctx, a: c.Ttl(a[1], seconds=False), None),
    "PERSIST": (lambda ctx, a: c.Persist(a[1]), None),
    "TYPE": (lambda ctx, a: c.Get(a[1]), _type_reply),
    "QKV.CAS": (lambda ctx, a: c.Cas(a[1], a[2], a[3]), None),
}


def _values(command) -> tuple:
    """The values a command writes, for the node's value limit."""
    match command:
        case c.MSet(pairs=pairs) | c.MSetNX(pairs=pairs):
            return tuple(v for _, v in pairs)
        case c.Set(value=v) | c.SetNX(value=v) | c.GetSet(value=v) | c.Cas(value=v):
            return (v,)
    return ()


def _checked(ctx, name: str, args):
    """``(command, reply mapping)`` for ``args``; RequestError if they are bad."""
    parse, post = PARSERS[name]
    command = parse(ctx, args)
    kv = ctx.kv
    for key in c.keys_of(command):
        kv.check_key(key)
    for value in _values(command):
        kv.check_value(value)
    return command, post or to_resp


# ---- running a command --------------------------------------------------------------------

async def execute(ctx, command):
    """The range's reply to ``command``; a write under one of the connection's
    sessions (module docstring), taken for its duration."""
    replicator = ctx.kv.strong(ctx.keyspace)
    if c.is_read_only(command):
        return await replicator.execute(command)
    sessions = ctx.strong_sessions
    session = sessions.pop() if sessions else [os.urandom(16), 0]
    session[1] += 1
    try:
        return await replicator.execute(command, session[0], session[1])
    finally:
        sessions.append(session)


async def run(ctx, args):
    """The handler of every key command in :data:`PARSERS`."""
    name = args[0].decode("utf-8", "replace").upper()
    command, post = _checked(ctx, name, args)
    return post(await execute(ctx, command), ctx.resp3)


# ---- MULTI / EXEC / DISCARD / WATCH / UNWATCH ----------------------------------------------

class Transaction:
    """A strong connection's MULTI: the queued ``(name, args)`` in order, whether a
    command was refused while queueing (``dirty``: EXEC aborts), and a key of it
    (``anchor``) that every later key must share a range with."""

    __slots__ = ("anchor", "dirty", "queued")

    def __init__(self, anchor: bytes | None) -> None:
        self.queued: list = []
        self.dirty = False
        self.anchor = anchor


def _same_range(ctx, anchor: bytes | None, keys) -> bytes | None:
    """CrossSlotError unless ``keys`` and ``anchor`` lie in one range; the anchor."""
    keys = list(keys)
    if anchor is not None:
        keys.append(anchor)
    if keys:
        ctx.kv.strong(ctx.keyspace).range_of(keys)
    return anchor if anchor is not None else (keys[0] if keys else None)


async def multi(ctx, args):
    if ctx.strong_txn is not None:
        raise RequestError("MULTI calls can not be nested")
    anchor = next(iter(ctx.strong_watches), None)
    ctx.strong_txn = Transaction(anchor)
    return resp.OK


def _queue_now(ctx, args, done) -> bool:
    """The callback form of every command sent inside a strong MULTI."""
    txn = ctx.strong_txn
    try:
        name = args[0].decode("utf-8", "replace").upper()
        spec = COMMANDS.get(name)
        if spec is None:
            raise UnknownCommandError(args[0].decode("utf-8", "replace"), args[1:])
        n = len(args)
        if (spec.arity > 0 and n != spec.arity) or (spec.arity < 0 and n < -spec.arity):
            raise ArityError(name)
        if name not in PARSERS and name not in IN_TXN_LOCAL:
            raise UnsupportedError(f"{name} cannot be queued in a transaction of the strong "
                                   f"keyspace '{ctx.keyspace}': only its key commands can")
        if len(txn.queued) >= MAX_TXN_COMMANDS:
            raise RequestError(f"transaction too long: at most {MAX_TXN_COMMANDS} commands")
        txn.anchor = _same_range(ctx, txn.anchor, spec.key_args(args))
    except QuorumKVError as exc:
        txn.dirty = True
        done(error_reply(exc))
        return True
    txn.queued.append((name, args))
    done(b"+QUEUED\r\n")
    return True


QUEUE = Spec(None, 0, _queue_now, (), (0, 0, 0), False)
# keyless commands a MULTI may hold, as Redis's: answered in EXEC's array by this
# node (UNWATCH inside MULTI changes nothing: the watches are checked at EXEC)
IN_TXN_LOCAL = {
    "PING": lambda a: (resp.PONG if len(a) == 1 else resp.bulk(a[1]) if len(a) == 2
                       else error_reply(ArityError("ping"))),
    "ECHO": lambda a: resp.bulk(a[1]),
    "UNWATCH": lambda a: resp.OK,
}


async def exec_(ctx, args):
    txn, watches = ctx.strong_txn, ctx.strong_watches
    if txn is None:
        raise RequestError("EXEC without MULTI")
    ctx.strong_txn, ctx.strong_watches = None, {}
    if txn.dirty:
        raise ExecAbortError("Transaction discarded because of previous errors.")
    parsed = []  # per queued command: (command, post), or its reply (an error, PONG)
    for name, queued_args in txn.queued:
        try:
            local = IN_TXN_LOCAL.get(name)
            parsed.append(local(queued_args) if local else _checked(ctx, name, queued_args))
        except QuorumKVError as exc:
            parsed.append(error_reply(exc))
    commands = tuple(p[0] for p in parsed if type(p) is tuple)
    if not commands and not watches:
        return resp.array(parsed)  # empty, or every command refused: nothing to send
    reply = await execute(ctx, c.Txn(commands, tuple(watches.items())))
    if not isinstance(reply, Array):  # the null array (a watched key changed) or an error
        return to_resp(reply, ctx.resp3)
    items = iter(reply.items)
    return resp.array([p if type(p) is bytes else p[1](next(items), ctx.resp3)
                       for p in parsed])


async def discard(ctx, args):
    if ctx.strong_txn is None:
        raise RequestError("DISCARD without MULTI")
    ctx.strong_txn, ctx.strong_watches = None, {}
    return resp.OK


async def watch(ctx, args):
    """Reads each key's version now (a linearizable read); EXEC applies only if
    every watched key still has it."""
    if ctx.strong_txn is not None:
        raise RequestError("WATCH inside MULTI is not allowed")
    keys = [k for k in dict.fromkeys(args[1:]) if k not in ctx.strong_watches]
    for key in keys:
        ctx.kv.check_key(key)
    _same_range(ctx, next(iter(ctx.strong_watches), None), keys)
    if keys:
        reply = await execute(ctx, c.MGet(tuple(keys)))
        if isinstance(reply, Error):
            return to_resp(reply, ctx.resp3)
        for key, item in zip(keys, reply.items):
            ctx.strong_watches[key] = item.version
    return resp.OK


async def unwatch(ctx, args):
    ctx.strong_watches = {}
    return resp.OK


# ---- the table ---------------------------------------------------------------------------

# Data commands strong keyspaces do not serve yet (the key commands not in
# PARSERS are refused too): whole-keyspace reads and writes, and the
# multi-key ones not built on core/strong yet.
NOT_SERVED = ("SCAN", "KEYS", "DBSIZE", "RANDOMKEY", "FLUSHDB", "RENAME", "RENAMENX",
              "COPY", "TOUCH", "LCS", "EXPIRETIME", "PEXPIRETIME", "OBJECT", "MEMORY",
              "QKV.RANGE")


async def _not_served(ctx, args):
    name = args[0].decode("utf-8", "replace").upper()
    raise UnsupportedError(f"{name} is not served on strong keyspaces yet (keyspace "
                           f"'{ctx.keyspace}' is in strong mode); it works on eventual ones")


def _build() -> dict:
    table = {}
    for name in PARSERS:
        if name == "QKV.CAS":
            continue
        # same arity, flags and keys; no blind overlap: writes of one key apply in order
        table[name] = dataclasses.replace(COMMANDS[name], handler=run, now=None, blind=None)
    table["QKV.CAS"] = Spec(run, 4, None, ("write", "denyoom", "fast"), ONE_KEY, False)
    for name, fn in (("MULTI", multi), ("EXEC", exec_), ("DISCARD", discard),
                     ("WATCH", watch), ("UNWATCH", unwatch)):
        table[name] = dataclasses.replace(COMMANDS[name], handler=fn, now=None)
    for name, spec in COMMANDS.items():
        if name not in table and (name in NOT_SERVED or spec.keys[0]):
            table[name] = dataclasses.replace(spec, handler=_not_served, now=None)
    return table


# QKV.CAS on an eventual keyspace: refused as the other read-modify-writes are
COMMANDS["QKV.CAS"] = Spec(_needs_strong, 4, None, ("write", "denyoom", "fast"), ONE_KEY,
                           False)
STRONG: dict = {}  # built at first use, once every family has registered its commands
# commands that run, not queue, inside a MULTI (as in Redis)
TRANSACTION_CONTROL = frozenset({"MULTI", "EXEC", "DISCARD", "WATCH", "QUIT"})


def strong_spec(ctx, command: str, spec):
    """The spec a strong connection runs for ``command`` (``spec``: the common one)."""
    if ctx.strong_txn is not None and command not in TRANSACTION_CONTROL:
        return QUEUE
    return (STRONG or _fill()).get(command, spec)


def _fill() -> dict:
    STRONG.update(_build())
    return STRONG
