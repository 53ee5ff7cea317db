"""``quorumkv bench``: closed-loop load over the Redis protocol.

Each simulated client owns one ``redis.asyncio`` connection (used bare, below the
client class) and keeps exactly one request in flight;
clients are spread round robin over the given nodes. A run stops at ``requests``
requests or ``duration_s`` seconds, whichever comes first. The loop stays lean (it
shares the CPU with the nodes it measures): one ``perf_counter`` pair per request,
latencies appended to a flat list, percentiles computed once at the end.

``range_reads``: each request is an ordered read of ``RANGE_READ_KEYS`` keys
(``QKV.RANGE <random key> "" LIMIT 100``) of the keyspace, which must be
range-partitioned; the result adds ``keys_per_s``, the keys returned per second.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass

import redis
import redis.asyncio

from ..client.client import async_consistency_hook

KEY_FORMAT = "bench:{:d}"
RANGE_READ_KEYS = 100


@dataclass(frozen=True)
class BenchParams:
    clients: int = 32
    keys: int = 100_000
    value_size: int = 100
    requests: int = 100_000
    duration_s: float = 60.0
    read_ratio: float = 0.0
    consistency: str = "QUORUM"
    preload: bool = False
    seed: int = 1
    timeout: float = 5.0
    keyspace: str | None = None  # None: the node's db 0 keyspace
    range_reads: bool = False


class _Shared:
    """What the clients share: the request budget, the deadline, the results."""

    def __init__(self, requests: int, deadline: float) -> None:
        self.left = requests
        self.deadline = deadline
        self.last_reply = deadline
        self.latencies_ms: list[float] = []
        self.errors = 0
        self.keys_read = 0  # range reads: keys returned
        self.first_error: str | None = None

    def error(self, exc: Exception) -> None:
        self.errors += 1
        self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"


async def _client_loop(conn, shared: _Shared, params: BenchParams, rnd: random.Random,
                       value: bytes) -> None:
    perf, record, pack = time.perf_counter, shared.latencies_ms.append, conn.pack_command
    keys, read_ratio = params.keys, params.read_ratio
    while shared.left > 0:
        shared.left -= 1
        key = KEY_FORMAT.format(rnd.randrange(keys))
        command = (pack("GET", key) if read_ratio and rnd.random() < read_ratio
                   else pack("SET", key, value))
        start = perf()
        if start >= shared.deadline:
            return
        try:
            await conn.send_packed_command(command, check_health=False)
            await conn.read_response()
        except redis.RedisError as exc:
            shared.error(exc)
            continue
        end = perf()
        record((end - start) * 1000.0)
        shared.last_reply = end


async def _range_loop(conn, shared: _Shared, params: BenchParams, rnd: random.Random,
                      value: bytes) -> None:
    """``_client_loop`` for range reads: QKV.RANGE from a random key on."""
    perf, record, pack = time.perf_counter, shared.latencies_ms.append, conn.pack_command
    keys = params.keys
    while shared.left > 0:
        shared.left -= 1
        command = pack("QKV.RANGE", KEY_FORMAT.format(rnd.randrange(keys)), "", "LIMIT",
                       RANGE_READ_KEYS)
        start = perf()
        if start >= shared.deadline:
            return
        try:
            await conn.send_packed_command(command, check_health=False)
            reply = await conn.read_response()
        except redis.RedisError as exc:
            shared.error(exc)
            continue
        end = perf()
        shared.keys_read += len(reply[1]) // 2
        record((end - start) * 1000.0)
        shared.last_reply = end


async def _bounded(aw, timeout_s: float, what: str):
    try:
        return await asyncio.wait_for(aw, timeout_s)
    except asyncio.TimeoutError:
        raise redis.TimeoutError(f"{what} took longer than {timeout_s:g} s") from None


async def _call(conn, *args):
    await conn.send_packed_command(conn.pack_command(*args), check_health=False)
    return await conn.read_response()


async def _preload(conns, params: BenchParams, value: bytes) -> None:
    async def load(i: int, conn) -> None:
        for k in range(i, params.keys, len(conns)):
            await _call(conn, "SET", KEY_FORMAT.format(k), value)
    await asyncio.gather(*(load(i, c) for i, c in enumerate(conns)))


def _percentile(sorted_ms: list[float], q: float) -> float | None:
    """Nearest-rank percentile, rounded to microseconds; None without samples."""
    if not sorted_ms:
        return None
    return round(sorted_ms[max(0, math.ceil(q * len(sorted_ms)) - 1)], 3)


async def run_bench(targets: list[tuple[str, int]], params: BenchParams) -> dict:
    hook = async_consistency_hook(params.consistency, params.keyspace)
    # Bare connections without a read timeout: redis-py's per-call timeout machinery
    # costs more CPU than the request itself. A stuck request is caught by the
    # run's own deadline below instead.
    conns = [redis.asyncio.Connection(host=h, port=p, socket_timeout=None,
                                      socket_connect_timeout=params.timeout,
                                      redis_connect_func=hook)
             for h, p in (targets[i % len(targets)] for i in range(params.clients))]
    try:
        await _bounded(asyncio.gather(*(_call(c, "PING") for c in conns)), params.timeout,
                       "connecting")  # connect before the clock starts
        value = random.Random(params.seed).randbytes(params.value_size)
        if params.range_reads:  # a hash keyspace is refused here, before any load
            await _bounded(_call(conns[0], "QKV.RANGE", "", "", "LIMIT", 1), params.timeout,
                           "the first range read")
        if params.preload:
            await _bounded(_preload(conns, params, value), params.duration_s, "preloading")
        loop = _range_loop if params.range_reads else _client_loop
        started = time.perf_counter()
        shared = _Shared(params.requests, started + params.duration_s)
        tasks = [asyncio.ensure_future(loop(c, shared, params,
                                                    random.Random(params.seed * 1_000_003 + i),
                                                    value))
                 for i, c in enumerate(conns)]
        _, stuck = await asyncio.wait(tasks, timeout=params.duration_s + params.timeout)
        for task in stuck:  # each has one request in flight past the deadline
            task.cancel()
            shared.error(redis.TimeoutError(f"no reply within {params.timeout:g} s of the end"))
        elapsed = (shared.last_reply if stuck else time.perf_counter()) - started
    finally:
        await asyncio.gather(*(c.disconnect() for c in conns), return_exceptions=True)
    lat = sorted(shared.latencies_ms)
    extra = {}
    if params.range_reads:
        extra = {"range_reads": True, "keys_read": shared.keys_read,
                 "keys_per_s": round(shared.keys_read / elapsed, 1) if elapsed > 0 else 0.0}
    return {**extra,
        "targets": [f"{h}:{p}" for h, p in targets], "clients": params.clients,
        "keyspace": params.keyspace,
        "consistency": params.consistency, "read_ratio": params.read_ratio,
        "value_size": params.value_size, "keys": params.keys,
        "ok": len(lat), "errors": shared.errors, "first_error": shared.first_error,
        "elapsed_s": round(elapsed, 3),
        "ops_per_s": round(len(lat) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": _percentile(lat, 0.50), "p99_ms": _percentile(lat, 0.99),
        "p999_ms": _percentile(lat, 0.999), "max_ms": _percentile(lat, 1.0),
    }


def format_result(r: dict) -> str:
    lines = [
        f"bench: {r['clients']} clients -> {', '.join(r['targets'])}"
        f"{', keyspace ' + r['keyspace'] if r.get('keyspace') else ''}, consistency "
        f"{r['consistency']}, read ratio {r['read_ratio']:.2f}, {r['value_size']} B values, "
        f"{r['keys']} keys",
        f"  requests    {r['ok']} ok, {r['errors']} errors in {r['elapsed_s']:.2f} s",
        f"  throughput  {r['ops_per_s']:.0f} ops/s",
        "  latency ms  " + "  ".join(f"{name} {r[name + '_ms']}"
                                     for name in ("p50", "p99", "p999", "max")),
    ]
    if r.get("range_reads"):
        lines.insert(1, f"  range reads of {RANGE_READ_KEYS} keys: {r['keys_read']} keys, "
                        f"{r['keys_per_s']:.0f} keys/s")
    if r["first_error"]:
        lines.append(f"  first error {r['first_error']}")
    return "\n".join(lines)
