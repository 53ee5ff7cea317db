"""CONFIG GET | SET | RESETSTAT | HELP: what this node is actually configured with.

Redis's parameter names are answered only where their meaning holds here
(``maxclients``, ``proto-max-bulk-len``, ``port``, ``bind``, ``dir``, ``databases``,
``save``, ``appendonly``, ``appendfsync``, ``timeout``, ``slowlog-*``). Every
setting of the node's config file is there under its own name,
``quorumkv.node.<key>`` and ``quorumkv.cluster.<key>``. A few can change at run
time, on this node only and until it restarts; the rest answer Redis's
"can't set immutable config".
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, fields
from typing import Callable

from ...core import resp
from ...core.consistency import Level
from ...core.glob import glob_match
from ...errors import SyntaxError_
from .subcommands import container

LONG_MAX = 2**63 - 1
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass
class Param:
    name: str
    get: Callable                     # ctx -> str
    set: Callable | None = None       # (ctx, value) -> None, after check
    check: Callable | None = None     # raw bytes -> value; raises _Bad(reason)


class _Bad(Exception):
    pass


def _int_range(low: int, high: int):
    def check(raw: bytes) -> int:
        try:
            n = int(raw)
        except ValueError:
            raise _Bad("argument couldn't be parsed into an integer") from None
        if not low <= n <= high:
            raise _Bad(f"argument must be between {low} and {high} inclusive")
        return n
    return check


def _one_of(choices: tuple[str, ...]):
    def check(raw: bytes) -> str:
        value = raw.decode("utf-8", "replace").lower()
        if value not in choices:
            raise _Bad(f"argument(s) must be one of the following: {', '.join(choices)}")
        return value
    return check


def _appendfsync(ctx) -> str:
    """``always`` for batch too: both acknowledge a write only after its WAL sync
    (batch shares one sync among the writes waiting for it, as Redis's always
    shares one per event loop turn). ``everysec`` for periodic at 1000 ms."""
    node = ctx.node.config.node
    if node.fsync != "periodic":
        return "always"
    return "everysec" if node.periodic_sync_ms == 1000 else "no"


def _set_log_level(ctx, value: str) -> None:
    logging.getLogger().setLevel(value.upper())


def _set_consistency(ctx, value: str) -> None:
    """The level of the keyspace ``[cluster]`` configures (db 0's): new connections
    to it and HTTP requests on it that name none."""
    level = Level.parse(value.encode())
    ctx.node.default_level = level
    ctx.kv.set_default_level(ctx.kv.initial, level)


def _databases(ctx) -> str:
    """One past the highest db number a keyspace declares (SELECT's range)."""
    kv = ctx.kv
    dbs = [db for db in map(kv.db_of, kv.names()) if db is not None]
    return str(max(dbs, default=0) + 1)


def _params(ctx) -> list[Param]:
    node, cluster = ctx.node.config.node, ctx.node.config.cluster
    hooks, server = ctx.hooks, ctx.hooks.server
    me = ctx.node.me
    redis = [
        Param("maxclients", lambda c: str(server.max_clients),
              lambda c, v: setattr(server, "max_clients", v), _int_range(1, 1_000_000)),
        Param("proto-max-bulk-len", lambda c: str(server.max_arg)),
        Param("port", lambda c: str(me.resp_port)),
        Param("bind", lambda c: me.host),
        Param("dir", lambda c: os.path.abspath(ctx.node.config.data_dir)),
        Param("databases", _databases),
        Param("save", lambda c: ""),          # no RDB snapshots: RocksDB holds the data
        Param("appendonly", lambda c: "yes"),  # every write is in the WAL before its ack
        Param("appendfsync", _appendfsync),
        Param("timeout", lambda c: "0"),       # idle connections are never closed
        Param("slowlog-log-slower-than", lambda c: str(hooks.slowlog_slower_than_us),
              lambda c, v: setattr(hooks, "slowlog_slower_than_us", v),
              _int_range(-1, LONG_MAX)),
        Param("slowlog-max-len", lambda c: str(hooks.slowlog_max_len),
              _set_slowlog_max_len, _int_range(0, LONG_MAX)),
    ]
    live = {
        "quorumkv.node.max_clients": redis[0],
        "quorumkv.node.log_level": Param(
            "", lambda c: logging.getLevelName(logging.getLogger().level).lower(),
            _set_log_level, _one_of(LOG_LEVELS)),
        "quorumkv.cluster.default_consistency": Param(
            "", lambda c: c.kv.default_level(c.kv.initial).name, _set_consistency,
            _one_of(("one", "two", "quorum", "all"))),
    }
    own = []
    for section, values in (("node", node), ("cluster", cluster)):
        for f in fields(values):
            if f.name == "nodes":
                continue
            name = f"quorumkv.{section}.{f.name}"
            p = live.get(name)
            own.append(Param(name, p.get, p.set, p.check) if p else
                       Param(name, lambda c, v=getattr(values, f.name): str(v)))
    return redis + own


def _set_slowlog_max_len(ctx, value: int) -> None:
    ctx.hooks.slowlog_max_len = value
    while len(ctx.hooks.slowlog) > value:
        ctx.hooks.slowlog.pop()


def _failed(name: str, reason: str):
    raise SyntaxError_(f"CONFIG SET failed (possibly related to argument '{name}') - {reason}")


CONFIG = container("CONFIG")


@CONFIG.sub("GET", -3, "admin noscript loading stale", (
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values."))
async def config_get(ctx, args):
    patterns = [a.lower() for a in args[2:]]
    pairs = [(resp.bulk(p.name.encode()), resp.bulk(p.get(ctx).encode()))
             for p in _params(ctx)
             if any(glob_match(pattern, p.name.encode()) for pattern in patterns)]
    return resp.mapping(pairs, ctx.resp3)


@CONFIG.sub("SET", -4, "admin noscript loading stale", (
        "SET <directive> <value>", "    Set the configuration <directive> to <value>."))
async def config_set(ctx, args):
    """All pairs are checked before any is applied, as Redis 7 does."""
    if len(args) % 2:
        raise SyntaxError_("syntax error")
    params = {p.name: p for p in _params(ctx)}
    chosen: list = []
    for i in range(2, len(args), 2):
        name = args[i].decode("utf-8", "replace").lower()
        p = params.get(name)
        if p is None:
            raise SyntaxError_(f"Unknown option or number of arguments for CONFIG SET - "
                               f"'{args[i].decode('utf-8', 'replace')}'")
        if any(p is q for q, _ in chosen):
            _failed(name, "duplicate parameter")
        if p.set is None:
            _failed(name, "can't set immutable config")
        chosen.append((p, args[i + 1]))
    changes = []
    for p, raw in chosen:
        try:
            changes.append((p, p.check(raw)))
        except _Bad as exc:
            _failed(p.name, str(exc))
    for p, value in changes:
        p.set(ctx, value)
    return resp.OK


@CONFIG.sub("RESETSTAT", 2, "admin noscript loading stale", (
        "RESETSTAT", "    Reset statistics reported by the INFO command."))
async def config_resetstat(ctx, args):
    """INFO stats and commandstats count from now on (/metrics keeps counting)."""
    ctx.hooks.reset_stats()
    return resp.OK
