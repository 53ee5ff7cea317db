"""CPU per strong write, in one process: three Raft hosts over loopback, RocksDB.

Not a cluster benchmark (all three nodes share one core here, and the client runs
beside them): it measures what the host and the core cost per proposal, to compare
one version of node/raft/ with another. Usage:

    .venv/bin/python bench/raft_inprocess.py [--clients 32] [--ops 3000]

prints writes/s (SET of 100-byte values through the leader's node) and the
profile's top functions with --profile.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from quorumkv.core.raft.types import Role  # noqa: E402
from quorumkv.core.strong import commands as c  # noqa: E402
from tests.unit.test_raft_host import Cluster, until  # noqa: E402


async def main(args) -> None:
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="qkv-raft-bench-")))
    await cluster.start()
    try:
        await until(lambda: len(cluster.leaders()) == 2, "leaders")
        # the node that leads the range of every key "{b}..."
        probe = cluster.replicators["n1"].range_of([b"{b}x"]).range_id
        leader = next(n for n, h in cluster.hosts.items()
                      if h.groups[probe].role is Role.LEADER)
        replicator = cluster.replicators[leader]
        value = b"x" * 100
        per_client = args.ops // args.clients

        async def client(i: int) -> None:
            for j in range(per_client):
                await replicator.execute(c.Set(b"{b}%d:%d" % (i, j), value))

        profile = cProfile.Profile() if args.profile else None
        start = time.perf_counter()
        if profile:
            profile.enable()
        await asyncio.gather(*[client(i) for i in range(args.clients)])
        if profile:
            profile.disable()
        elapsed = time.perf_counter() - start
        print(f"{per_client * args.clients / elapsed:,.0f} writes/s "
              f"({args.clients} clients, {per_client * args.clients} SETs, {elapsed:.2f} s, "
              f"{cluster.hosts[leader].turns} persisting turns on the leader)")
        if profile:
            pstats.Stats(profile).sort_stats(args.sort).print_stats(25)
    finally:
        await cluster.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime")
    asyncio.run(main(parser.parse_args()))
