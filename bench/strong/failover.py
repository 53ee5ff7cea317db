"""Leader failover of a strong range: from the leader's SIGKILL to the first
successful write, over repeated kills. A benchmark, not a test.

Five nodes on loopback (real processes, `tests/integration/cluster.py`), a strong
keyspace of one range replicated on all five. Each round: find the range's leader
(`/v1/cluster`'s `strong_ranges`), SIGKILL it, then write through the other nodes
in turn (SET with a 0.5 s socket timeout, each attempt to the next live node)
until one succeeds; the time from the kill to that success is the failover. The
killed node is then restarted and the next round waits until every replica has
applied what the leader committed.

    .venv/bin/python bench/strong/failover.py [--kills 20] [--tick-ms 100] [--election-ticks 10]

prints each round and p50 / max. Every process it starts it stops (by pid).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from quorumkv.config import KeyspaceSettings  # noqa: E402
from tests.integration.cluster import ProcessCluster  # noqa: E402

DB = 1
NODES = [f"n{i}" for i in range(1, 6)]


def strong_range(cluster, live: list[str]) -> dict | None:
    for node_id in live:
        try:
            with urllib.request.urlopen(cluster.http(node_id) + "/v1/cluster",
                                        timeout=2) as r:
                rows = json.loads(r.read())["strong_ranges"]
            if rows:
                return rows[0]
        except OSError:
            continue
    return None


def wait_for(what: str, condition, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def settled(cluster, live: list[str]) -> dict | None:
    """The range's row once it has a leader and every replica applied its commit."""
    row = strong_range(cluster, live)
    if row is None or row["leader"] is None:
        return None
    if all(r["applied"] == row["commit"] for r in row["replicas"]):
        return row
    return None


def first_write(cluster, live: list[str], key: bytes) -> float:
    """Write through the live nodes in turn until one write succeeds."""
    i = 0
    while True:
        a = cluster.address(live[i % len(live)])
        i += 1
        client = redis.Redis(host=a.host, port=a.resp_port, db=DB, socket_timeout=0.5,
                             socket_connect_timeout=0.5)
        try:
            client.set(key, b"x")
            return time.monotonic()
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            continue
        finally:
            client.close()


def main(args) -> None:
    keyspace = KeyspaceSettings("locks", mode="strong", ranges=1, replication_factor=5,
                                db=DB)
    with tempfile.TemporaryDirectory(prefix="qkv-failover-") as workdir:
        cluster = ProcessCluster(workdir, nodes=5, keyspaces=(keyspace,),
                                 raft_tick_ms=args.tick_ms,
                                 raft_election_ticks=args.election_ticks)
        try:
            cluster.start()
            times = []
            for round_ in range(args.kills):
                row = wait_for("a settled leader", lambda: settled(cluster, NODES))
                leader = row["leader"]
                live = [n for n in NODES if n != leader]
                cluster.kill(leader)
                killed = time.monotonic()
                done = first_write(cluster, live, b"round%d" % round_)
                times.append(done - killed)
                print(f"round {round_ + 1}: killed {leader} (term {row['term']}), "
                      f"first write after {1000 * (done - killed):.0f} ms", flush=True)
                cluster.start(leader)
            print(f"failover over {len(times)} kills: p50 {1000 * statistics.median(times):.0f} ms,"
                  f" max {1000 * max(times):.0f} ms (tick {args.tick_ms} ms, election "
                  f"{args.election_ticks}-{2 * args.election_ticks} ticks)")
        finally:
            cluster.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--tick-ms", type=int, default=100)
    parser.add_argument("--election-ticks", type=int, default=10)
    main(parser.parse_args())
