"""Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO and the QKV.* settings of a
connection: its keyspace (QKV.USE, SELECT; QKV.KEYSPACES lists them), level,
session and receipts (CLIENT is in clients.py)."""

from __future__ import annotations

import json

from ...core import resp
from ...core.consistency import Level
from ...errors import ArityError, SyntaxError_
from .clients import NAME_ERROR, valid_name
from .registry import REDIS_COMPAT_VERSION, command, to_db


@command("PING", -1, "fast", alone=False)
async def ping(ctx, args):
    if len(args) > 2:
        raise ArityError("ping")
    return resp.PONG if len(args) == 1 else resp.bulk(args[1])


@command("ECHO", 2, "loading stale fast", alone=False)
async def echo(ctx, args):
    return resp.bulk(args[1])


@command("QUIT", -1, "noscript loading stale fast no_auth allow_busy")
async def quit_(ctx, args):
    ctx.quit = True
    return resp.OK


@command("SELECT", 2, "loading stale fast")
async def select(ctx, args):
    """``SELECT n``: the keyspace that declares ``db = n`` (db 0: the initial one).
    A number no keyspace declares is Redis's answer for a db over ``databases``."""
    keyspace = ctx.kv.by_db(to_db(args[1]))
    if keyspace is None:
        raise SyntaxError_("DB index is out of range")
    ctx.kv.check_served(keyspace)  # served here? (a mode this node lacks is refused)
    ctx.use(keyspace)
    return resp.OK


WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NO_PASSWORD = ("AUTH <password> called without any password configured for the default "
               "user. Are you sure your configuration is correct?")


@command("AUTH", -2, "noscript loading stale fast no_auth allow_busy")
async def auth(ctx, args):
    """No authentication yet: as a Redis whose only user, ``default``, has no
    password (nopass), any password logs in as ``default``, other users fail."""
    if len(args) > 3:
        raise SyntaxError_("syntax error")
    if len(args) == 2:
        raise SyntaxError_(NO_PASSWORD)
    return resp.OK if args[1] == b"default" else resp.error(WRONGPASS)


@command("HELLO", -1, "noscript loading stale fast no_auth allow_busy")
async def hello(ctx, args):
    """``HELLO [2|3] [AUTH user pass] [SETNAME name]``: every option is checked
    before anything changes, as in Redis."""
    resp3, i, name = ctx.resp3, 1, None
    if len(args) > 1:
        try:
            version = int(args[1])
        except ValueError:
            raise SyntaxError_("Protocol version is not an integer or out of range") from None
        if version not in (2, 3):
            return resp.error("NOPROTO unsupported protocol version")
        resp3, i = version == 3, 2
    while i < len(args):
        option = args[i].upper()
        if option == b"AUTH" and i + 2 < len(args):
            if args[i + 1] != b"default":
                return resp.error(WRONGPASS)
            i += 3
        elif option == b"SETNAME" and i + 1 < len(args):
            if not valid_name(args[i + 1]):
                raise SyntaxError_(NAME_ERROR)
            name = args[i + 1]
            i += 2
        else:
            raise SyntaxError_(f"Syntax error in HELLO option "
                               f"'{args[i].decode('utf-8', 'replace')}'")
    ctx.resp3 = resp3
    if name is not None:
        ctx.name = name
    pairs = [
        (b"server", b"redis"), (b"version", REDIS_COMPAT_VERSION.encode()),
        (b"proto", 3 if ctx.resp3 else 2), (b"id", ctx.client_id),
        (b"mode", b"cluster-proxy"), (b"role", b"master"), (b"modules", None),
    ]
    encoded = []
    for key, value in pairs:
        if isinstance(value, int):
            v = resp.integer(value)
        elif value is None:
            v = resp.array([])
        else:
            v = resp.bulk(value)
        encoded.append((resp.bulk(key), v))
    return resp.mapping(encoded, ctx.resp3)


@command("QKV.CONSISTENCY", -1, "loading stale fast")
async def qkv_consistency(ctx, args):
    """``QKV.CONSISTENCY`` shows, ``QKV.CONSISTENCY <level>`` sets this connection's
    default consistency level."""
    if len(args) == 1:
        return resp.simple(ctx.level.name)
    if len(args) != 2:
        raise ArityError("qkv.consistency")
    ctx.level = Level.parse(args[1])
    ctx.level_set = True
    return resp.OK


@command("QKV.USE", -1, "loading stale fast")
async def qkv_use(ctx, args):
    """``QKV.USE`` shows, ``QKV.USE <keyspace>`` switches this connection's
    keyspace (an unknown name is an error and changes nothing)."""
    if len(args) == 1:
        return resp.bulk(ctx.keyspace.encode())
    if len(args) != 2:
        raise ArityError("qkv.use")
    keyspace = args[1].decode("utf-8", "replace")
    ctx.kv.check_served(keyspace)  # UnknownKeyspaceError: "unknown keyspace 'x'"
    ctx.use(keyspace)
    return resp.OK


@command("QKV.KEYSPACES", 1, "loading stale")
async def qkv_keyspaces(ctx, args):
    """Every keyspace, in the order declared: one map each (a flat array of
    field, value pairs in RESP2), as ``keyspace_fields``."""
    return resp.array([resp.mapping([(resp.bulk(k.encode()), v)
                                     for k, v in keyspace_fields(ctx, name)], ctx.resp3)
                       for name in ctx.kv.names()])


def keyspace_fields(ctx, name: str) -> list[tuple[str, bytes]]:
    """QKV.KEYSPACES' fields of one keyspace, values encoded: ``db`` is nil for a
    keyspace SELECT cannot address, ``default_consistency`` this node's current
    default for it (CONFIG SET may have changed it)."""
    ks = ctx.kv.keyspace(name)
    db = ctx.kv.db_of(name)
    return [("name", resp.bulk(name.encode())),
            ("db", ctx.null() if db is None else resp.integer(db)),
            ("mode", resp.bulk(ks.mode.encode())),
            ("partitioner", resp.bulk(ks.partitioner.encode())),
            ("replication_factor", resp.integer(ks.replication_factor)),
            ("default_consistency", resp.bulk(ctx.kv.default_level(name).name.encode())),
            ("ranges", resp.integer(len(ctx.kv.ranges.ranges(name))))]


@command("QKV.SESSION", -1, "loading stale fast")
async def qkv_session(ctx, args):
    """``QKV.SESSION`` returns this connection's session token; ``QKV.SESSION
    <token>`` presents one (from this or another connection or node; it only moves
    forward), and from then on reads here see what that session wrote or read
    (core.session)."""
    if len(args) == 1:
        return resp.bulk(ctx.session.encode().encode())
    if len(args) != 2:
        raise ArityError("qkv.session")
    ctx.session.present(args[1])
    return resp.OK


@command("QKV.RECEIPT", -1, "loading stale fast")
async def qkv_receipt(ctx, args):
    """``QKV.RECEIPT ON|OFF`` records consistency receipts for each following
    command (a debugging aid: which replicas answered, their versions, hints and
    read repairs); ``QKV.RECEIPT`` returns the previous command's as JSON."""
    if len(args) == 1:
        return resp.bulk(json.dumps(ctx.last_receipts or []).encode())
    if len(args) != 2 or args[1].upper() not in (b"ON", b"OFF"):
        raise SyntaxError_("QKV.RECEIPT takes ON or OFF, or nothing to read the last one")
    ctx.receipts_on = args[1].upper() == b"ON"
    ctx.session.receipts = [] if ctx.receipts_on else None
    ctx.last_receipts = None
    return resp.OK
