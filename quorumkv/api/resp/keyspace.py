"""String and keyspace commands: STRLEN, GETRANGE/SUBSTR, LCS, EXPIRETIME,
PEXPIRETIME, TOUCH, RANDOMKEY, COPY, RENAME, RENAMENX, and the OBJECT and MEMORY
containers.

COPY, RENAME and RENAMENX are a read and then writes (see ``KV.copy`` and
``KV.rename``): in an eventual keyspace they are not atomic. OBJECT and MEMORY
answer from the stored version only: the node tracks no access times or
frequencies, shares no objects, and has no Redis memory layout.
"""

from __future__ import annotations

import asyncio

from ...core import lcs as lcs_core
from ...core import resp
from ...core import strings
from ...errors import LimitError, SyntaxError_
from ..windowed import windowed
from .registry import ALL_KEYS, ONE_KEY, command, to_db, to_int
from .subcommands import container

TWO_KEYS = (1, 2, 1)
SUBCOMMAND_KEY = (2, 2, 1)  # OBJECT ENCODING <key>, MEMORY USAGE <key>

LFU_NOT_SELECTED = (
    "An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
    "that when switching between policies at runtime LRU and LFU data will take some "
    "time to adjust.")
IDLETIME_NOT_TRACKED = ("idle time not tracked: QuorumKV does not record when a key was "
                        "last read or written")


async def _live(ctx, key: bytes):
    return await ctx.kv.get_live(ctx.keyspace, key, ctx.level, session=ctx.session)


# ---- strings -------------------------------------------------------------------------

@command("STRLEN", 2, "readonly fast", ONE_KEY)
async def strlen(ctx, args):
    current = await _live(ctx, args[1])
    return resp.integer(0 if current is None else len(current.value))


@command("GETRANGE", 4, "readonly", ONE_KEY)
async def getrange(ctx, args):
    start, end = to_int(args[2]), to_int(args[3])
    current = await _live(ctx, args[1])
    if current is None:
        return resp.bulk(b"")
    return resp.bulk(strings.getrange(current.value, start, end))


@command("SUBSTR", 4, "readonly", ONE_KEY)
async def substr(ctx, args):
    """GETRANGE's old name, still served by Redis."""
    return await getrange(ctx, args)


def _lcs_options(args) -> tuple[bool, bool, bool, int]:
    """``(len, idx, withmatchlen, minmatchlen)`` from LCS's options, as Redis parses them."""
    want_len = want_idx = with_len = False
    min_len, i = 0, 3
    while i < len(args):
        option = args[i].upper()
        if option == b"IDX":
            want_idx = True
        elif option == b"LEN":
            want_len = True
        elif option == b"WITHMATCHLEN":
            with_len = True
        elif option == b"MINMATCHLEN" and i + 1 < len(args):
            min_len = max(0, to_int(args[i + 1]))
            i += 1
        else:
            raise SyntaxError_("syntax error")
        i += 1
    if want_idx and want_len:
        raise SyntaxError_("If you want both the length and indexes, please just use IDX.")
    return want_len, want_idx, with_len, min_len


@command("LCS", -3, "readonly", TWO_KEYS)
async def lcs(ctx, args):
    want_len, want_idx, with_len, min_len = _lcs_options(args)
    found = await asyncio.gather(_live(ctx, args[1]), _live(ctx, args[2]))
    a, b = (b"" if v is None else v.value for v in found)
    if lcs_core.cells(a, b) > lcs_core.MAX_CELLS:
        raise LimitError(f"LCS of values of {len(a)} and {len(b)} bytes needs "
                         f"{lcs_core.cells(a, b)} cells, over the limit of "
                         f"{lcs_core.MAX_CELLS} (LCS needs memory and time in proportion "
                         f"to the product of the lengths)")
    result = lcs_core.lcs(a, b, walk=not want_len)
    if want_len:
        return resp.integer(result.length)
    if not want_idx:
        return resp.bulk(result.string)
    matches = [_lcs_match(m, with_len) for m in result.matches if m.length >= min_len]
    return resp.mapping([(resp.bulk(b"matches"), resp.array(matches)),
                         (resp.bulk(b"len"), resp.integer(result.length))], ctx.resp3)


def _lcs_match(match: lcs_core.Match, with_len: bool) -> bytes:
    parts = [resp.array([resp.integer(match.a_start), resp.integer(match.a_end)]),
             resp.array([resp.integer(match.b_start), resp.integer(match.b_end)])]
    if with_len:
        parts.append(resp.integer(match.length))
    return resp.array(parts)


# ---- expiry and keys -----------------------------------------------------------------

async def _expire_time_ms(ctx, key: bytes) -> int:
    current = await _live(ctx, key)
    if current is None:
        return -2
    return current.expiry_ms or -1


@command("EXPIRETIME", 2, "readonly fast", ONE_KEY)
async def expiretime(ctx, args):
    ms = await _expire_time_ms(ctx, args[1])
    return resp.integer(ms if ms < 0 else (ms + 500) // 1000)  # rounded, as Redis


@command("PEXPIRETIME", 2, "readonly fast", ONE_KEY)
async def pexpiretime(ctx, args):
    return resp.integer(await _expire_time_ms(ctx, args[1]))


@command("TOUCH", -2, "readonly fast", ALL_KEYS)
async def touch(ctx, args):
    """The number of the keys named that exist (each time it is named). Nothing
    else: the node records no access times."""
    found = await windowed(args[1:], lambda k: _live(ctx, k))
    return resp.integer(sum(v is not None for v in found))


@command("RANDOMKEY", 1, "readonly")
async def randomkey(ctx, args):
    key = await ctx.kv.random_key(ctx.keyspace, ctx.level)
    return ctx.null() if key is None else resp.bulk(key)


def _db_option(ctx, raw: bytes) -> str:
    """COPY's ``DB n``: the keyspace that declares ``db = n``."""
    keyspace = ctx.kv.by_db(to_db(raw))
    if keyspace is None:
        raise SyntaxError_("DB index is out of range")
    return keyspace


@command("COPY", -3, "write denyoom", TWO_KEYS)
async def copy(ctx, args):
    replace, i, dst_keyspace = False, 3, ctx.keyspace
    while i < len(args):
        option = args[i].upper()
        if option == b"REPLACE":
            replace = True
        elif option == b"DB" and i + 1 < len(args):
            dst_keyspace = _db_option(ctx, args[i + 1])
            i += 1
        else:
            raise SyntaxError_("syntax error")
        i += 1
    if args[1] == args[2] and dst_keyspace == ctx.keyspace:
        raise SyntaxError_("source and destination objects are the same")
    copied = await ctx.kv.copy(ctx.keyspace, args[1], args[2], ctx.level, replace,
                               session=ctx.session, dst_keyspace=dst_keyspace)
    return resp.integer(int(copied))


async def _rename(ctx, args, nx: bool):
    renamed = await ctx.kv.rename(ctx.keyspace, args[1], args[2], ctx.level, nx,
                                  session=ctx.session)
    if renamed is None:
        raise SyntaxError_("no such key")
    return resp.integer(int(renamed)) if nx else resp.OK


@command("RENAME", 3, "write", TWO_KEYS)
async def rename(ctx, args):
    return await _rename(ctx, args, nx=False)


@command("RENAMENX", 3, "write fast", TWO_KEYS)
async def renamenx(ctx, args):
    return await _rename(ctx, args, nx=True)


# ---- OBJECT and MEMORY: containers of subcommands ------------------------------------

OBJECT = container("OBJECT")
MEMORY = container("MEMORY")


@OBJECT.sub("ENCODING", 3, "readonly", keys=SUBCOMMAND_KEY, help=(
    "ENCODING <key>",
    "    Return the kind of internal representation Redis would use to store the",
    "    value of a <key> (int, embstr or raw)."))
async def object_encoding(ctx, args):
    current = await _live(ctx, args[2])
    return ctx.null() if current is None else resp.bulk(
        strings.encoding(current.value).encode())


@OBJECT.sub("FREQ", 3, "readonly", keys=SUBCOMMAND_KEY, help=(
    "FREQ <key>",
    "    Not tracked: answers an error, as Redis without an LFU maxmemory policy."))
async def object_freq(ctx, args):
    """As Redis without an LFU policy: the node evicts nothing, so counts nothing."""
    if await _live(ctx, args[2]) is None:
        return ctx.null()
    raise SyntaxError_(LFU_NOT_SELECTED)


@OBJECT.sub("IDLETIME", 3, "readonly", keys=SUBCOMMAND_KEY, help=(
    "IDLETIME <key>",
    "    Not tracked: answers an error (no access times are recorded)."))
async def object_idletime(ctx, args):
    """An error rather than an invented figure: no access time is stored, and 0
    would tell a tool looking for cold keys that every key is hot."""
    if await _live(ctx, args[2]) is None:
        return ctx.null()
    raise SyntaxError_(IDLETIME_NOT_TRACKED)


@OBJECT.sub("REFCOUNT", 3, "readonly", keys=SUBCOMMAND_KEY, help=(
    "REFCOUNT <key>",
    "    Return the number of references of the value of a <key> (always 1)."))
async def object_refcount(ctx, args):
    """1: every value is its own copy (Redis answers 2147483647 for the small
    integers it shares)."""
    return ctx.null() if await _live(ctx, args[2]) is None else resp.integer(1)


@MEMORY.sub("USAGE", -3, "readonly", keys=SUBCOMMAND_KEY, help=(
    "USAGE <key> [SAMPLES <count>]",
    "    Return the bytes one replica stores for <key>: storage key, version",
    "    header and value, before compression. SAMPLES is accepted and ignored."))
async def memory_usage(ctx, args):
    """Bytes one replica stores for the key (see ``KV.stored_bytes``); ``SAMPLES``
    is checked as Redis does and means nothing for a string."""
    i = 3
    while i < len(args):
        if args[i].upper() == b"SAMPLES" and i + 1 < len(args):
            if to_int(args[i + 1]) < 0:
                raise SyntaxError_("syntax error")
            i += 2
        else:
            raise SyntaxError_("syntax error")
    current = await _live(ctx, args[2])
    if current is None:
        return ctx.null()
    return resp.integer(ctx.kv.stored_bytes(ctx.keyspace, args[2], current))


