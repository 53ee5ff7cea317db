"""COMMAND (COUNT, INFO, DOCS, LIST, GETKEYS) and TIME.

``COMMAND INFO`` has Redis 7's ten fields: name, arity, flags, first key, last
key, step (from our specs), then ACL categories, tips and key specifications
(Redis's, from redis_meta, where Redis has the command) and the subcommands (from
subcommands.CONTAINERS). ``COMMAND DOCS`` gives Redis's documentation of the
command (summary, since, group, complexity, arguments) or our own for QKV.*.
"""

from __future__ import annotations

import time

from ...core import resp
from ...core.glob import glob_match
from ...errors import SyntaxError_
from .redis_meta import META
from .registry import COMMANDS, Spec, command
from .subcommands import CONTAINERS, container

QKV_DOCS = {
    "qkv.consistency": ("Show or set this connection's consistency level", "O(1)"),
    "qkv.session": ("Return or present a session token (read your own writes)", "O(1)"),
    "qkv.receipt": ("Record consistency receipts of the following commands, or return "
                    "the previous command's", "O(1)"),
    "qkv.use": ("Show or switch this connection's keyspace", "O(1)"),
    "qkv.range": ("Return the keys and values of [start, end) of a range keyspace, in "
                  "order", "O(N) where N is the number of keys returned"),
    "qkv.keyspaces": ("List the keyspaces: name, db, mode, partitioner, replication "
                      "factor, default consistency, ranges", "O(N) where N is the number "
                      "of keyspaces"),
}
_FLAG_CATEGORIES = (("write", "@write"), ("readonly", "@read"), ("admin", "@admin"))


def categories(name: str, flags: tuple[str, ...]) -> list[str]:
    """Redis's ACL categories where Redis has the command, else the ones Redis
    would imply from the flags."""
    meta = META.get(name)
    if meta is not None:
        return meta["acl"]
    cats = [cat for flag, cat in _FLAG_CATEGORIES if flag in flags]
    if "admin" in flags:
        cats.append("@dangerous")
    cats.append("@fast" if "fast" in flags else "@slow")
    if name.startswith("qkv."):
        cats.append("@connection")
    return cats


# ---- a small encoder for Redis's nested metadata (byte-exact with Redis 7) ------------

def _encode(value, resp3: bool, key: str = "") -> bytes:
    if isinstance(value, dict):
        return resp.mapping([(resp.bulk(k.encode()), _encode(v, resp3, k))
                             for k, v in value.items()], resp3)
    if isinstance(value, list):
        if key in ("flags", "doc_flags"):  # sets of status strings in Redis's replies
            return _set([resp.simple(v) for v in value], resp3)
        return resp.array([_encode(v, resp3) for v in value])
    if isinstance(value, int):
        return resp.integer(value)
    return resp.bulk(value.encode())


def _set(items: list[bytes], resp3: bool) -> bytes:
    return (b"~%d\r\n" % len(items) if resp3 else b"*%d\r\n" % len(items)) + b"".join(items)


def _info(name: str, arity: int, flags: tuple[str, ...], keys: tuple[int, int, int],
          subcommands: list[bytes], resp3: bool) -> bytes:
    meta = META.get(name, {})
    first, last, step = keys
    return resp.array([
        resp.bulk(name.encode()), resp.integer(arity),
        _set([resp.simple(f) for f in flags], resp3),
        resp.integer(first), resp.integer(last), resp.integer(step),
        _set([resp.simple(c) for c in categories(name, flags)], resp3),
        _set([resp.bulk(t.encode()) for t in meta.get("tips", [])], resp3),
        _encode(meta.get("key_specs", []), resp3),
        resp.array(subcommands),
    ])


def command_info(name: str, spec: Spec, resp3: bool) -> bytes:
    """``name`` upper case, as in COMMANDS."""
    box = CONTAINERS.get(name)
    subs = [] if box is None else [
        _info(f"{name.lower()}|{sub_name.lower()}", sub.arity, sub.flags, sub.keys, [], resp3)
        for sub_name, sub in box.subs.items()]
    return _info(name.lower(), spec.arity, spec.flags, spec.keys, subs, resp3)


def command_docs(name: str, resp3: bool) -> bytes:
    """``name`` lower case."""
    meta = META.get(name)
    if meta is not None:
        docs = dict(meta["docs"])
    else:
        summary, complexity = QKV_DOCS.get(name, ("", ""))
        docs = {"summary": summary, "since": "0.1.0", "group": "connection",
                "complexity": complexity}
    box = CONTAINERS.get(name.upper())
    if box is not None:
        full = [f"{name}|{s.lower()}" for s in box.subs]
        subs = [(resp.bulk(f.encode()), _encode(META.get(f, {}).get("docs", {}), resp3))
                for f in full]
        pairs = [(resp.bulk(k.encode()), _encode(v, resp3, k)) for k, v in docs.items()]
        pairs.append((resp.bulk(b"subcommands"), resp.mapping(subs, resp3)))
        return resp.mapping(pairs, resp3)
    return _encode(docs, resp3)


# ---- COMMAND ----------------------------------------------------------------------------

async def _all_info(ctx, args):
    """``COMMAND`` alone (and ``COMMAND INFO``): every command."""
    return resp.array([command_info(n, s, ctx.resp3) for n, s in sorted(COMMANDS.items())])


COMMAND = container("COMMAND", -1, "loading stale", bare=_all_info)


@COMMAND.sub("COUNT", 2, "loading stale", (
        "COUNT", "    Return the total number of commands in this Redis server."))
async def command_count(ctx, args):
    return resp.integer(len(COMMANDS))


def _all_names() -> list[str]:
    """Every command and subcommand, lower case (``config|get``), as COMMAND LIST."""
    names = []
    for name in sorted(COMMANDS):
        names.append(name.lower())
        box = CONTAINERS.get(name)
        names += [f"{name.lower()}|{s.lower()}" for s in (box.subs if box else ())]
    return names


@COMMAND.sub("LIST", -2, "loading stale", (
        "LIST", "    Return a list of all commands in this Redis server."))
async def command_list(ctx, args):
    names = _all_names()
    if len(args) == 2:
        return resp.bulk_array([n.encode() for n in names])
    if len(args) != 5 or args[2].upper() != b"FILTERBY":
        raise SyntaxError_("syntax error")
    kind, value = args[3].upper(), args[4].decode("utf-8", "replace")
    if kind == b"MODULE":
        names = []
    elif kind == b"ACLCAT":
        names = [n for n in names if "@" + value.lower() in _categories_of(n)]
    elif kind == b"PATTERN":
        names = [n for n in names if glob_match(value.lower().encode(), n.encode())]
    else:
        raise SyntaxError_("syntax error")
    return resp.bulk_array([n.encode() for n in names])


def _categories_of(full: str) -> list[str]:
    parent, _, sub = full.partition("|")
    spec = COMMANDS[parent.upper()]
    flags = CONTAINERS[parent.upper()].subs[sub.upper()].flags if sub else spec.flags
    return categories(full, flags)


@COMMAND.sub("INFO", -2, "loading stale", (
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned."))
async def command_info_(ctx, args):
    if len(args) == 2:
        return await _all_info(ctx, args)
    names = [a.decode("utf-8", "replace").upper() for a in args[2:]]
    return resp.array([command_info(n, COMMANDS[n], ctx.resp3) if n in COMMANDS
                       else ctx.null() for n in names])


@COMMAND.sub("DOCS", -2, "loading stale", (
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned."))
async def command_docs_(ctx, args):
    names = ([n.lower() for n in sorted(COMMANDS)] if len(args) == 2 else
             [a.decode("utf-8", "replace").lower() for a in args[2:]])
    return resp.mapping([(resp.bulk(n.encode()), command_docs(n, ctx.resp3))
                         for n in names if n.upper() in COMMANDS], ctx.resp3)


@COMMAND.sub("GETKEYS", -4, "loading stale", (
        "GETKEYS <full-command>", "    Return the keys from a full Redis command."))
async def command_getkeys(ctx, args):
    target = args[2:]
    spec = COMMANDS.get(target[0].decode("utf-8", "replace").upper())
    if spec is None:
        raise SyntaxError_("Invalid command specified")
    n = len(target)
    if (spec.arity > 0 and n != spec.arity) or (spec.arity < 0 and n < -spec.arity):
        raise SyntaxError_("Invalid number of arguments specified for command")
    keys = spec.key_args(target)
    if not keys:
        raise SyntaxError_("The command has no key arguments")
    return resp.bulk_array(keys)


# ---- TIME ---------------------------------------------------------------------------------

@command("TIME", 1, "loading stale fast", alone=False)
async def time_(ctx, args):
    """The node's clock (ctx.now_ms, which honours a test's clock offset) with the
    microseconds of the system clock within that millisecond."""
    micros = ctx.now_ms() * 1000 + time.time_ns() // 1000 % 1000
    return resp.bulk_array([str(micros // 1_000_000).encode(),
                            str(micros % 1_000_000).encode()])
