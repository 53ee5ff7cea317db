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

A client's own session. ``QKV.REQUEST <client-id> <seq> <command> [arg ...]``
runs the command under the client's session instead of the connection's (the
server unwraps it before anything else, api/resp/server.py): a client that
numbers its writes and sends the same (id, seq) again after a lost connection,
to this or any other node, has it applied once and gets the first reply. The id
is any 1 to 48 bytes (say 32 hex digits of 16 random bytes), kept apart from the
ids the connections draw; ``seq`` counts from 1 and must grow from one write to
the next (an older one is answered ``ERR duplicate request``). Reads ignore it,
and so do eventual keyspaces, whose writes do not take a log entry.

Redirects. A connection that sent ``QKV.REDIRECT ON`` gets ``-MOVED <range-id>
<host:port>`` (Redis Cluster's form, the range id for the slot) for a write that
this node would forward to the range's leader, naming the leader's RESP address:
a client that follows it and keeps the leader per range saves the forwarding
hop. A read on a follower replica is served here (after ReadIndex) and a
command this node cannot place on a known leader is forwarded, as without it.

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
from ...errors import (ArityError, ExecAbortError, LimitError, MovedError, QuorumKVError,
                       RequestError, SyntaxError_, UnknownCommandError, UnsupportedError)
from .registry import COMMANDS, ONE_KEY, Spec, command, error_reply
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

async def execute(ctx, command, request=None):
    """The range's reply to ``command``; a write under the client's session
    (``request``: QKV.REQUEST's) or else one of the connection's (module
    docstring), taken for its duration."""
    replicator = ctx.kv.strong(ctx.keyspace)
    if ctx.strong_redirect:
        _redirect(ctx, replicator, command)
    if c.is_read_only(command):
        return await replicator.execute(command)
    if request is not None:
        return await replicator.execute(command, *request)
    sessions = ctx.strong_sessions
    session = sessions.pop() if sessions else [os.urandom(16), 0]
    session[1] += 1
    try:
        return await replicator.execute(command, session[0], session[1])
    finally:
        sessions.append(session)


def _redirect(ctx, replicator, command) -> None:
    """MovedError when this node would forward ``command`` to a leader it knows."""
    moved = replicator.leader_elsewhere(command)
    if moved is not None:
        address = ctx.node.resp_address(moved[1])
        if address:
            raise MovedError(moved[0], address)


async def run(ctx, args):
    """The handler of every key command a strong keyspace serves (:func:`served`)."""
    name = args[0].decode("utf-8", "replace").upper()
    command, post = _checked(ctx, name, args)
    return post(await execute(ctx, command, _request_of(args)), ctx.resp3)


# ---- QKV.REQUEST -------------------------------------------------------------------------

MAX_REQUEST_CLIENT_ID = 48
CLIENT_ID_PREFIX = b"client:"  # a client's own id, never one a connection drew (16 bytes)
MAX_SEQ = 2 ** 63 - 1


class RequestArgs(list):
    """The arguments of the command a QKV.REQUEST wraps; ``request`` is its
    ``(client id, seq)``."""
    __slots__ = ("request",)


def _request_of(args):
    return args.request if type(args) is RequestArgs else None


def request_args(args):
    """``QKV.REQUEST <client-id> <seq> <command> [arg ...]`` as the wrapped
    command's RequestArgs; None when it is malformed (the QKV.REQUEST handler
    then answers why)."""
    try:
        return _unwrapped(args)
    except RequestError:
        return None


def _unwrapped(args) -> RequestArgs:
    if type(args) is resp.OversizedArgs:
        raise LimitError("QKV.REQUEST: an argument is too large")
    if len(args) < 4:
        raise ArityError("qkv.request")
    client_id, seq = args[1], args[2]
    if not 1 <= len(client_id) <= MAX_REQUEST_CLIENT_ID:
        raise SyntaxError_(f"QKV.REQUEST: the client id must be 1 to "
                           f"{MAX_REQUEST_CLIENT_ID} bytes, not {len(client_id)}")
    if not (seq.isdigit() and len(seq) <= 19 and 1 <= int(seq) <= MAX_SEQ):
        raise SyntaxError_("QKV.REQUEST: seq must be an integer from 1 to 2^63-1")
    inner = RequestArgs(args[3:])
    inner.request = (CLIENT_ID_PREFIX + client_id, int(seq))
    return inner


@command("QKV.REQUEST", -4, "fast")
async def qkv_request(ctx, args):
    """Reached only when the server did not unwrap it: malformed, or nested."""
    _unwrapped(args)
    raise SyntaxError_("QKV.REQUEST cannot wrap another QKV.REQUEST")


@command("QKV.REDIRECT", -1, "loading stale fast")
async def qkv_redirect(ctx, args):
    """``QKV.REDIRECT ON|OFF``: MOVED instead of forwarding (module docstring);
    ``QKV.REDIRECT`` shows which."""
    if len(args) == 1:
        return resp.simple("ON" if ctx.strong_redirect else "OFF")
    if len(args) != 2 or args[1].upper() not in (b"ON", b"OFF"):
        raise SyntaxError_("QKV.REDIRECT takes ON or OFF, or nothing to show which")
    ctx.strong_redirect = args[1].upper() == b"ON"
    return resp.OK


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
    reply = await execute(ctx, c.Txn(commands, tuple(watches.items())), _request_of(args))
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
