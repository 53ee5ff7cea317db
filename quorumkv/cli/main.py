"""``quorumkv``: the command-line entry point.

    quorumkv node start --config cluster.toml --id n1     one node, in the foreground
    quorumkv node start --config n4.toml --join HOST:PORT  a new node joins a running cluster
    quorumkv node remove ID                                retire a dead node
    quorumkv cluster up --nodes 3                          a local cluster, in the foreground
    quorumkv cluster restart-node n3                       start again a node of it that died
    quorumkv set KEY VALUE / get KEY / del KEY...          talk to any node
    quorumkv status                                        the cluster as one node sees it
    quorumkv ranges [--keyspace users] [--sort load]       every range: bounds, size, load
    quorumkv keyspace create|list|describe|drop            keyspaces, while the cluster runs
    quorumkv bench                                         load and latency

Exit codes: 0 success; 1 ``get`` found nothing (or a command failed after start);
2 bad usage or bad configuration (reported before anything starts); 3 the cluster
could not be reached or refused the request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request

import click

from .. import config as cfgmod
from ..config import REQUEST_LEVELS
from ..errors import ConfigError

EXIT_NOT_FOUND = 1
EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3
LOG_LEVELS = ("debug", "info", "warning", "error")
level_choice = click.Choice(REQUEST_LEVELS, case_sensitive=False)
fsync_choice = click.Choice(["always", "batch", "periodic"])

log = logging.getLogger(__name__)


def fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="quorumkv", message="%(prog)s %(version)s")
def main() -> None:
    """QuorumKV: a distributed key-value database spoken to over Redis and HTTP."""


# ---- node ----------------------------------------------------------------------


@main.group()
def node() -> None:
    """Run one node."""


@node.command("start")
@click.option("--config", "config_path", required=True, metavar="FILE",
              help="Cluster TOML file (the same file can serve every node).")
@click.option("--id", "node_id", help="Which entry of cluster.nodes this node is.")
@click.option("--data-dir", help="Data directory ('{id}' expands to the node id).")
@click.option("--fsync", type=fsync_choice, help="When the write-ahead log is synced.")
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False))
@click.option("--join", "join_via", metavar="HOST:PEER_PORT",
              help="Join the running cluster of this node (any node's peer address); "
                   "the file then names only this node.")
def node_start(config_path, node_id, data_dir, fsync, log_level, join_via) -> None:
    """Start one node in the foreground; SIGINT/SIGTERM stops it cleanly."""
    overrides = {"id": node_id, "data_dir": data_dir, "fsync": fsync,
                 "log_level": log_level.lower() if log_level else None}
    from ..node import identity
    from ..node import join
    try:
        cfg = cfgmod.load(config_path, overrides=overrides)
        if join_via or os.path.exists(join.joined_path(cfg)):
            cfg = asyncio.run(join.join(cfg, join_via or ""))
        cfgmod.check_startable(cfg)
        identity.check(cfg)  # this cluster's data? (recorded at start, in Node.start)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    except join.JoinRefused as exc:
        fail(str(exc), EXIT_UNREACHABLE)
    logging.basicConfig(
        level=cfg.node.log_level.upper(),
        format=f"%(asctime)s {cfg.node.id} %(levelname)-7s %(name)s: %(message)s")
    import uvloop
    # "{id}" in the path is replaced by the node id: `cluster up` starts every node
    # with the same environment
    profile_path = os.environ.get("QKV_PROFILE_OUT", "").replace("{id}", cfg.node.id)
    if not profile_path:
        sys.exit(uvloop.run(run_node(cfg)))
    # profiling the hot path: cProfile the whole run, stats written on a clean stop
    import cProfile
    profiler = cProfile.Profile()
    code = profiler.runcall(uvloop.run, run_node(cfg))
    profiler.dump_stats(profile_path)
    sys.exit(code)


async def run_node(cfg) -> int:
    from ..node.clock import wall_clock_ms
    from ..node.node import Node
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    # fault injection for tests: this node's wall clock runs off by the given ms
    offset_ms = int(os.environ.get("QKV_CLOCK_OFFSET_MS", "0") or 0)
    node = Node(cfg, clock_ms=lambda: wall_clock_ms() + offset_ms) if offset_ms else Node(cfg)
    try:
        await node.start()
    except ConfigError as exc:  # found between the check in node_start and here
        log.error("node %s cannot start: %s", cfg.node.id, exc)
        await node.stop()
        return EXIT_CONFIG
    except Exception:
        log.exception("node %s failed to start", cfg.node.id)
        await node.stop()
        return 1
    await stopping.wait()
    log.info("node %s stopping", cfg.node.id)
    await node.stop()
    return 0


@node.command("remove")
@click.argument("node_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--http", "bases", multiple=True, metavar="URL[,URL...]",
              default=("http://127.0.0.1:8079",), show_default=True,
              help="Node HTTP addresses, tried in order until one answers.")
def node_remove(node_id, yes, bases) -> None:
    """Retire dead node ID from the cluster (it may never come back under this id)."""
    if not yes:
        click.confirm(f"remove node {node_id} from the cluster for good?", abort=True)
    answer = keyspace_call(bases, "DELETE", f"/v1/nodes/{urllib.parse.quote(node_id)}")
    click.echo(f"removed node {answer['removed']} (metadata version {answer['version']})")


# ---- cluster -------------------------------------------------------------------


@main.group()
def cluster() -> None:
    """Run a local cluster."""


@cluster.command("up")
@click.option("--nodes", "count", type=click.IntRange(1, 64), default=3, show_default=True)
@click.option("--host-per-node", is_flag=True,
              help="Give node K the address 127.0.0.K instead of sharing 127.0.0.1.")
@click.option("--data-dir", default="./data", show_default=True,
              help="Holds cluster.toml, one directory per node and the node logs.")
@click.option("--resp-base", type=int, default=7378, show_default=True,
              help="Node K serves Redis clients on resp-base + K.")
@click.option("--http-base", type=int, default=8078, show_default=True)
@click.option("--peer-base", type=int, default=9078, show_default=True)
@click.option("--fsync", type=fsync_choice, default="batch", show_default=True)
@click.option("--ranges", type=int, default=16, show_default=True)
@click.option("--replication-factor", type=int, default=3, show_default=True)
@click.option("--keyspace", "keyspaces", multiple=True, metavar="SPEC",
              help="A keyspace besides default (repeatable): NAME:hash[:K] or "
                   "NAME:range[:P1,P2,...], then optionally :strong (a Raft "
                   "keyspace), then optionally :db=N "
                   "(e.g. users:range:l,r:db=1, locks:hash:4:strong:db=2).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False),
              default="info", show_default=True)
@click.option("--ready-timeout-s", type=float, default=30.0, show_default=True,
              help="How long every node gets to accept Redis connections.")
def cluster_up(count, host_per_node, data_dir, resp_base, http_base, peer_base, fsync,
               ranges, replication_factor, keyspaces, log_level, ready_timeout_s) -> None:
    """Start N nodes as child processes and stay in the foreground (Ctrl-C stops all)."""
    from .cluster import LocalCluster, cluster_config
    data_dir = os.path.abspath(data_dir)
    nodes = cfgmod.local_cluster_nodes(count, host_per_node, resp_base, http_base, peer_base)
    config = cfgmod.Config(
        cfgmod.NodeSection(data_dir=os.path.join(data_dir, "{id}"), fsync=fsync,
                           log_level=log_level.lower()),
        cfgmod.ClusterSection(ranges=ranges, replication_factor=replication_factor,
                              nodes=nodes))
    try:
        local = LocalCluster(cluster_config(config, keyspaces), data_dir, ready_timeout_s)
        local.prepare()
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    sys.exit(local.run())


@cluster.command("restart-node")
@click.argument("node_id")
@click.option("--data-dir", default="./data", show_default=True,
              help="The data directory of the running 'cluster up'.")
@click.option("--ready-timeout-s", type=float, default=30.0, show_default=True,
              help="How long the node gets to accept Redis connections.")
def cluster_restart_node(node_id, data_dir, ready_timeout_s) -> None:
    """Start again NODE_ID of the running 'cluster up' after it exited: the
    supervisor spawns it as before, logging to the same file; Ctrl-C of
    'cluster up' stops it with the others."""
    from .cluster import restart_node
    code, message = restart_node(os.path.abspath(data_dir), node_id, ready_timeout_s)
    click.echo(message, err=code != 0)
    sys.exit(code)


# ---- key-value commands --------------------------------------------------------


KEYSPACE_HELP = "Keyspace (QKV.KEYSPACES lists them; default: the node's db 0 keyspace)."


def client_options(fn):
    """--host/--port or repeated --node, --keyspace, --consistency, --timeout."""
    options = [
        click.option("--host", default="127.0.0.1", show_default=True),
        click.option("--port", type=int, default=7379, show_default=True),
        click.option("--node", "nodes", multiple=True, metavar="HOST:PORT",
                     help="A node to try (repeatable; replaces --host/--port)."),
        click.option("--keyspace", help=KEYSPACE_HELP),
        click.option("--consistency", type=level_choice,
                     help="Consistency level (default: the keyspace's)."),
        click.option("--timeout", type=float, default=5.0, show_default=True),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def open_client(host, port, nodes, keyspace, consistency, timeout):
    from ..client import Client
    try:
        return Client(list(nodes) or [f"{host}:{port}"], consistency, timeout,
                      keyspace=keyspace)
    except ValueError as exc:
        fail(str(exc), EXIT_CONFIG)


def run_client(fn, host, port, nodes, keyspace, consistency, timeout):
    import redis
    client = open_client(host, port, nodes, keyspace, consistency, timeout)
    try:
        return fn(client)
    except redis.RedisError as exc:
        fail(str(exc), EXIT_UNREACHABLE)
    finally:
        client.close()


@main.command("get")
@click.argument("key")
@client_options
def get_cmd(key, **opts) -> None:
    """Print the value of KEY, or (nil) with exit code 1."""
    value = run_client(lambda c: c.get(key), **opts)
    if value is None:
        click.echo("(nil)")
        sys.exit(EXIT_NOT_FOUND)
    sys.stdout.buffer.write(value + b"\n")


@main.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--ttl", type=click.FloatRange(min=0.001), help="Expire after SECONDS.")
@client_options
def set_cmd(key, value, ttl, **opts) -> None:
    """Set KEY to VALUE."""
    run_client(lambda c: c.set(key, value, ttl=ttl), **opts)
    click.echo("OK")


@main.command("del")
@click.argument("keys", nargs=-1, required=True)
@client_options
def del_cmd(keys, **opts) -> None:
    """Delete KEYS; prints how many existed."""
    click.echo(run_client(lambda c: c.delete(*keys), **opts))


# ---- status --------------------------------------------------------------------


@main.command("status")
@click.option("--http", "bases", multiple=True, metavar="URL[,URL...]",
              default=("http://127.0.0.1:8079",), show_default=True,
              help="Node HTTP addresses, tried in order until one answers (comma-separated "
                   "or repeated).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON of the node "
                                                     "that answered.")
@click.option("--timeout", type=float, default=5.0, show_default=True,
              help="Seconds per node asked.")
def status_cmd(bases, as_json, timeout) -> None:
    """The cluster as one node sees it: nodes, ranges, estimated keys and bytes, the
    hint backlog per node (summed over every node that answers)."""
    from .status import Unreachable, base_urls, first_answer, format_status, hint_backlog
    urls = base_urls(bases)
    if not urls:
        fail("--http names no address", EXIT_CONFIG)
    try:
        base, status, skipped = first_answer(urls, timeout)
    except Unreachable as exc:
        fail(str(exc), EXIT_UNREACHABLE)
    for error in skipped:
        click.echo(f"warning: {error}; asked the next address", err=True)
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    click.echo(format_status(status, *hint_backlog(status, timeout)))


# ---- keyspace ------------------------------------------------------------------

http_option = click.option("--http", "bases", multiple=True, metavar="URL[,URL...]",
                           default=("http://127.0.0.1:8079",), show_default=True,
                           help="Node HTTP addresses, tried in order until one answers.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")


@main.group()
def keyspace() -> None:
    """Create, list, describe and drop keyspaces while the cluster runs."""


def keyspace_call(bases, method: str, path: str, body=None):
    from .keyspace import Refused, call
    from .status import Unreachable, base_urls
    urls = base_urls(bases)
    if not urls:
        fail("--http names no address", EXIT_CONFIG)
    try:
        return call(urls, method, path, body)
    except Refused as exc:
        fail(str(exc), EXIT_CONFIG)
    except Unreachable as exc:
        fail(str(exc), EXIT_UNREACHABLE)


@keyspace.command("create")
@click.argument("name")
@click.option("--mode", help="eventual or strong [default: eventual].")
@click.option("--partitioner", help="hash or range [default: hash].")
@click.option("--ranges", help="Ranges of a hash keyspace [default: 16].")
@click.option("--split-points", help="Split points of a range keyspace: l,r,...")
@click.option("--rf", "replication_factor", help="Replication factor [default: 3].")
@click.option("--db", help="The Redis db number that SELECTs it.")
@click.option("--consistency", "default_consistency",
              help="Default consistency (ONE, TWO, QUORUM, ALL).")
@http_option
@json_option
def keyspace_create(name, bases, as_json, **settings) -> None:
    """Create keyspace NAME (e.g. locks --mode strong --rf 3 --ranges 8). The
    settings go to the node as given: it checks them (the same check and error
    text as HTTP and RESP)."""
    from .keyspace import format_describe, keyspace_path, spec_body
    answer = keyspace_call(bases, "POST", keyspace_path(), spec_body(name, settings))
    click.echo(json.dumps(answer, indent=2) if as_json else
               f"created {format_describe(answer)}")


@keyspace.command("list")
@http_option
@json_option
def keyspace_list(bases, as_json) -> None:
    """Every keyspace of the cluster."""
    from .keyspace import format_list, keyspace_path
    answer = keyspace_call(bases, "GET", keyspace_path())
    click.echo(json.dumps(answer, indent=2) if as_json else format_list(answer))


@keyspace.command("describe")
@click.argument("name")
@http_option
@json_option
def keyspace_describe(name, bases, as_json) -> None:
    """Settings, ranges (replicas, generation, Raft leader) and notes of NAME."""
    from .keyspace import format_describe, keyspace_path
    answer = keyspace_call(bases, "GET", keyspace_path(name))
    click.echo(json.dumps(answer, indent=2) if as_json else format_describe(answer))


@keyspace.command("drop")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@http_option
def keyspace_drop(name, yes, bases) -> None:
    """Drop keyspace NAME and delete its data on every node."""
    from .keyspace import keyspace_path
    if not yes:
        click.confirm(f"drop keyspace {name} and delete all its data?", abort=True)
    answer = keyspace_call(bases, "DELETE", keyspace_path(name))
    click.echo(f"dropped keyspace {answer['dropped']} (id {answer['id']})")


@main.command("ranges")
@click.option("--http", "bases", multiple=True, metavar="URL[,URL...]",
              default=("http://127.0.0.1:8079",), show_default=True,
              help="Node HTTP addresses, tried in order until one answers.")
@click.option("--keyspace", help="Only this keyspace.")
@click.option("--sort", type=click.Choice(["load", "size", "range"]), default="load",
              show_default=True, help="Hottest first, largest first, or in range order.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
@click.option("--timeout", type=float, default=5.0, show_default=True,
              help="Seconds per node asked.")
def ranges_cmd(bases, keyspace, sort, as_json, timeout) -> None:
    """Every range with its bounds, replicas, keys, bytes and reads/s and writes/s
    over the last minute, the hottest first: where the load goes."""
    from .ranges import fetch_ranges, format_ranges
    from .status import Unreachable, base_urls
    urls = base_urls(bases)
    if not urls:
        fail("--http names no address", EXIT_CONFIG)
    try:
        view = fetch_ranges(urls, keyspace, sort, timeout)
    except Unreachable as exc:
        fail(str(exc), EXIT_UNREACHABLE)
    except LookupError as exc:  # the node's 4xx answer
        fail(str(exc.args[0]), EXIT_CONFIG)
    click.echo(json.dumps(view, indent=2) if as_json else format_ranges(view))


@main.command("repair")
@click.option("--http", "base", default="http://127.0.0.1:8079", show_default=True,
              help="The HTTP address of the node whose ranges to repair.")
@click.option("--keyspace", help="Only this keyspace.")
@click.option("--range", "range_id", type=click.IntRange(1), help="Only this range id.")
@click.option("--timeout", type=float, default=3600.0, show_default=True)
def repair_cmd(base, keyspace, range_id, timeout) -> None:
    """Anti-entropy now: compare this node's ranges with their other replicas
    (Merkle trees) and stream the keys that differ, both ways."""
    query = urllib.parse.urlencode({k: v for k, v in (("keyspace", keyspace),
                                                      ("range", range_id)) if v is not None})
    url = base.rstrip("/") + "/v1/repair" + (f"?{query}" if query else "")
    summary = None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"),
                                    timeout=timeout) as reply:
            bar = None
            for line in reply:
                event = json.loads(line)
                if "summary" in event:
                    summary = event["summary"]
                    break
                if bar is None:
                    bar = click.progressbar(length=event["total"], label="repairing ranges",
                                            file=sys.stderr)
                bar.update(1)
            if bar is not None:
                bar.render_finish()
    except urllib.error.HTTPError as exc:
        fail(f"{url}: {exc.read().decode(errors='replace').strip() or exc}", EXIT_CONFIG)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        fail(f"cannot repair through {url}: {getattr(exc, 'reason', exc)}", EXIT_UNREACHABLE)
    if summary is None:
        fail(f"{url} ended without a summary", EXIT_UNREACHABLE)
    click.echo(f"ranges compared {summary['ranges_compared']}, differing "
               f"{summary['ranges_differing']}; keys streamed {summary['keys_streamed']} "
               f"(fetched {summary['keys_fetched']}, pushed {summary['keys_pushed']}); "
               f"{summary['bytes_exchanged']} bytes exchanged")
    for error in summary["errors"]:
        click.echo(f"warning: {error}", err=True)
    if summary["errors"]:
        sys.exit(EXIT_UNREACHABLE)


# ---- bench ---------------------------------------------------------------------


@main.command("bench")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=7379, show_default=True)
@click.option("--node", "nodes", multiple=True, metavar="HOST:PORT",
              help="Spread clients over these nodes (repeatable).")
@click.option("--clients", type=click.IntRange(1, 10000), default=32, show_default=True)
@click.option("--keys", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--value-size", type=click.IntRange(0), default=100, show_default=True)
@click.option("--requests", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--duration-s", type=click.FloatRange(min=0.001), default=60.0,
              show_default=True)
@click.option("--read-ratio", type=click.FloatRange(0.0, 1.0), default=0.0,
              show_default=True)
@click.option("--keyspace", help=KEYSPACE_HELP)
@click.option("--consistency", type=level_choice, default="QUORUM", show_default=True)
@click.option("--preload", is_flag=True, help="Write every key once before measuring.")
@click.option("--range-reads", is_flag=True,
              help="Ordered reads of 100 keys (QKV.RANGE) of --keyspace, which must be "
                   "range-partitioned; reports keys/s.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--timeout", type=float, default=5.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def bench_cmd(host, port, nodes, as_json, **params) -> None:
    """Closed-loop load: each client sends one request at a time."""
    from ..client import parse_node
    from .bench import BenchParams, format_result, run_bench
    try:
        targets = [parse_node(n) for n in nodes] or [(host, port)]
    except ValueError as exc:
        fail(str(exc), EXIT_CONFIG)
    import redis
    import uvloop
    try:
        result = uvloop.run(run_bench(targets, BenchParams(**params)))
    except redis.RedisError as exc:
        fail(f"cannot start the benchmark: {exc}", EXIT_UNREACHABLE)
    click.echo(json.dumps(result) if as_json else format_result(result))
    if result["ok"] == 0:
        sys.exit(EXIT_UNREACHABLE)
