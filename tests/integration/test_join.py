"""A node joins a running 3-node cluster and is retired from it, with real
processes on their own loopback addresses: ``quorumkv node start --join``, the
node in ``quorumkv status``, a strong keyspace created after it joined placed on
it and served through it (redis-cli), a restart from ``joined.toml`` without
--join, and ``quorumkv node remove`` (refused while the node is up, refused a
second time, and after it the node is ``left`` on every node and a strong range
it held still has its quorum).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from .cluster import ProcessCluster, free_ports
from .test_cli import clean_env, qkv

JOIN_S = 20.0


def node_file(path: str, node_id: str, host: str, data_dir: str,
              cluster_id: str = "") -> tuple[str, dict]:
    """A joining node's own file: its [node] section and its one address."""
    peer, resp, http = free_ports(3, host)
    with open(path, "w") as f:
        f.write(f'[node]\nid = "{node_id}"\ndata_dir = "{data_dir}"\n'
                + (f'[cluster]\nid = "{cluster_id}"\n' if cluster_id else "") +
                f'[[cluster.nodes]]\nid = "{node_id}"\nhost = "{host}"\n'
                f"peer_port = {peer}\nresp_port = {resp}\nhttp_port = {http}\n")
    return path, {"host": host, "peer": peer, "resp": resp, "http": http}


def start(cluster, node_id: str, config: str, *extra: str) -> subprocess.Popen:
    log = open(os.path.join(cluster.workdir, f"{node_id}.log"), "ab")
    proc = subprocess.Popen([sys.executable, "-m", "quorumkv", "node", "start", "--config",
                             config, *extra], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=clean_env())
    log.close()
    cluster._started.append(proc)  # stopped by cluster.close(), by its pid
    return proc


def until(condition, what: str, timeout_s: float = JOIN_S):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def members(cluster, node_id: str) -> dict:
    return {n["id"]: n for n in cluster.cluster_json(node_id)["nodes"]}


def healthy(address: dict) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address['host']}:{address['http']}/v1/health",
                                    timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def redis_cli(address: dict, *args: str) -> str:
    out = subprocess.run(["redis-cli", "-h", address["host"], "-p", str(address["resp"]),
                          *args], capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


@pytest.fixture
def cluster(tmp_path):
    c = ProcessCluster(tmp_path, host_per_node=True, first_host=41,
                       cluster_settings={"id": "join-test"}).start()
    yield c
    c.close()


def test_a_node_joins_serves_a_strong_keyspace_restarts_and_is_retired(cluster, tmp_path):
    n1 = cluster.address("n1")
    http1 = cluster.http("n1")
    config, n4 = node_file(str(tmp_path / "n4.toml"), "n4", "127.0.0.44",
                           str(tmp_path / "n4"))
    proc = start(cluster, "n4", config, "--join", f"{n1.host}:{n1.peer_port}")
    until(lambda: healthy(n4), "n4 to serve")
    # every node lists it, up once it follows the metadata
    for node_id in ("n1", "n2", "n3"):
        seen = until(lambda: members(cluster, node_id).get("n4", {}).get("membership")
                     == "up" and members(cluster, node_id)["n4"], f"{node_id} to list n4")
        assert (seen["address"], seen["resp_port"]) == ("127.0.0.44", n4["resp"])
    status = qkv("status", "--http", http1)
    assert status.returncode == 0 and "n4" in status.stdout and "127.0.0.44" in status.stdout

    # a strong keyspace created now places ranges on the least loaded node: n4
    made = qkv("keyspace", "create", "locks", "--mode", "strong", "--ranges", "2",
               "--rf", "3", "--db", "5", "--http", http1)
    assert made.returncode == 0, made.stderr
    described = json.loads(qkv("keyspace", "describe", "locks", "--json", "--http",
                               http1).stdout)
    assert all("n4" in r["replicas"] for r in described["ranges"]), described["ranges"]
    until(lambda: redis_cli(n4, "-n", "5", "INCR", "{c}x") == "1", "a write through n4")
    assert redis_cli(n4, "-n", "5", "INCR", "{c}x") == "2"
    a2 = cluster.address("n2")
    assert redis_cli({"host": a2.host, "resp": a2.resp_port}, "-n", "5", "GET", "{c}x") == "2"

    # a restart finds joined.toml: no --join needed, nothing asked
    assert os.path.exists(tmp_path / "n4" / "joined.toml")
    proc.terminate()
    assert proc.wait(10) == 0
    proc = start(cluster, "n4", config)
    until(lambda: healthy(n4), "n4 to serve again")
    until(lambda: redis_cli(n4, "-n", "5", "GET", "{c}x") == "2", "n4 to read its range")

    # remove: refused while it is up, done once it is dead, refused twice
    refused = qkv("node", "remove", "n4", "--yes", "--http", http1)
    assert refused.returncode == 2 and "is up" in refused.stderr
    proc.kill()
    proc.wait(10)
    until(lambda: members(cluster, "n1")["n4"]["state"] == "down", "n1 to see n4 down")
    removed = qkv("node", "remove", "n4", "--yes", "--http", http1)
    assert removed.returncode == 0, removed.stderr
    assert "removed node n4" in removed.stdout
    for node_id in ("n1", "n2", "n3"):
        until(lambda: members(cluster, node_id)["n4"]["membership"] == "left",
              f"{node_id} to see n4 left")
    again = qkv("node", "remove", "n4", "--yes", "--http", http1)
    assert again.returncode == 2 and "already left" in again.stderr
    # its strong ranges keep a quorum of their voters on n1..n3
    assert redis_cli({"host": n1.host, "resp": n1.resp_port}, "-n", "5",
                     "INCR", "{c}x") == "3"
    # a removed node's id is never taken again
    config5, _ = node_file(str(tmp_path / "n4b.toml"), "n4", "127.0.0.45",
                           str(tmp_path / "n4b"))
    rejoin = qkv("node", "start", "--config", config5, "--join", f"{n1.host}:{n1.peer_port}")
    assert rejoin.returncode == 3 and "never reused" in rejoin.stderr, rejoin.stderr


def test_a_join_is_refused_for_a_bootstrap_node_and_for_another_cluster(cluster, tmp_path):
    n1 = cluster.address("n1")
    via = f"{n1.host}:{n1.peer_port}"
    config, _ = node_file(str(tmp_path / "n2.toml"), "n2", "127.0.0.46", str(tmp_path / "x"))
    out = qkv("node", "start", "--config", config, "--join", via)
    assert out.returncode == 3 and "bootstrap list" in out.stderr, out.stderr
    config, _ = node_file(str(tmp_path / "n9.toml"), "n9", "127.0.0.47", str(tmp_path / "y"),
                          cluster_id="another-cluster")
    out = qkv("node", "start", "--config", config, "--join", via)
    assert out.returncode == 3 and "another-cluster" in out.stderr, out.stderr
    assert "n9" not in members(cluster, "n1")  # nothing was added
    out = qkv("node", "start", "--config", config, "--join", "127.0.0.1:1")
    assert out.returncode == 3 and "cannot join through" in out.stderr, out.stderr
