"""Clean restarts of the nodes of a cluster with a strong keyspace: how long a
restarted node takes to serve the metadata, and how long the ranges it led take
to be led elsewhere. A benchmark, not a test.

Three nodes on loopback (real processes, `tests/integration/cluster.py`), a strong
keyspace of 4 ranges on all three. Each round restarts every node in turn: SIGTERM
(a clean stop hands its leaderships over), then measures

- *led elsewhere*: from the SIGTERM until another node's `/v1/keyspaces/locks`
  names a leader other than the stopped node for every range;
- *first list*: from the restarted node answering `/v1/health` until its first
  `/v1/keyspaces` that answers 200 (it needs a metadata leader it knows).

    .venv/bin/python bench/strong/restart.py [--rounds 2]

prints each restart and the ranges of both figures. Every process it starts it
stops (by pid).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from quorumkv.config import KeyspaceSettings  # noqa: E402
from tests.integration.cluster import ProcessCluster  # noqa: E402

NODES = ["n1", "n2", "n3"]
RANGES = 4


def get(url: str) -> dict | None:
    """The JSON of a 200 answer, else None (an error status or no answer)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError):
        return None


def leaders(cluster, node_id: str) -> dict[int, str | None]:
    described = get(f"{cluster.http(node_id)}/v1/keyspaces/locks") or {"ranges": []}
    return {r["range_id"]: r["raft"]["leader"] for r in described["ranges"]}


def wait_for(what: str, condition, timeout_s: float = 30.0) -> float:
    """Seconds until ``condition()`` holds, polled every 10 ms."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def main(args) -> None:
    keyspace = KeyspaceSettings("locks", mode="strong", ranges=RANGES,
                                replication_factor=3, db=1)
    with tempfile.TemporaryDirectory(prefix="qkv-restart-") as workdir:
        cluster = ProcessCluster(workdir, nodes=3, keyspaces=(keyspace,))
        try:
            cluster.start()
            for node_id in NODES:
                wait_for(f"{node_id}'s leaders", lambda n=node_id: (
                    len(ls := leaders(cluster, n)) == RANGES and all(ls.values())))
            moved, listed = [], []
            for round_ in range(args.rounds):
                for node_id in NODES:
                    other = next(n for n in NODES if n != node_id)
                    stopping = time.monotonic()
                    code = cluster.stop(node_id)
                    if code != 0:
                        raise SystemExit(f"{node_id} exited with {code}:\n{cluster.log(node_id)}")
                    wait_for("the ranges led elsewhere", lambda: (
                        len(ls := leaders(cluster, other)) == RANGES
                        and all(v and v != node_id for v in ls.values())))
                    moved.append(time.monotonic() - stopping)
                    cluster.start(node_id)  # returns once the node answers health
                    listed.append(wait_for("the first metadata list", lambda: get(
                        cluster.http(node_id) + "/v1/keyspaces") is not None))
                    print(f"round {round_ + 1} {node_id}: ranges led elsewhere "
                          f"{1000 * moved[-1]:.0f} ms after SIGTERM, first list "
                          f"{1000 * listed[-1]:.0f} ms after health", flush=True)
            print(f"{len(moved)} restarts: ranges led elsewhere {1000 * min(moved):.0f}-"
                  f"{1000 * max(moved):.0f} ms after SIGTERM; first metadata list "
                  f"{1000 * min(listed):.0f}-{1000 * max(listed):.0f} ms after health")
        finally:
            cluster.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    main(parser.parse_args())
