"""QKV.KEYSPACE: keyspaces created, listed, described and dropped online.

    QKV.KEYSPACE CREATE name setting value [setting value ...]
    QKV.KEYSPACE LIST
    QKV.KEYSPACE DESCRIBE name
    QKV.KEYSPACE DROP name

Settings are core.meta.spec's (``mode strong rf 3 partitioner range split-points
l,r db 4``); the work and the error texts are api/keyspaces.py's, shared with
HTTP and the CLI. Replies are maps (flat field/value arrays in RESP2), as
QKV.KEYSPACES gives them.
"""

from __future__ import annotations

from ...core import resp
from .. import keyspaces
from .registry import command
from .subcommands import Container

# a table of subcommands like CONFIG's, kept out of CONTAINERS (which lists Redis's
# own, checked against Redis 7's command docs)
KEYSPACE = Container("QKV.KEYSPACE")
command("QKV.KEYSPACE", -2, "")(KEYSPACE.dispatch)


def encode(ctx, value) -> bytes:
    """A JSON-shaped value as RESP: maps, arrays, bulk strings, integers, nil."""
    if value is None:
        return ctx.null()
    if type(value) is bool:
        return resp.integer(int(value))
    if type(value) is int:
        return resp.integer(value)
    if type(value) is str:
        return resp.bulk(value.encode())
    if type(value) is dict:
        return resp.mapping([(resp.bulk(k.encode()), encode(ctx, v))
                             for k, v in value.items()], ctx.resp3)
    return resp.array([encode(ctx, v) for v in value])


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


@KEYSPACE.sub("CREATE", -3, "write", (
    "CREATE <name> [<setting> <value> ...]",
    "    Create a keyspace: mode eventual|strong, partitioner hash|range, ranges <k>,",
    "    split-points <l,r,...>, rf <n>, db <n>, consistency <level>, ..."))
async def create(ctx, args):
    spec = keyspaces.spec_of_args([_text(a) for a in args[2:]])
    return encode(ctx, await keyspaces.create(ctx.node, spec))


@KEYSPACE.sub("LIST", 2, "readonly", ("LIST", "    Every keyspace of the cluster."))
async def list_(ctx, args):
    return encode(ctx, await keyspaces.list_all(ctx.node))


@KEYSPACE.sub("DESCRIBE", 3, "readonly", (
    "DESCRIBE <name>", "    A keyspace's settings, ranges and notes."))
async def describe(ctx, args):
    return encode(ctx, await keyspaces.describe(ctx.node, _text(args[2])))


@KEYSPACE.sub("DROP", 3, "write", (
    "DROP <name>", "    Drop a keyspace and delete its data."))
async def drop(ctx, args):
    return encode(ctx, await keyspaces.drop(ctx.node, _text(args[2])))


@KEYSPACE.sub("HELP", 2, "loading stale")
async def help_(ctx, args):
    return KEYSPACE.help_reply()
