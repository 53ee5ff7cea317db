"""MULTI / EXEC / DISCARD / WATCH on an eventual keyspace: refused, whole.

An eventual keyspace cannot apply several commands atomically, so a transaction
must never half-apply: MULTI answers an error, and every command after it up to
the matching EXEC or DISCARD is refused too (the connection loop checks
``ctx.multi_refused`` before anything runs), so nothing in it is applied. EXEC
then answers ``EXECABORT``, as Redis does for a transaction with a command that
failed to queue; redis-py's default ``pipeline()`` raises the MULTI error. Strong
keyspaces will run real transactions.
"""

from __future__ import annotations

from ...core import resp
from ...errors import ExecAbortError, RequestError, UnsupportedError
from .registry import command

REFUSED_MULTI = ("MULTI is not supported on the eventual keyspace '{}': it cannot "
                 "apply several commands atomically; every command up to EXEC or DISCARD "
                 "is refused, so nothing of the transaction is applied")
REFUSED_IN_MULTI = ("command not run: it follows a MULTI that was refused (eventual "
                    "keyspaces have no transactions); EXEC or DISCARD ends it")
TRANSACTION_ENDS = frozenset({"EXEC", "DISCARD", "MULTI", "QUIT"})


@command("MULTI", 1, "noscript loading stale fast allow_busy")
async def multi(ctx, args):
    if ctx.multi_refused:
        raise RequestError("MULTI calls can not be nested")
    ctx.multi_refused = True
    raise UnsupportedError(REFUSED_MULTI.format(ctx.keyspace))


@command("EXEC", 1, "noscript loading stale skip_slowlog")
async def exec_(ctx, args):
    if not ctx.multi_refused:
        raise RequestError("EXEC without MULTI")
    ctx.multi_refused = False
    raise ExecAbortError("Transaction discarded because of previous errors.")


@command("DISCARD", 1, "noscript loading stale fast allow_busy")
async def discard(ctx, args):
    if not ctx.multi_refused:
        raise RequestError("DISCARD without MULTI")
    ctx.multi_refused = False
    return resp.OK


@command("WATCH", -2, "noscript loading stale fast allow_busy", (1, -1, 1), alone=True)
async def watch(ctx, args):
    raise UnsupportedError(f"WATCH is not supported on the eventual keyspace "
                           f"'{ctx.keyspace}': it has no transactions to guard")


@command("UNWATCH", 1, "noscript loading stale fast allow_busy")
async def unwatch(ctx, args):
    return resp.OK  # nothing is ever watched
