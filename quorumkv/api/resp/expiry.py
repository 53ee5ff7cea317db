"""Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, PERSIST, and the expiry options other commands take."""

from __future__ import annotations

from ...core import resp
from ...core.strong.resp_args import ArgError, expire_conditions
from ...errors import SyntaxError_
from .registry import ONE_KEY, INT64_MAX, command, to_int


def _invalid(command: str) -> SyntaxError_:
    return SyntaxError_(f"invalid expire time in '{command}' command")


def _to_ms(n: int, unit_ms: int, base_ms: int, command: str) -> int:
    """``n`` units after ``base_ms`` in ms, refused where Redis's signed 64-bit
    arithmetic would overflow (n * 1000, then base + n)."""
    n *= unit_ms
    if not -INT64_MAX - 1 <= n <= INT64_MAX or n > INT64_MAX - base_ms:
        raise _invalid(command)
    return n + base_ms


def parse_expiry(ctx, option: bytes, raw: bytes, command: str) -> int:
    """An absolute expiry in ms from ``EX/PX/EXAT/PXAT <n>`` (SET, SETEX, PSETEX,
    GETEX): ``n`` must be positive, and so must the result."""
    n = to_int(raw)
    if n <= 0:
        raise _invalid(command)
    unit_ms = 1000 if option in (b"EX", b"EXAT") else 1
    base_ms = ctx.now_ms() if option in (b"EX", b"PX") else 0
    return _to_ms(n, unit_ms, base_ms, command)


def parse_conditions(options: list) -> frozenset:
    """EXPIRE's ``[NX|XX|GT|LT]...``: any number, checked as Redis 7 does (by the
    strong keyspaces' parser, one rule for both modes)."""
    try:
        return frozenset(o.encode() for o in expire_conditions(options))
    except ArgError as exc:
        raise SyntaxError_(str(exc).removeprefix("ERR ")) from None


def _refused(conditions: frozenset, expiry: int, current_ms: int) -> bool:
    """Whether a condition keeps the current expiry (0: none, which GT sees as
    infinite and LT as anything larger)."""
    has = current_ms != 0
    return ((b"NX" in conditions and has) or (b"XX" in conditions and not has)
            or (b"GT" in conditions and (not has or expiry <= current_ms))
            or (b"LT" in conditions and has and expiry >= current_ms))


async def _expire(ctx, args, unit_ms: int, relative: bool, command: str) -> bytes:
    conditions = parse_conditions(args[3:])
    n = to_int(args[2])
    now = ctx.now_ms()
    expiry = _to_ms(n, unit_ms, now if relative else 0, command)
    current = await ctx.kv.get_live(ctx.keyspace, args[1], ctx.level, session=ctx.session)
    if current is None or _refused(conditions, expiry, current.expiry_ms):
        return resp.integer(0)
    if expiry <= ctx.now_ms():  # already past (a negative time too): delete, as Redis
        await ctx.kv.delete(ctx.keyspace, args[1], ctx.level, session=ctx.session)
    else:
        await ctx.kv.put(ctx.keyspace, args[1], current.value, ctx.level, expiry, session=ctx.session)
    return resp.integer(1)


@command("EXPIRE", -3, "write fast", ONE_KEY)
async def expire(ctx, args):
    return await _expire(ctx, args, 1000, True, "expire")


@command("PEXPIRE", -3, "write fast", ONE_KEY)
async def pexpire(ctx, args):
    return await _expire(ctx, args, 1, True, "pexpire")


@command("EXPIREAT", -3, "write fast", ONE_KEY)
async def expireat(ctx, args):
    return await _expire(ctx, args, 1000, False, "expireat")


@command("PEXPIREAT", -3, "write fast", ONE_KEY)
async def pexpireat(ctx, args):
    return await _expire(ctx, args, 1, False, "pexpireat")


async def _ttl_ms(ctx, key: bytes) -> int:
    current = await ctx.kv.get_live(ctx.keyspace, key, ctx.level, session=ctx.session)
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
    current = await ctx.kv.get_live(ctx.keyspace, args[1], ctx.level, session=ctx.session)
    if current is None or not current.expiry_ms:
        return resp.integer(0)
    await ctx.kv.put(ctx.keyspace, args[1], current.value, ctx.level, 0, session=ctx.session)
    return resp.integer(1)
