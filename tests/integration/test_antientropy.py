"""Anti-entropy: Merkle-tree repair brings a replica that missed writes up to date,
on demand (quorumkv repair) and in the background."""

import json
import subprocess
import sys
import time

import pytest

from .cluster import ProcessCluster


def qkv(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quorumkv", *args], capture_output=True,
                          text=True, timeout=timeout)


def diverge_n3(c) -> dict:
    """n3 misses writes made while it was down (hints off); what every key should be."""
    pipe = c.redis("n1").pipeline(transaction=False)
    pipe.execute_command("QKV.CONSISTENCY", "ALL")  # on all three before n3 stops
    for i in range(1000):
        pipe.set(f"ae:{i}", f"old{i}")
    pipe.execute()
    c.kill("n3")
    c.wait_state("n1", "n3", "down", timeout_s=5)
    q = c.redis("n1", consistency="QUORUM")
    pipe = q.pipeline(transaction=False)
    for i in range(0, 200):
        pipe.set(f"ae:{i}", f"new{i}")
    for i in range(1000, 1100):
        pipe.set(f"ae:{i}", f"new{i}")
    for i in range(900, 920):
        pipe.delete(f"ae:{i}")
    pipe.execute()
    c.start("n3")
    c.wait_state("n1", "n3", "up", timeout_s=5)
    expected = {f"ae:{i}": f"old{i}".encode() for i in range(1000)}
    expected.update({f"ae:{i}": f"new{i}".encode() for i in range(200)})
    expected.update({f"ae:{i}": f"new{i}".encode() for i in range(1000, 1100)})
    expected.update({f"ae:{i}": None for i in range(900, 920)})
    return expected


def n3_view(c, keys) -> dict:
    # n3 answers from its own storage at ONE (no pipeline: redis-py runs one on
    # another pooled connection, which would not be at ONE)
    one = c.redis("n3", consistency="ONE")
    return {k: one.get(k) for k in keys}


@pytest.fixture
def repair_cluster(tmp_path):
    c = ProcessCluster(tmp_path, max_hints_per_target=0, anti_entropy_interval_ms=0)
    yield c
    c.close()


def test_repair_streams_only_what_differs_and_then_finds_nothing(repair_cluster):
    c = repair_cluster.start()
    expected = diverge_n3(c)
    assert n3_view(c, list(expected)) != expected

    out = qkv("repair", "--http", c.http("n3"))
    assert out.returncode == 0, out.stderr
    assert "ranges compared 32" in out.stdout, out.stdout  # 16 ranges x 2 peers
    streamed = int(out.stdout.split("keys streamed ")[1].split()[0])
    assert streamed == 320, out.stdout  # the 320 keys n3 missed, fetched once
    assert n3_view(c, list(expected)) == expected

    again = qkv("repair", "--http", c.http("n3"))
    assert again.returncode == 0, again.stderr
    assert "differing 0; keys streamed 0" in again.stdout, again.stdout


def test_repair_of_one_range_and_bad_arguments(repair_cluster):
    c = repair_cluster.start()
    out = qkv("repair", "--http", c.http("n1"), "--range", "3", "--keyspace", "default")
    assert out.returncode == 0, out.stderr
    assert "ranges compared 2," in out.stdout  # one range, two peers
    bad = qkv("repair", "--http", c.http("n1"), "--keyspace", "nope")
    assert bad.returncode != 0 and "unknown keyspace 'nope'" in bad.stderr


def test_background_anti_entropy_converges_without_help(tmp_path):
    c = ProcessCluster(tmp_path, max_hints_per_target=0, anti_entropy_interval_ms=50)
    try:
        c.start()
        expected = diverge_n3(c)
        deadline = time.monotonic() + 60
        while n3_view(c, list(expected)) != expected:
            assert time.monotonic() < deadline, "replicas never converged"
            time.sleep(0.5)
        metrics = json.dumps(c.cluster_json("n3"))  # still healthy afterwards
        assert '"state": "up"' in metrics
    finally:
        c.close()
