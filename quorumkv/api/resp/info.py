"""INFO: Redis's sections with this node's real figures.

Fields keep Redis's names and meaning where QuorumKV has the same thing; its own
facts are named ``quorumkv_*`` or sit in ``# Cluster``. Figures that are
estimates say so (``db0`` keys come from RocksDB's estimate of this node's
records, tombstones included).
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time

from ... import __version__, accel
from ...core import resp
from .registry import REDIS_COMPAT_VERSION, command

DEFAULT = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu",
           "cluster", "keyspace")
ALL = DEFAULT + ("commandstats",)


def human(n: float) -> str:
    """As Redis's bytesToHuman: 512B, 1.50K, 2.00M ..."""
    if n < 1024:
        return f"{int(n)}B"
    for unit in "KMGTPE":
        n /= 1024
        if n < 1024 or unit == "E":
            return f"{n:.2f}{unit}"
    return ""


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _server(ctx) -> list[str]:
    node, me = ctx.node, ctx.node.me
    uptime = int(time.time() - node.started_at)
    return [f"redis_version:{REDIS_COMPAT_VERSION}", f"quorumkv_version:{__version__}",
            f"node_id:{node.node_id}", "redis_mode:cluster-proxy",
            f"os:{platform.system()} {platform.release()} {platform.machine()}",
            f"arch_bits:{64 if sys.maxsize > 2**32 else 32}",
            f"python_version:{platform.python_version()}",
            f"process_id:{os.getpid()}", f"run_id:{ctx.hooks.run_id}",
            f"tcp_port:{me.resp_port}", f"server_time_usec:{time.time_ns() // 1000}",
            f"uptime_in_seconds:{uptime}", f"uptime_in_days:{uptime // 86400}",
            f"executable:{sys.executable}",
            f"compiled_modules:{len(accel.status()['compiled'])}/{len(accel.MODULES)}",
            *([f"compiled_hint:{hint}"] if (hint := accel.build_hint()) else [])]


def _clients(ctx) -> list[str]:
    hooks = ctx.hooks
    return [f"connected_clients:{len(hooks.contexts)}", "cluster_connections:0",
            f"maxclients:{hooks.server.max_clients}", "blocked_clients:0",
            "tracking_clients:0", f"monitor_clients:{len(hooks.monitors)}"]


def _memory(ctx) -> list[str]:
    rss = _rss_bytes()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    _, stored = ctx.node.storage.stats()
    return [f"used_memory:{rss}", f"used_memory_human:{human(rss)}",
            f"used_memory_rss:{rss}", f"used_memory_rss_human:{human(rss)}",
            f"used_memory_peak:{peak}", f"used_memory_peak_human:{human(peak)}",
            f"total_system_memory:{total}", f"total_system_memory_human:{human(total)}",
            "maxmemory:0", "maxmemory_human:0B", "maxmemory_policy:noeviction",
            f"quorumkv_storage_bytes_estimate:{stored}",
            f"quorumkv_row_cache_max_bytes:{ctx.node.config.node.row_cache_bytes}"]


def _persistence(ctx) -> list[str]:
    node = ctx.node.config.node
    return ["loading:0", "async_loading:0", "rdb_bgsave_in_progress:0",
            "aof_enabled:1", "aof_rewrite_in_progress:0",
            f"quorumkv_fsync:{node.fsync}", f"quorumkv_periodic_sync_ms:{node.periodic_sync_ms}"]


def _stats(ctx) -> list[str]:
    hooks = ctx.hooks
    errors = sum(failed for _, _, _, failed in hooks.command_stats())
    return [f"total_connections_received:{hooks.counter('connections_received')}",
            f"total_commands_processed:{hooks.counter('commands')}",
            f"instantaneous_ops_per_sec:{hooks.ops_per_sec()}",
            f"total_net_input_bytes:{hooks.counter('net_in')}",
            f"total_net_output_bytes:{hooks.counter('net_out')}",
            f"rejected_connections:{hooks.counter('rejected_connections')}",
            "evicted_keys:0", "evicted_clients:0", "pubsub_channels:0",
            "pubsub_patterns:0", f"total_error_replies:{errors}"]


def _replication(ctx) -> list[str]:
    # every node takes writes for the ranges it holds; no Redis replicas attach
    return ["role:master", "connected_slaves:0"]


def _cpu(ctx) -> list[str]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    main = resource.getrusage(resource.RUSAGE_THREAD)  # INFO runs on the loop's thread
    return [f"used_cpu_sys:{me.ru_stime:.6f}", f"used_cpu_user:{me.ru_utime:.6f}",
            f"used_cpu_sys_children:{kids.ru_stime:.6f}",
            f"used_cpu_user_children:{kids.ru_utime:.6f}",
            f"used_cpu_sys_main_thread:{main.ru_stime:.6f}",
            f"used_cpu_user_main_thread:{main.ru_utime:.6f}"]


def _commandstats(ctx) -> list[str]:
    """Per command, as Redis; ``failed_calls`` counts every error reply (also those
    Redis would count as rejected: wrong arity, over a limit), so
    ``rejected_calls`` is 0."""
    return [f"cmdstat_{name.lower()}:calls={calls},usec={int(usec)},"
            f"usec_per_call={usec / calls:.2f},rejected_calls=0,failed_calls={failed}"
            for name, calls, usec, failed in ctx.hooks.command_stats() if name != "UNKNOWN"]


def _cluster(ctx) -> list[str]:
    """The cluster, and the connection's keyspace (replication factor, default level)."""
    node, kv, keyspace = ctx.node, ctx.kv, ctx.keyspace
    return ["cluster_enabled:0", f"cluster_nodes:{len(node.config.cluster.nodes)}",
            f"keyspaces:{len(kv.names())}", f"connection_keyspace:{keyspace}",
            f"replication_factor:{kv.keyspace(keyspace).replication_factor}",
            f"ranges:{len(node.ranges.all_ranges())}",
            f"range_map_epoch:{node.ranges.version}",
            f"default_consistency:{kv.default_level(keyspace).name}",
            f"connection_consistency:{ctx.level.name}"]


def _keyspace(ctx) -> list[str]:
    keys, _ = ctx.node.storage.stats()
    # keys: RocksDB's estimate of this node's records of every keyspace, tombstones
    # included (DBSIZE counts one keyspace exactly); RocksDB keeps no count per
    # keyspace, so one line carries them all, under db 0, and the sum over the
    # lines (what redis-cli --stat shows) stays right; expiries are not tracked,
    # so expires and avg_ttl stay 0
    return [f"db0:keys={keys},expires=0,avg_ttl=0", "quorumkv_keys_estimated:1"]


SECTIONS = {"server": ("Server", _server), "clients": ("Clients", _clients),
            "memory": ("Memory", _memory), "persistence": ("Persistence", _persistence),
            "stats": ("Stats", _stats), "replication": ("Replication", _replication),
            "cpu": ("CPU", _cpu), "commandstats": ("Commandstats", _commandstats),
            "cluster": ("Cluster", _cluster), "keyspace": ("Keyspace", _keyspace)}


def wanted(args: list) -> list[str]:
    asked = [a.decode("utf-8", "replace").lower() for a in args[1:]] or ["default"]
    out: list[str] = []
    for name in asked:
        names = {"default": DEFAULT, "all": ALL, "everything": ALL}.get(name, (name,))
        out += [n for n in names if n in SECTIONS and n not in out]
    return [n for n in ALL if n in out]  # in Redis's order


@command("INFO", -1, "loading stale")
async def info(ctx, args):
    out = []
    for name in wanted(args):
        title, fn = SECTIONS[name]
        out += [f"# {title}"] + fn(ctx) + [""]
    return resp.verbatim("\r\n".join(out), ctx.resp3)
