"""String commands: GET and SET (with their callback forms, the hot path),
SETEX, PSETEX, SETNX, GETDEL, GETEX, DEL, EXISTS, MGET, MSET, TYPE, and the
read-modify-write commands that only strong keyspaces serve (api/resp/strong.py)."""

from __future__ import annotations

import dataclasses

from ...core import resp
from ...errors import ArityError, SyntaxError_, UnsupportedError
from .registry import always, ALL_KEYS, ONE_KEY, COMMANDS, Spec, callback_form, command, error_reply
from ..windowed import windowed
from .expiry import parse_expiry


@callback_form("GET", 2, "readonly fast", ONE_KEY)
def get_now(ctx, args, done) -> bool:
    def answered(version, error) -> None:
        if error is not None:
            done(error_reply(error))
        else:
            done(ctx.null() if version is None else resp.bulk(version.value))

    ctx.kv.start_get_live(ctx.keyspace, args[1], ctx.level, answered, ctx.session)
    return True


def _set_options(ctx, args) -> tuple[int, bool, bool, bool, bool]:
    """``(expiry_ms, nx, xx, keep_ttl, get)`` from SET's options, read as Redis
    reads them: one expiry kind (repeatable: the last time counts) or KEEPTTL, its
    time parsed once every option is read (a syntax error comes first)."""
    unit, raw, nx, xx, keep_ttl, want_old = None, None, False, False, False, False
    i = 3
    while i < len(args):
        option = args[i].upper()
        if option in (b"EX", b"PX", b"EXAT", b"PXAT") and i + 1 < len(args) \
                and unit in (None, option) and not keep_ttl:
            unit, raw = option, args[i + 1]
            i += 2
            continue
        if option == b"NX" and not xx:
            nx = True
        elif option == b"XX" and not nx:
            xx = True
        elif option == b"KEEPTTL" and unit is None:
            keep_ttl = True
        elif option == b"GET":
            want_old = True
        else:
            raise SyntaxError_("syntax error")
        i += 1
    expiry = parse_expiry(ctx, unit, raw, "set") if unit is not None else 0
    return expiry, nx, xx, keep_ttl, want_old


@command("SET", -3, "write denyoom", ONE_KEY, blind=lambda args: len(args) == 3)
async def set_(ctx, args):
    key, value = args[1], args[2]
    expiry, nx, xx, keep_ttl, want_old = _set_options(ctx, args)
    ctx.kv.check_key(key)
    ctx.kv.check_value(value)
    if not (nx or xx or keep_ttl or want_old):
        await ctx.kv.put(ctx.keyspace, key, value, ctx.level, expiry, session=ctx.session)
        return resp.OK
    current = await ctx.kv.get_live(ctx.keyspace, key, ctx.level, session=ctx.session)
    old = resp.bulk(current.value) if current is not None else ctx.null()
    if (nx and current is not None) or (xx and current is None):
        return old if want_old else ctx.null()
    if keep_ttl and current is not None:
        expiry = current.expiry_ms
    await ctx.kv.put(ctx.keyspace, key, value, ctx.level, expiry, session=ctx.session)
    return old if want_old else resp.OK


@callback_form("SET")
def set_now(ctx, args, done) -> bool:
    expiry = 0
    if len(args) > 3:
        expiry, nx, xx, keep_ttl, want_old = _set_options(ctx, args)
        if nx or xx or keep_ttl or want_old:
            return False  # reads first: the async handler

    def written(error) -> None:
        done(resp.OK if error is None else error_reply(error))

    ctx.kv.start_put(ctx.keyspace, args[1], args[2], ctx.level, expiry, written, ctx.session)
    return True


@command("SETEX", 4, "write denyoom", ONE_KEY, blind=always)
async def setex(ctx, args):
    expiry = parse_expiry(ctx, b"EX", args[2], "setex")
    await ctx.kv.put(ctx.keyspace, args[1], args[3], ctx.level, expiry, session=ctx.session)
    return resp.OK


@command("PSETEX", 4, "write denyoom", ONE_KEY, blind=always)
async def psetex(ctx, args):
    expiry = parse_expiry(ctx, b"PX", args[2], "psetex")
    await ctx.kv.put(ctx.keyspace, args[1], args[3], ctx.level, expiry, session=ctx.session)
    return resp.OK


@command("SETNX", 3, "write denyoom fast", ONE_KEY)
async def setnx(ctx, args):
    ctx.kv.check_value(args[2])
    if await ctx.kv.get_live(ctx.keyspace, args[1], ctx.level, session=ctx.session) is not None:
        return resp.integer(0)
    await ctx.kv.put(ctx.keyspace, args[1], args[2], ctx.level, session=ctx.session)
    return resp.integer(1)


@command("GETDEL", 2, "write fast", ONE_KEY)
async def getdel(ctx, args):
    current = await ctx.kv.get_live(ctx.keyspace, args[1], ctx.level, session=ctx.session)
    if current is None:
        return ctx.null()
    await ctx.kv.delete(ctx.keyspace, args[1], ctx.level, session=ctx.session)
    return resp.bulk(current.value)


@command("GETEX", -2, "write fast", ONE_KEY)
async def getex(ctx, args):
    key, expiry, persist = args[1], None, False
    if len(args) == 3 and args[2].upper() == b"PERSIST":
        persist = True
    elif len(args) == 4 and args[2].upper() in (b"EX", b"PX", b"EXAT", b"PXAT"):
        expiry = parse_expiry(ctx, args[2].upper(), args[3], "getex")
    elif len(args) != 2:
        raise SyntaxError_("syntax error")
    current = await ctx.kv.get_live(ctx.keyspace, key, ctx.level, session=ctx.session)
    if current is None:
        return ctx.null()
    if persist and current.expiry_ms:
        await ctx.kv.put(ctx.keyspace, key, current.value, ctx.level, 0, session=ctx.session)
    elif expiry is not None:
        await ctx.kv.rewrite_expiry(ctx.keyspace, key, expiry, ctx.level, session=ctx.session)
    return resp.bulk(current.value)


@command("DEL", -2, "write", ALL_KEYS)
async def del_(ctx, args):
    return resp.integer(await ctx.kv.delete_existing(ctx.keyspace, args[1:], ctx.level,
                                                     session=ctx.session))


COMMANDS["UNLINK"] = dataclasses.replace(COMMANDS["DEL"], flags=("write", "fast"))


@command("EXISTS", -2, "readonly fast", ALL_KEYS)
async def exists(ctx, args):
    found = await windowed(args[1:], lambda k: ctx.kv.get_live(ctx.keyspace, k, ctx.level,
                                                                session=ctx.session))
    return resp.integer(sum(v is not None for v in found))


@command("MGET", -2, "readonly fast", ALL_KEYS)
async def mget(ctx, args):
    values = await windowed(args[1:], lambda k: ctx.kv.get(ctx.keyspace, k, ctx.level,
                                                            session=ctx.session))
    return resp.bulk_array(values, ctx.resp3)


@command("MSET", -3, "write denyoom", (1, -1, 2), blind=always)
async def mset(ctx, args):
    if len(args) % 2 != 1:
        raise ArityError("mset")
    pairs = list(zip(args[1::2], args[2::2]))
    for key, value in pairs:
        ctx.kv.check_key(key)
        ctx.kv.check_value(value)
    await windowed(pairs, lambda kv: ctx.kv.put(ctx.keyspace, kv[0], kv[1], ctx.level,
                                                session=ctx.session))
    return resp.OK


@command("TYPE", 2, "readonly fast", ONE_KEY)
async def type_(ctx, args):
    found = await ctx.kv.get_live(ctx.keyspace, args[1], ctx.level, session=ctx.session)
    return resp.simple("string" if found is not None else "none")


# ---- read-modify-write: strong keyspaces only ---------------------------------------

async def _needs_strong(ctx, args):
    name = args[0].decode(errors="replace").upper()
    raise UnsupportedError(
        f"{name} needs an atomic read-modify-write, which eventual keyspaces cannot give; "
        f"strong keyspaces (mode = strong) serve it")


@command("GETSET", 3, "write denyoom fast", ONE_KEY)
async def getset(ctx, args):
    """Deprecated in Redis in favour of SET ... GET, and the same here."""
    return await set_(ctx, [b"SET", args[1], args[2], b"GET"])


for _name, _arity in (("INCR", 2), ("DECR", 2), ("INCRBY", 3), ("DECRBY", 3),
                      ("INCRBYFLOAT", 3), ("APPEND", 3)):
    COMMANDS[_name] = Spec(_needs_strong, _arity, None, ("write", "denyoom", "fast"), ONE_KEY,
                           False)
COMMANDS["SETRANGE"] = Spec(_needs_strong, 4, None, ("write", "denyoom"), ONE_KEY, False)
COMMANDS["MSETNX"] = Spec(_needs_strong, -3, None, ("write", "denyoom"), (1, -1, 2), False)
