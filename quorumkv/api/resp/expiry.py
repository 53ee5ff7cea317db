"""Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, PERSIST, and the expiry options other commands take."""

from __future__ import annotations

from ...core import resp
from ...errors import ArityError, SyntaxError_
from .registry import ONE_KEY, INT64_MAX, KEYSPACE, command, to_int


def _checked_expiry(expiry_ms: int, command: str) -> int:
    """An absolute expiry that fits the stored version (Redis answers overflowing
    expire times the same way)."""
    if expiry_ms > INT64_MAX:
        raise SyntaxError_(f"invalid expire time in '{command}' command")
    return expiry_ms


def parse_expiry(ctx, option: bytes, raw: bytes, command: str) -> int:
    """An absolute expiry in ms from ``EX/PX/EXAT/PXAT <n>``."""
    n = to_int(raw)
    if n <= 0:
        raise SyntaxError_(f"invalid expire time in '{command}' command")
    now = ctx.now_ms()
    return _checked_expiry({b"EX": now + n * 1000, b"PX": now + n, b"EXAT": n * 1000,
                            b"PXAT": n}[option], command)


async def _expire(ctx, args, to_abs_ms, command: str) -> bytes:
    if len(args) not in (3, 4):
        raise ArityError(command)
    n = to_int(args[2])
    condition = args[3].upper() if len(args) == 4 else None
    if condition not in (None, b"NX", b"XX", b"GT", b"LT"):
        raise SyntaxError_(f"Unsupported option {args[3].decode(errors='replace')}")
    expiry = _checked_expiry(to_abs_ms(ctx.now_ms(), n), command)
    current = await ctx.kv.get_live(KEYSPACE, args[1], ctx.level, session=ctx.session)
    if current is None:
        return resp.integer(0)
    has = current.expiry_ms != 0
    if (condition == b"NX" and has) or (condition == b"XX" and not has) \
            or (condition == b"GT" and (not has or expiry <= current.expiry_ms)) \
            or (condition == b"LT" and has and expiry >= current.expiry_ms):
        return resp.integer(0)
    if expiry <= ctx.now_ms():
        await ctx.kv.delete(KEYSPACE, args[1], ctx.level, session=ctx.session)
    else:
        await ctx.kv.put(KEYSPACE, args[1], current.value, ctx.level, expiry, session=ctx.session)
    return resp.integer(1)


@command("EXPIRE", -3, "write fast", ONE_KEY)
async def expire(ctx, args):
    return await _expire(ctx, args, lambda now, n: now + n * 1000, "expire")


@command("PEXPIRE", -3, "write fast", ONE_KEY)
async def pexpire(ctx, args):
    return await _expire(ctx, args, lambda now, n: now + n, "pexpire")


@command("EXPIREAT", -3, "write fast", ONE_KEY)
async def expireat(ctx, args):
    return await _expire(ctx, args, lambda now, n: n * 1000, "expireat")


@command("PEXPIREAT", -3, "write fast", ONE_KEY)
async def pexpireat(ctx, args):
    return await _expire(ctx, args, lambda now, n: n, "pexpireat")


async def _ttl_ms(ctx, key: bytes) -> int:
    current = await ctx.kv.get_live(KEYSPACE, key, ctx.level, session=ctx.session)
    if current is None:
        return -2
    if not current.expiry_ms:
        return -1
    return max(0, current.expiry_ms - ctx.now_ms())


@command("TTL", 2, "readonly fast", ONE_KEY)
async def ttl(ctx, args):
    ms = await _ttl_ms(ctx, args[1])
    return resp.integer(ms if ms < 0 else (ms + 500) // 1000)


@command("PTTL", 2, "readonly fast", ONE_KEY)
async def pttl(ctx, args):
    return resp.integer(await _ttl_ms(ctx, args[1]))


@command("PERSIST", 2, "write fast", ONE_KEY)
async def persist(ctx, args):
    current = await ctx.kv.get_live(KEYSPACE, args[1], ctx.level, session=ctx.session)
    if current is None or not current.expiry_ms:
        return resp.integer(0)
    await ctx.kv.put(KEYSPACE, args[1], current.value, ctx.level, 0, session=ctx.session)
    return resp.integer(1)
