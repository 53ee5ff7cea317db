"""Iteration: SCAN, KEYS and DBSIZE, which walk the keyspace range by range.

A hash keyspace is walked in hash order with hash-position cursors; a range
keyspace in key order across its ranges, with cursors that resume at a key
(core.scan.range_cursor)."""

from __future__ import annotations

import asyncio

from ...core import resp
from ...core.glob import glob_match
from ...core.placement import HASH_SPACE
from ...core.scan import (CURSOR_KEY_BYTES, RANGE_LIMIT_MAX, next_cursor, parse_cursor,
                          parse_range_cursor, range_cursor)
from ...errors import SyntaxError_
from .registry import command, to_int

SCAN_MAX_PAGES_PER_CALL = 16


async def scan_keys(ctx, position: int, count: int, pattern: bytes | None):
    """Keys from hash ``position`` on, at least ``count`` unless the keyspace ends."""
    keys: list[bytes] = []
    pages = 0
    while position < HASH_SPACE and len(keys) < count and pages < SCAN_MAX_PAGES_PER_CALL:
        page = await ctx.kv.scan_page(ctx.keyspace, position, count, ctx.level)
        keys += page.keys if pattern is None else [k for k in page.keys
                                                    if glob_match(pattern, k)]
        position = page.next_position
        pages += 1
    return keys, position


async def scan_range_keys(ctx, start: bytes, count: int, pattern: bytes | None):
    """Keys of a range keyspace from ``start`` on, in key order, at least ``count``
    unless the keyspace ends; and the key to resume at (None: done). It reads on
    while the cursor of the resume key would not move past ``start`` (a key longer
    than a cursor holds: core.scan), so that every call makes progress."""
    keys: list[bytes] = []
    resume: bytes | None = start
    pages = 0
    limit = min(count, RANGE_LIMIT_MAX)
    while resume is not None and (len(keys) < count and pages < SCAN_MAX_PAGES_PER_CALL
                                  or resume[:CURSOR_KEY_BYTES] <= start):
        page = await ctx.kv.replicator(ctx.keyspace).range_read(
            ctx.keyspace, resume, b"", limit, ctx.level)
        keys += [k for k, _ in page.items if pattern is None or glob_match(pattern, k)]
        resume = page.resume
        pages += 1
    return keys, resume


def is_range(ctx) -> bool:
    return ctx.kv.keyspace(ctx.keyspace).partitioner == "range"


@command("SCAN", -2, "readonly")
async def scan(ctx, args):
    ranged = is_range(ctx)
    position = parse_range_cursor(args[1]) if ranged else parse_cursor(args[1])
    count, pattern, i = 10, None, 2
    while i < len(args):
        option = args[i].upper()
        if i + 1 >= len(args):
            raise SyntaxError_("syntax error")
        if option == b"COUNT":
            count = to_int(args[i + 1])
            if count < 1:
                raise SyntaxError_("syntax error")
        elif option == b"MATCH":
            pattern = args[i + 1]
        elif option == b"TYPE":
            if args[i + 1].lower() != b"string":
                return resp.array([resp.bulk(b"0"), resp.array([])])
        else:
            raise SyntaxError_("syntax error")
        i += 2
    if ranged:
        keys, resume = await scan_range_keys(ctx, position, count, pattern)
        cursor = str(range_cursor(resume)).encode()
    else:
        keys, position = await scan_keys(ctx, position, count, pattern)
        cursor = str(next_cursor(position)).encode()
    return resp.array([resp.bulk(cursor), resp.bulk_array(keys)])


async def all_keys(ctx, pattern: bytes | None):
    if is_range(ctx):
        resume: bytes | None = b""
        while resume is not None:
            keys, resume = await scan_range_keys(ctx, resume, 1000, pattern)
            yield keys
            await asyncio.sleep(0)
        return
    position = 0
    while position < HASH_SPACE:
        keys, position = await scan_keys(ctx, position, 1000, pattern)
        yield keys
        await asyncio.sleep(0)  # pages read locally finish without yielding the loop


@command("KEYS", 2, "readonly")
async def keys_(ctx, args):
    """Every matching key: walks the whole keyspace (expensive, as in Redis)."""
    pattern = None if args[1] == b"*" else args[1]
    found: list[bytes] = []
    async for batch in all_keys(ctx, pattern):
        found += batch
    return resp.bulk_array(found)


@command("DBSIZE", 1, "readonly fast")
async def dbsize(ctx, args):
    """Live keys in the keyspace: an exact count by a full scan (expensive)."""
    total = 0
    async for batch in all_keys(ctx, None):
        total += len(batch)
    return resp.integer(total)
