"""CPU of idle nodes that hold many strong ranges. A benchmark, not a test.

Three nodes on loopback (real processes), a strong keyspace of ``--ranges`` ranges
(64 by default) replicated on all three, no client traffic. Once every range has a
leader and every replica has applied its commit, the nodes' CPU time (user +
system, from /proc) is measured over ``--seconds``; quiet groups are neither ticked
nor heartbeat, so this should be close to an idle node without strong ranges,
which is measured the same way first (``--ranges 0``).

    .venv/bin/python bench/strong/idle_cpu.py [--ranges 64] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from quorumkv.config import KeyspaceSettings  # noqa: E402
from tests.integration.cluster import ProcessCluster  # noqa: E402

NODES = ("n1", "n2", "n3")
TICK_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK_S  # utime + stime


def settled(cluster, ranges: int) -> bool:
    try:
        with urllib.request.urlopen(cluster.http("n1") + "/v1/cluster", timeout=5) as r:
            rows = json.loads(r.read())["strong_ranges"]
    except OSError:
        return False
    return len(rows) == ranges and all(
        row["leader"] and all(rep["applied"] == row["commit"] for rep in row["replicas"])
        for row in rows)


def measure(ranges: int, seconds: float) -> list[float]:
    keyspaces = (KeyspaceSettings("idle", mode="strong", ranges=ranges,
                                  replication_factor=3),) if ranges else ()
    with tempfile.TemporaryDirectory(prefix="qkv-idle-") as workdir:
        cluster = ProcessCluster(workdir, nodes=3, keyspaces=keyspaces)
        try:
            cluster.start()
            deadline = time.monotonic() + 120
            while ranges and not settled(cluster, ranges):
                if time.monotonic() > deadline:
                    raise SystemExit("the ranges did not settle in 120 s")
                time.sleep(0.5)
            time.sleep(5)  # the last heartbeats and check-quorum rounds go quiet
            pids = [cluster.procs[n].pid for n in NODES]
            before = [cpu_s(p) for p in pids]
            time.sleep(seconds)
            after = [cpu_s(p) for p in pids]
            return [100 * (b - a) / seconds for a, b in zip(before, after)]
        finally:
            cluster.close()


def main(args) -> None:
    for ranges in (0, args.ranges):
        percent = measure(ranges, args.seconds)
        shown = ", ".join(f"{n} {p:.1f} %" for n, p in zip(NODES, percent))
        print(f"{ranges} strong ranges, idle for {args.seconds:.0f} s: CPU {shown}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ranges", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30)
    main(parser.parse_args())
