"""Introspection: COMMAND, CONFIG and INFO."""

from __future__ import annotations

import time

from ... import __version__, accel
from ...core import resp
from ...core.glob import glob_match
from ...errors import SyntaxError_
from .registry import COMMANDS, KEYSPACE, REDIS_COMPAT_VERSION, Spec, command


@command("COMMAND", -1, "loading stale")
async def command_(ctx, args):
    if len(args) == 1:
        return resp.array([_command_info(name, spec) for name, spec in sorted(COMMANDS.items())])
    sub = args[1].upper()
    if sub == b"COUNT":
        return resp.integer(len(COMMANDS))
    if sub == b"INFO":
        names = [a.decode(errors="replace").upper() for a in args[2:]]
        return resp.array([_command_info(n, COMMANDS[n]) if n in COMMANDS else ctx.null()
                           for n in names])
    if sub == b"DOCS":
        return resp.mapping([], ctx.resp3)
    if sub == b"LIST":
        return resp.bulk_array([n.lower().encode() for n in sorted(COMMANDS)])
    raise SyntaxError_(f"unknown subcommand '{args[1].decode(errors='replace')}'. "
                       f"Try COMMAND HELP.")


def _command_info(name: str, spec: Spec) -> bytes:
    first, last, step = spec.keys
    return resp.array([resp.bulk(name.lower().encode()), resp.integer(spec.arity),
                       resp.array([resp.simple(f) for f in spec.flags]), resp.integer(first),
                       resp.integer(last), resp.integer(step)])


@command("CONFIG", -2, "admin noscript loading stale")
async def config(ctx, args):
    """``CONFIG GET <pattern>...``: the few Redis parameters tools ask for, read-only.
    Settings live in the node's config file."""
    if args[1].upper() != b"GET" or len(args) < 3:
        raise SyntaxError_("CONFIG supports only GET here; settings live in the node's "
                           "config file")
    node = ctx.node.config.node
    params = {
        b"save": b"",
        b"appendonly": b"yes",  # the RocksDB WAL is always on
        b"appendfsync": {"always": b"always", "batch": b"always",
                         "periodic": b"everysec"}[node.fsync],
        b"databases": b"1",
        b"maxclients": str(node.max_clients).encode(),
        b"proto-max-bulk-len": str(node.max_value_bytes).encode(),
    }
    pairs = [(k, v) for k, v in params.items()
             if any(glob_match(pattern.lower(), k) for pattern in args[2:])]
    return resp.mapping([(resp.bulk(k), resp.bulk(v)) for k, v in pairs], ctx.resp3)


@command("INFO", -1, "loading stale")
async def info(ctx, args):
    sections = {a.decode(errors="replace").lower() for a in args[1:]} or {"default"}
    node = ctx.node
    me = node.me
    keys, size = node.storage.stats()
    wanted = lambda s: bool(sections & {s, "all", "everything", "default"})  # noqa: E731
    out = []
    if wanted("server"):
        out += ["# Server", f"redis_version:{REDIS_COMPAT_VERSION}",
                f"quorumkv_version:{__version__}", f"node_id:{node.node_id}",
                "redis_mode:cluster-proxy", f"tcp_port:{me.resp_port}",
                f"uptime_in_seconds:{int(time.time() - node.started_at)}",
                f"compiled_modules:{len(accel.status()['compiled'])}/{len(accel.MODULES)}"]
        hint = accel.build_hint()
        out += [f"compiled_hint:{hint}"] if hint else []
        out.append("")
    if wanted("clients"):
        out += ["# Clients", f"connected_clients:{int(node.metrics.clients._value.get())}", ""]
    if wanted("replication") or wanted("cluster"):
        cfg = node.config.cluster
        out += ["# Cluster", "role:master", f"cluster_nodes:{len(cfg.nodes)}",
                f"replication_factor:{node.ranges.keyspaces[KEYSPACE].replication_factor}",
                f"ranges:{len(node.ranges.all_ranges())}",
                f"range_map_epoch:{node.ranges.epoch}",
                f"default_consistency:{node.default_level.name}",
                f"connection_consistency:{ctx.level.name}", ""]
    if wanted("keyspace"):
        out += ["# Keyspace", f"db0:keys={keys},expires=0,avg_ttl=0", ""]
    return resp.verbatim("\r\n".join(out), ctx.resp3)
