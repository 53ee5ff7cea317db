"""Hinted handoff: writes for a down replica are kept by the coordinator and
delivered when it is back; ANY accepts a write that only a hint holds."""

import time
import urllib.request

import pytest
import redis

from .cluster import ProcessCluster


def hints_pending(c, observer: str, target: str) -> int:
    nodes = c.cluster_json(observer)["nodes"]
    return next(n for n in nodes if n["id"] == target)["hints_pending"]


def wait_hints_delivered(c, observer: str, target: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while hints_pending(c, observer, target) > 0:
        assert time.monotonic() < deadline, f"{observer} still holds hints for {target}"
        time.sleep(0.1)


def metric(c, node_id: str, name: str) -> float:
    with urllib.request.urlopen(c.http(node_id) + "/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def test_writes_missed_by_a_dead_replica_reach_it_after_restart(fresh_cluster):
    c = fresh_cluster.start()
    c.kill("n3")
    c.wait_state("n1", "n3", "down", timeout_s=5)
    n1 = c.redis("n1")
    for i in range(200):
        assert n1.set(f"h:{i}", i)
    assert n1.delete("h:0") == 1
    assert hints_pending(c, "n1", "n3") == 201  # every key has a replica on n3
    assert metric(c, "n1", "qkv_hints_stored_total") == 201

    c.start("n3")
    wait_hints_delivered(c, "n1", "n3")
    assert metric(c, "n1", "qkv_hints_delivered_total") == 201
    # at ONE, n3 answers from its own storage: only the hints can have put these there
    n3 = c.redis("n3", consistency="ONE")
    assert n3.get("h:0") is None
    assert [n3.get(f"h:{i}") for i in range(1, 200)] == [str(i).encode() for i in range(1, 200)]


def test_any_takes_a_write_that_only_a_hint_holds(fresh_cluster):
    c = fresh_cluster.start()
    c.kill("n2")
    c.kill("n3")
    for peer in ("n2", "n3"):
        c.wait_state("n1", peer, "down", timeout_s=5)
    with pytest.raises(redis.ResponseError) as err:
        c.redis("n1").set("any:k", "quorum")
    assert "consistency QUORUM not met: 1 of 3 replicas answered" in str(err.value)
    assert c.redis("n1", consistency="ANY").set("any:k", "v")
    with pytest.raises(redis.ResponseError) as err:
        c.redis("n1", consistency="ANY").get("any:k")
    assert "ANY applies to writes only" in str(err.value)

    c.start("n2", "n3")
    for peer in ("n2", "n3"):
        wait_hints_delivered(c, "n1", peer)
    for peer in ("n2", "n3"):
        assert c.redis(peer, consistency="ONE").get("any:k") == b"v"


def test_hints_per_target_are_bounded(tmp_path):
    c = ProcessCluster(tmp_path, max_hints_per_target=10)
    try:
        c.start()
        c.kill("n3")
        c.wait_state("n1", "n3", "down", timeout_s=5)
        n1 = c.redis("n1")
        for i in range(30):
            assert n1.set(f"b:{i}", i)  # QUORUM still holds without the hint
        assert hints_pending(c, "n1", "n3") == 10
        assert metric(c, "n1", "qkv_hints_dropped_total") == 20
    finally:
        c.close()


def test_receipts_name_the_replicas_hints_and_repairs(fresh_cluster):
    import json

    c = fresh_cluster.start()
    c.kill("n3")
    c.wait_state("n1", "n3", "down", timeout_s=5)
    r = c.redis("n1", consistency="QUORUM")
    assert r.execute_command("QKV.RECEIPT", "ON") == b"OK"
    assert r.set("rc:k", "v")
    (write,) = json.loads(r.execute_command("QKV.RECEIPT"))
    assert write["op"] == "write" and write["ok"] and write["level"] == "QUORUM"
    assert write["answered"] == ["n1", "n2"] and write["hinted"] == ["n3"]
    assert r.get("rc:k") == b"v"
    (read,) = json.loads(r.execute_command("QKV.RECEIPT"))
    assert read["op"] == "read" and read["newest"]["ts"] == write["version"]["ts"]
    assert set(read["versions"]) == {"n1", "n2"} and read["read_repaired"] == []

    with urllib.request.urlopen(c.http("n2") + "/v1/kv/default/rc:k?receipt=1",
                                timeout=5) as resp:
        (http_read,) = json.loads(resp.headers["X-QKV-Receipt"])
    assert http_read["newest"]["ts"] == write["version"]["ts"]
    assert r.execute_command("QKV.RECEIPT", "OFF") == b"OK"
    assert r.get("rc:k") == b"v"
    assert json.loads(r.execute_command("QKV.RECEIPT")) == []
