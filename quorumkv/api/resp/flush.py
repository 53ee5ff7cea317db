"""FLUSHDB and FLUSHALL: a truncation of the keyspace at a timestamp, on every node.

FLUSHDB truncates the connection's keyspace (the one QKV.USE or SELECT chose),
FLUSHALL every keyspace, one after the other, as Redis's FLUSHALL empties every db.

Each node that takes it treats every version stamped at or before that timestamp
as gone, wherever it comes from, so a node that was down during the flush cannot
bring the old data back (node/coordinator.py, ``start_truncate``). The reply waits
for the connection's level, counted over the keyspace's nodes like a write. As in
Redis 7, ``SYNC`` (the default) answers once the data is deleted and ``ASYNC``
once the truncation is recorded, the data being deleted in the background.
"""

from __future__ import annotations

from ...core import resp
from ...errors import SyntaxError_, UnsupportedError
from .registry import command


def _sync(args) -> bool:
    """``FLUSHDB [ASYNC|SYNC]``: True for SYNC, Redis's default."""
    if len(args) == 1:
        return True
    if len(args) == 2:
        option = args[1].upper()
        if option == b"SYNC":
            return True
        if option == b"ASYNC":
            return False
    raise SyntaxError_("syntax error")


@command("FLUSHDB", -1, "write")
async def flushdb(ctx, args):
    await ctx.kv.truncate(ctx.keyspace, ctx.level, _sync(args))
    return resp.OK


@command("FLUSHALL", -1, "write")
async def flushall(ctx, args):
    """Every keyspace of the cluster, not only the connection's."""
    sync = _sync(args)
    strong = [name for name in ctx.kv.names() if ctx.kv.is_strong(name)]
    if strong:  # refused before anything is flushed: never half a FLUSHALL
        raise UnsupportedError(f"FLUSHALL is not served while the cluster has strong "
                               f"keyspaces ({', '.join(strong)}) (strong keyspaces do not "
                               f"serve FLUSHDB yet); FLUSHDB each eventual keyspace instead")
    for keyspace in ctx.kv.names():
        await ctx.kv.truncate(keyspace, ctx.level, sync)
    return resp.OK
