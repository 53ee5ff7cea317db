"""The commands of a strong keyspace: RESP arguments turned into core/strong
commands, the range's reply turned back into Redis's.

A connection whose keyspace is strong (``ctx.strong``) looks its commands up in
:data:`STRONG` first (the server's ``_start_next`` does, through
:func:`strong_spec`): each key command there is one core.strong command, its
arguments parsed by core/strong/resp_args.py with Redis's arity and syntax
errors (limits checked here), which the keyspace's
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
EXECABORT, as Redis does. EXEC parses the queued commands (an argument error
is a ``Refused`` in the transaction: that command's reply in EXEC's array, the
others still apply, as in Redis) and sends one core ``Txn`` with the versions
WATCH read; a watched key that changed makes EXEC answer the null array.
"""

from __future__ import annotations

import dataclasses
import os

from ...core import resp
from ...core.strong import commands as c
from ...core.strong import resp_args
from ...core.strong.replies import Array, Bulk, Error, to_resp
from ...errors import (ArityError, ExecAbortError, QuorumKVError, RequestError,
                       UnknownCommandError, UnsupportedError)
from .registry import COMMANDS, ONE_KEY, Spec, error_reply
from .strings import _needs_strong

MAX_TXN_COMMANDS = 10_000  # queued in one MULTI; more is refused (and aborts EXEC)


class ArgumentError(RequestError):
    """core.strong.resp_args's refusal: its text is the whole error line."""

    def resp_message(self) -> str:
        return str(self)


# ---- arguments -> commands ----------------------------------------------------------------
# core/strong/resp_args.py parses the arguments (Redis 7's arity, syntax and
# integer errors; relative expiry made absolute with the node clock); TYPE and
# SUBSTR, which it leaves out, are a Get and a GETRANGE here.

def _type_reply(reply, resp3: bool) -> bytes:
    """TYPE from a Get: every value of a strong keyspace is a string."""
    if isinstance(reply, Error):
        return to_resp(reply, resp3)
    return resp.simple("string" if isinstance(reply, Bulk) else "none")


def served(name: str) -> bool:
    """A key command a strong keyspace serves (its upper-case name)."""
    return name in ("TYPE", "SUBSTR") or resp_args.is_supported(name.encode())


def _values(command) -> tuple:
    """The values a command writes, for the node's value limit."""
    match command:
        case c.MSet(pairs=pairs) | c.MSetNX(pairs=pairs):
            return tuple(v for _, v in pairs)
        case c.Set(value=v) | c.SetNX(value=v) | c.GetSet(value=v) | c.Cas(value=v):
            return (v,)
    return ()


def _checked(ctx, name: str, args, queued: bool = False):
    """``(command, reply mapping)`` for ``args``; a RequestError if they are bad.
    ``queued``: a command EXEC runs, whose argument errors (not its arity) are a
    ``Refused`` its transaction answers in place, as Redis does."""
    if name == "TYPE":
        command, post = c.Get(args[1]), _type_reply
    else:
        if name == "SUBSTR":
            args = [b"GETRANGE", *args[1:]]
        parse = resp_args.queued_command if queued else resp_args.command_from_args
        try:
            command, post = parse(args, ctx.now_ms()), to_resp
        except resp_args.ArgError as e:
            raise ArgumentError(str(e)) from None
    kv = ctx.kv
    for key in c.keys_of(command):
        kv.check_key(key)
    for value in _values(command):
        kv.check_value(value)
    return command, post


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
    """The handler of every key command a strong keyspace serves (:func:`served`)."""
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
        if not served(name) and name not in IN_TXN_LOCAL:
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
            parsed.append(local(queued_args) if local
                          else _checked(ctx, name, queued_args, queued=True))
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
# served() are refused too): whole-keyspace reads and writes, and the
# multi-key ones not built on core/strong yet.
NOT_SERVED = ("SCAN", "KEYS", "DBSIZE", "RANDOMKEY", "FLUSHDB", "RENAME", "RENAMENX",
              "COPY", "TOUCH", "LCS", "OBJECT", "MEMORY", "QKV.RANGE")


async def _not_served(ctx, args):
    name = args[0].decode("utf-8", "replace").upper()
    raise UnsupportedError(f"{name} is not served on strong keyspaces yet (keyspace "
                           f"'{ctx.keyspace}' is in strong mode); it works on eventual ones")


def _build() -> dict:
    table = {}
    for name in COMMANDS:
        if served(name):
            # same arity, flags and keys; no blind overlap: writes of one key apply in order
            table[name] = dataclasses.replace(COMMANDS[name], handler=run, now=None,
                                              blind=None)
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
