"""Ordered range reads of a range keyspace: QKV.RANGE.

``QKV.RANGE start end [LIMIT n] [REV]`` returns the live keys of ``[start, end)``
with their values, in key order (``REV``: descending), at the connection's level,
merged across each range's replicas like a read. ``start`` b"" is the beginning
of the keyspace, ``end`` b"" its end; ``start >= end`` (both given) is empty.
The reply is ``[next, [k1, v1, k2, v2, ...]]``: at most ``n`` pairs
(RANGE_LIMIT_DEFAULT 1000, at most RANGE_LIMIT_MAX 10000), and ``next`` the bound
to pass again for the rest, nil when done: the next ``start`` (forward) or the
next ``end`` (``REV``). HTTP's range read (api/http.py) shares ``read_range``.
"""

from __future__ import annotations

from ...core import resp
from ...core.scan import range_limit
from ...errors import SyntaxError_
from .registry import command


def check_range_keyspace(kv, name: str, command_name: str = "QKV.RANGE") -> None:
    """Refuse a range read of a hash keyspace (or an unknown one) clearly."""
    ks = kv.keyspace(name)  # UnknownKeyspaceError: "unknown keyspace 'x'"
    if ks.partitioner != "range":
        raise SyntaxError_(f"{command_name} needs a range-partitioned keyspace; "
                           f"'{name}' is {ks.partitioner}-partitioned")


def check_bound(kv, bound: bytes) -> bytes:
    """A bound is a key, or the key after one (``next``): at most one byte over
    ``node.max_key_bytes``."""
    if len(bound) > kv.max_key + 1:
        raise SyntaxError_(f"range bound longer than node.max_key_bytes + 1 "
                           f"({kv.max_key + 1} bytes)")
    return bound


async def read_range(kv, keyspace: str, start: bytes, end: bytes, limit: int, level,
                     reverse: bool = False):
    """The live ``(key, Version)`` of one page of ``[start, end)`` and where the
    next page starts (reverse: ends), as ``core.scan.SpanPage``."""
    check_range_keyspace(kv, keyspace)
    check_bound(kv, start)
    check_bound(kv, end)
    return await kv.replicator(keyspace).range_read(keyspace, start, end, limit, level,
                                                    reverse)


def parse_options(args: list) -> tuple[int, bool]:
    """``[LIMIT n] [REV]`` in any order: ``(limit, reverse)``."""
    limit, reverse, i = None, False, 0
    while i < len(args):
        option = args[i].upper()
        if option == b"REV":
            reverse, i = True, i + 1
        elif option == b"LIMIT" and i + 1 < len(args):
            limit, i = range_limit(args[i + 1]), i + 2
        else:
            raise SyntaxError_("syntax error")
    return range_limit(limit), reverse


@command("QKV.RANGE", -3, "readonly")
async def qkv_range(ctx, args):
    limit, reverse = parse_options(args[3:])
    page = await read_range(ctx.kv, ctx.keyspace, args[1], args[2], limit, ctx.level,
                            reverse)
    flat: list[bytes] = []
    for key, version in page.items:
        flat += (key, version.value)
    following = ctx.null() if page.resume is None else resp.bulk(page.resume)
    return resp.array([following, resp.bulk_array(flat)])
