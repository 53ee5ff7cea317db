"""Connection commands: PING, ECHO, QUIT, SELECT, HELLO, CLIENT and the QKV.* settings of a connection."""

from __future__ import annotations

import json

from ...core import resp
from ...core.consistency import Level
from ...errors import ArityError, SyntaxError_
from .registry import REDIS_COMPAT_VERSION, command, to_int


@command("PING", -1, "fast", alone=False)
async def ping(ctx, args):
    if len(args) > 2:
        raise ArityError("ping")
    return resp.PONG if len(args) == 1 else resp.bulk(args[1])


@command("ECHO", 2, "fast", alone=False)
async def echo(ctx, args):
    return resp.bulk(args[1])


@command("QUIT", -1, "allow_busy noscript loading stale fast no_auth")
async def quit_(ctx, args):
    ctx.quit = True
    return resp.OK


@command("SELECT", 2, "loading stale fast")
async def select(ctx, args):
    if to_int(args[1]) != 0:
        raise SyntaxError_("DB index is out of range")
    return resp.OK


@command("HELLO", -1, "noscript loading stale fast no_auth allow_busy")
async def hello(ctx, args):
    i = 1
    if len(args) > 1:
        try:
            version = int(args[1])
        except ValueError:
            raise SyntaxError_("Protocol version is not an integer or out of range") from None
        if version not in (2, 3):
            return resp.error("NOPROTO unsupported protocol version")
        ctx.resp3 = version == 3
        i = 2
    while i < len(args):
        option = args[i].upper()
        if option == b"AUTH" and i + 2 < len(args):
            i += 3  # no authentication yet: accept any credentials
        elif option == b"SETNAME" and i + 1 < len(args):
            ctx.name = args[i + 1]
            i += 2
        else:
            raise SyntaxError_(f"syntax error in HELLO option '{option.decode()}'")
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


@command("CLIENT", -2, "admin noscript loading stale")
async def client(ctx, args):
    sub = args[1].upper()
    if sub == b"SETNAME" and len(args) == 3:
        if b" " in args[2]:
            raise SyntaxError_("Client names cannot contain spaces, newlines or special "
                               "characters.")
        ctx.name = args[2]
        return resp.OK
    if sub == b"GETNAME" and len(args) == 2:
        return resp.bulk(ctx.name) if ctx.name else ctx.null()
    if sub == b"ID" and len(args) == 2:
        return resp.integer(ctx.client_id)
    if sub == b"SETINFO" and len(args) == 4:
        return resp.OK
    if sub == b"INFO" and len(args) == 2:
        return resp.bulk(f"id={ctx.client_id} addr={_addr(ctx.peer)} "
                         f"name={ctx.name.decode(errors='replace')} db=0 "
                         f"resp={3 if ctx.resp3 else 2}\n".encode())
    raise SyntaxError_(f"unknown subcommand or wrong number of arguments for "
                       f"'{args[1].decode(errors='replace')}'. Try CLIENT HELP.")


def _addr(peer) -> str:
    return f"{peer[0]}:{peer[1]}" if peer else "?"


@command("QKV.CONSISTENCY", -1, "loading stale fast")
async def qkv_consistency(ctx, args):
    """``QKV.CONSISTENCY`` shows, ``QKV.CONSISTENCY <level>`` sets this connection's
    default consistency level."""
    if len(args) == 1:
        return resp.simple(ctx.level.name)
    if len(args) != 2:
        raise ArityError("qkv.consistency")
    ctx.level = Level.parse(args[1])
    return resp.OK


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
