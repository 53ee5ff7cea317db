"""Load generator of the strong-keyspace benchmark: one driver, pluggable targets.

    .venv/bin/python bench/strong/load.py --target etcd \\
        --endpoints 127.0.0.1:27101,127.0.0.1:27102,127.0.0.1:27103
    .venv/bin/python bench/strong/load.py --target zookeeper --endpoints ...
    .venv/bin/python bench/strong/load.py --target quorumkv --keyspace locks --endpoints ...

Targets (each in its own module beside this one): `etcd` (v3 gRPC KV service),
`zookeeper` (ZooKeeper's own protocol), `quorumkv` (RESP: SET / GET / INCR, for a
strong keyspace; runs against redis-server too). Each module's docstring says what
each of its workloads does and what consistency it gives.

What a run does: connect `--clients` clients (32; client c to endpoint c mod the
number of endpoints, one request in flight each, one connection each unless
`--conns` is smaller: then they share connections, requests pipelined); preload
`--keys` keys (100,000) with `--value-size`-byte values (100) and `--counters`
counters (1,000) set to 0, in batches (etcd: a Txn of 128 Puts, ZooKeeper: a multi of
100 creates, RESP: 100 pipelined SETs); then for each workload a `--warmup` (2 s) that
is not recorded, then up to `--ops` operations (200,000) or `--seconds` (10 s),
whichever ends first. Keys are uniform over the key space; increments go to the
counters. Reported per workload: ops/s (operations that succeeded over the measured
window), p50 / p99 latency, errors (by kind, with counts), retries (incr: CAS
conflicts) and the client's own CPU over the window (microseconds per operation,
and the share of one core: near 100 % per process means the client, not the
server, sets the figure).

With an `incr` workload the counters are summed before and after the load (read
up to date: etcd's default Range, ZooKeeper's sync + getData, GET): they must have
risen by every
acknowledged increment (warm-up included) and by no more than were sent; a
mismatch is printed and the exit status is 1.

`--procs P` runs the clients in P processes (clients and ops split among them; one
preload in the parent; every process starts each workload at the same wall-clock
time) and merges their figures: ops/s over the union of their windows, latencies
merged. If the total rises with P at the same --clients, one process was the
bottleneck.

Every loop is bounded by count and time; every request has a timeout
(`--request-timeout`, 5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import math
import os
import random
import subprocess
import sys
import time

TARGETS = {"etcd": "etcd_target", "zookeeper": "zk_target", "quorumkv": "resp_target"}
PHASE_GAP_S = 0.5   # between one workload's end and the next one's warm-up
START_DELAY_S = 3.0  # for the --procs children to import, connect and be ready
MAX_ERROR_KINDS = 20


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=sorted(TARGETS), required=True)
    ap.add_argument("--endpoints", required=True, help="host:port[,host:port...]")
    ap.add_argument("--keyspace", help="quorumkv: QKV.USE this keyspace on every connection")
    ap.add_argument("--follow-leaders", action="store_true",
                    help="quorumkv, a strong --keyspace: send each request to its range's "
                         "leader (QKV.REDIRECT ON, MOVED followed and kept), as "
                         "quorumkv.client.strong does, under QKV.REQUEST sessions")
    ap.add_argument("--workloads", help="comma-separated (default: the target's list)")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--conns", type=int, help="connections the clients share (default: one each)")
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--counters", type=int, default=1_000)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--ops", type=int, default=200_000, help="per workload, at most")
    ap.add_argument("--seconds", type=float, default=10.0, help="per workload, at most")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds per workload, not recorded")
    ap.add_argument("--request-timeout", type=float, default=5.0)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--no-preload", action="store_true", help="the keys are there already")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="also write the figures to this file")
    # set by the parent for its --procs children
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-clients", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-first", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the --procs children
    args.conns = args.conns or args.clients
    for name in ("clients", "conns", "keys", "counters", "ops", "procs"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.seconds <= 0 or args.warmup < 0 or args.request_timeout <= 0 or args.value_size < 0:
        ap.error("--seconds and --request-timeout must be positive, "
                 "--warmup and --value-size not negative")
    if not args.procs <= args.conns <= args.clients:
        ap.error("need --procs <= --conns <= --clients")
    args.endpoint_list = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    bad = [e for e in args.endpoint_list if not e.rpartition(":")[2].isdigit()]
    if bad or not args.endpoint_list:
        ap.error(f"--endpoints wants host:port[,host:port...], not {args.endpoints!r}")
    target = load_target(args)
    args.workload_list = args.workloads.split(",") if args.workloads else list(target.default_workloads)
    if len(set(args.workload_list)) != len(args.workload_list):
        ap.error("a workload may appear only once in --workloads")
    unknown = [w for w in args.workload_list if w not in target.workloads]
    if unknown:
        ap.error(f"target {args.target} has no workload {', '.join(unknown)}; "
                 f"it has {', '.join(target.workloads)}")
    return args


def load_target(args):
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:  # the target modules live beside this file
        sys.path.insert(0, here)
    return importlib.import_module(TARGETS[args.target]).Target(args)


def width(n: int) -> int:
    return len(str(n - 1))


# -- one process: connect, preload, run the phases ---------------------------


async def connect_all(target, args, n: int, first: int) -> list:
    """n clients on n connections, connection first + i to endpoint (first + i) mod
    len(endpoints); with fewer --conns than clients, the clients share them
    round-robin (their requests pipelined on one connection)."""
    endpoints = args.endpoint_list
    n_conns = max(1, round(n * args.conns / args.clients))
    conns = await asyncio.gather(
        *(connect(target, args, endpoints[(first + i) % len(endpoints)]) for i in range(n_conns)))
    return [conns[i % n_conns] for i in range(n)]


async def connect(target, args, endpoint: str):
    try:
        return await asyncio.wait_for(target.connect(endpoint), args.request_timeout)
    except asyncio.TimeoutError:
        raise RunFailed(f"load.py: cannot connect to {args.target} at {endpoint}: "
                        "no answer within the request timeout") from None
    except Exception as e:  # refused, or an error reply to the setup (QKV.USE of no keyspace)
        raise RunFailed(f"load.py: cannot connect to {args.target} at {endpoint}: {e}") from None


class RunFailed(Exception):
    """A target refused a connection or a load process failed: the run stops with this."""


async def preload(target, conns: list, args) -> float:
    """Every key and counter written once, batches shared among the connections."""
    rng = random.Random(args.seed)
    kw, cw = width(args.keys), width(args.counters)
    pairs = [(target.key(i, kw), rng.randbytes(args.value_size)) for i in range(args.keys)]
    pairs += [(target.counter(i, cw), b"0") for i in range(args.counters)]
    chunk = 1_000
    chunks = [pairs[i:i + chunk] for i in range(0, len(pairs), chunk)]

    async def loader(conn):
        while chunks:
            await target.preload(conn, chunks.pop())

    t0 = time.monotonic()
    await asyncio.gather(*(loader(c) for c in conns))
    return time.monotonic() - t0


def split(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


async def run_phase(target, workload: str, conns: list, args, ops: int, begin: float,
                    warm_until: float, end_by: float, seed: int) -> dict:
    """From begin warm up until warm_until (wall clock), then measure until ops or end_by."""
    kw, cw = width(args.keys), width(args.counters)
    latencies: list[int] = []
    errors: dict[str, int] = {}
    # warm_*: the warm-up's operations, not in the figures but in the counters' check
    totals = {"ok": 0, "retries": 0, "t0": math.inf, "t1": 0.0, "warm_ok": 0, "warm_err": 0}

    async def worker(index: int, conn) -> None:
        rng = random.Random(seed * 7919 + index)
        quota, done, warm_done = split(ops, len(conns), index), 0, 0
        counters = workload == "incr"
        writes = workload == "write"
        while True:
            now = time.time()
            measuring = now >= warm_until
            if now >= end_by or (measuring and done >= quota):
                return
            if not measuring and warm_done >= quota:  # the warm-up is bounded by count too
                await sleep_until(warm_until)
                continue
            warm_done += not measuring
            n = rng.randrange(args.counters if counters else args.keys)
            key = target.counter(n, cw) if counters else target.key(n, kw)
            start = time.perf_counter_ns()
            try:
                value = rng.randbytes(args.value_size) if writes else b""
                retries = await target.op(workload, conn, key, value)
            except Exception as e:  # every failure is counted and reported, by kind
                if measuring:
                    count_error(errors, e)
                    done += 1
                else:
                    totals["warm_err"] += 1
                continue
            if not measuring:
                totals["warm_ok"] += 1
            else:
                latencies.append(time.perf_counter_ns() - start)
                totals["ok"] += 1
                totals["retries"] += retries
                totals["t0"] = min(totals["t0"], now)
                totals["t1"] = time.time()
                done += 1

    cpu0 = []

    async def mark_cpu() -> None:  # the client's CPU over the measured window only
        await sleep_until(warm_until)
        cpu0.append(time.process_time())

    await sleep_until(begin)
    await asyncio.gather(mark_cpu(), *(worker(i, c) for i, c in enumerate(conns)))
    return {"ok": totals["ok"], "retries": totals["retries"], "errors": errors,
            "warm_ok": totals["warm_ok"], "warm_err": totals["warm_err"],
            "t0": totals["t0"] if totals["ok"] else warm_until, "t1": totals["t1"] or warm_until,
            "cpu_s": time.process_time() - cpu0[0], "latencies_us": [x // 1000 for x in latencies]}


def count_error(errors: dict[str, int], e: Exception) -> None:
    kind = f"{type(e).__name__}: {str(e)[:120]}"
    if kind not in errors and len(errors) >= MAX_ERROR_KINDS:
        kind = "(other kinds)"
    errors[kind] = errors.get(kind, 0) + 1


async def sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def run_process(args, n_clients: int, first: int, start_at: float | None) -> dict:
    target = load_target(args)
    conns = await connect_all(target, args, n_clients, first)
    out = {"phases": {}}
    try:
        share = args.procs
        index = args.child or 0
        for j, workload in enumerate(args.workload_list):
            begin = (start_at + j * (args.warmup + args.seconds + PHASE_GAP_S)
                     if start_at is not None else time.time())
            warm_until = begin + args.warmup
            ops = split(args.ops, share, index)
            out["phases"][workload] = await run_phase(
                target, workload, conns, args, ops, begin, warm_until, warm_until + args.seconds,
                args.seed * 1000 + j * 100 + index)
    finally:
        await close_all(target, conns)
    return out


async def close_all(target, conns: list) -> None:
    unique = list({id(c): c for c in conns}.values())
    await asyncio.gather(*(target.close(c) for c in unique), return_exceptions=True)


async def with_clients(args, step):
    """await step(target, conns) on a fresh set of --clients connections."""
    target = load_target(args)
    conns = await connect_all(target, args, args.clients, 0)
    try:
        return await step(target, conns)
    finally:
        await close_all(target, conns)


async def counter_sum(target, conns: list, args) -> int:
    """The sum of all counters (each read as the target's read_int reads: up to date)."""
    cw = width(args.counters)
    todo = list(range(args.counters))
    total = 0

    async def reader(conn) -> None:
        nonlocal total
        while todo:
            value = await target.read_int(conn, target.counter(todo.pop(), cw))
            total += value  # not `total += await ...`: that reads total before the await

    await asyncio.gather(*(reader(c) for c in conns))
    return total


def incr_check(rise: int, results: list[dict]) -> dict:
    """Every acknowledged increment is in the counters, and nothing more than was sent.

    Acknowledged ones (warm-up included) must all be there; a failed one (a timeout)
    may or may not have been applied.
    """
    parts = [r["phases"]["incr"] for r in results]
    acked = sum(p["ok"] + p["warm_ok"] for p in parts)
    unsure = sum(sum(p["errors"].values()) + p["warm_err"] for p in parts)
    return {"counters_rose_by": rise, "acknowledged": acked, "failed": unsure,
            "ok": acked <= rise <= acked + unsure}


async def drive(args) -> dict:
    """The parent: preload, counters before, the load (here or in children), counters after."""
    preload_s = None if args.no_preload else await with_clients(
        args, lambda t, c: preload(t, c, args))
    check = "incr" in args.workload_list
    before = await with_clients(args, lambda t, c: counter_sum(t, c, args)) if check else 0
    if args.procs == 1:
        results = [await run_process(args, args.clients, 0, None)]
    else:
        results = await asyncio.to_thread(run_children, args)
    merged = merge(results, args.workload_list)
    after = await with_clients(args, lambda t, c: counter_sum(t, c, args)) if check else 0
    return {"preload_s": preload_s, "workloads": merged,
            "incr_check": incr_check(after - before, results) if check else None}


def event_loop_runner(args):
    """uvloop where the target's client runs on it (grpcio's asyncio API wants asyncio's)."""
    if args.target != "etcd":
        try:
            import uvloop
            return uvloop.run
        except ImportError:
            pass
    return asyncio.run


# -- many processes: the parent preloads, starts the children, merges --------


def run_children(args) -> list[dict]:
    start_at = time.time() + START_DELAY_S
    children = []
    first = 0
    for i in range(args.procs):
        n = split(args.clients, args.procs, i)
        argv = [sys.executable, os.path.abspath(__file__), *args.argv,
                "--child", str(i), "--child-clients", str(n), "--child-first", str(first),
                "--start-at", repr(start_at)]
        children.append(subprocess.Popen(argv, stdout=subprocess.PIPE))
        first += n
    limit = START_DELAY_S + len(args.workload_list) * (
        args.warmup + args.seconds + PHASE_GAP_S + 2 * args.request_timeout) + 30
    results = []
    try:
        for child in children:
            try:
                out, _ = child.communicate(timeout=max(1.0, start_at + limit - time.time()))
            except subprocess.TimeoutExpired:
                raise RunFailed(f"load.py: a load process was still running after {limit:.0f} s") from None
            if child.returncode != 0:
                raise RunFailed(f"load.py: a load process exited with {child.returncode}")
            results.append(json.loads(out))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return results


def merge(results: list[dict], workloads: list[str]) -> dict:
    merged = {}
    for w in workloads:
        parts = [r["phases"][w] for r in results]
        latencies = sorted(x for p in parts for x in p["latencies_us"])
        errors: dict[str, int] = {}
        for p in parts:
            for kind, count in p["errors"].items():
                errors[kind] = errors.get(kind, 0) + count
        ok = sum(p["ok"] for p in parts)
        window = max(p["t1"] for p in parts) - min(p["t0"] for p in parts)
        merged[w] = {
            "ok": ok, "ops_per_s": ok / window if window > 0 else 0.0,
            "p50_ms": percentile(latencies, 0.50) / 1000, "p99_ms": percentile(latencies, 0.99) / 1000,
            "errors": errors, "retries": sum(p["retries"] for p in parts),
            "window_s": window, "client_cpu_s": sum(p["cpu_s"] for p in parts),
        }
    return merged


def percentile(sorted_values: list[int], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def report(args, merged: dict, preload_s: float | None, workloads_doc: dict) -> None:
    print(f"target {args.target} at {args.endpoints}: {args.clients} clients on {args.conns} "
          f"connections in {args.procs} process(es), {args.keys} keys x {args.value_size} B, {args.counters} counters, "
          f"per workload {args.warmup:g} s warm-up then up to {args.ops} ops or {args.seconds:g} s")
    if preload_s is not None:
        print(f"preload: {args.keys + args.counters} keys in {preload_s:.1f} s")
    print(f"{'workload':<18} {'ops/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'ok':>7} {'errors':>6} "
          f"{'retries':>7} {'client: us/op':>13} {'% core':>6}  what")
    for w, m in merged.items():
        core = m["client_cpu_s"] / m["window_s"] if m["window_s"] > 0 else 0.0
        per_op = 1e6 * m["client_cpu_s"] / m["ok"] if m["ok"] else 0.0
        print(f"{w:<18} {m['ops_per_s']:>8.0f} {m['p50_ms']:>7.2f} {m['p99_ms']:>7.2f} {m['ok']:>7} "
              f"{sum(m['errors'].values()):>6} {m['retries']:>7} {per_op:>13.0f} {core:>6.0%}  "
              f"{workloads_doc[w]}")
        for kind, count in m["errors"].items():
            print(f"    {count} x {kind}")


def main(argv=None) -> None:
    args = parse_args(argv)
    run = event_loop_runner(args)
    if args.child is not None:  # a --procs child: figures as JSON on stdout
        try:
            out = run(run_process(args, args.child_clients, args.child_first, args.start_at))
        except RunFailed as e:
            sys.exit(str(e))
        json.dump(out, sys.stdout)
        return
    try:
        out = run(drive(args))
    except RunFailed as e:
        sys.exit(str(e))
    report(args, out["workloads"], out["preload_s"], load_target(args).workloads)
    check = out["incr_check"]
    if check is not None:
        print(f"incr check: the counters rose by {check['counters_rose_by']}, "
              f"{check['acknowledged']} increments acknowledged, {check['failed']} failed: "
              + ("OK" if check["ok"] else "MISMATCH (lost or extra increments)"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"target": args.target, "endpoints": args.endpoints, "clients": args.clients,
                       "conns": args.conns, "procs": args.procs, "keys": args.keys,
                       "value_size": args.value_size, "counters": args.counters, **out}, f, indent=2)
    if check is not None and not check["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
