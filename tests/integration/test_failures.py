"""Nodes that die: quorums keep serving, ALL says why it cannot, nothing
acknowledged is lost, and a restarted replica is repaired by reads."""

import signal
import urllib.error
import urllib.request

import pytest
import redis

from .cluster import ProcessCluster


def test_quorum_survives_one_dead_node_and_all_fails_clearly(fresh_cluster):
    c = fresh_cluster.start()
    c.redis("n1").set("before", "1")
    c.kill("n3")
    n1, n2 = c.redis("n1"), c.redis("n2")
    for i in range(200):
        assert n1.set(f"q:{i}", i)
    assert [n2.get(f"q:{i}") for i in range(200)] == [str(i).encode() for i in range(200)]
    assert n2.get("before") == b"1"

    strict = c.redis("n1", consistency="ALL")
    with pytest.raises(redis.ResponseError) as err:
        strict.set("all:key", "x")
    assert str(err.value).startswith("consistency ALL not met: 2 of 3 replicas answered")
    with pytest.raises(redis.ResponseError) as err:
        strict.get("before")
    assert str(err.value).startswith("consistency ALL not met: 2 of 3 replicas answered")

    with pytest.raises(urllib.error.HTTPError) as http_err:
        urllib.request.urlopen(c.http("n2") + "/v1/kv/default/before?consistency=ALL",
                               timeout=10)
    assert http_err.value.code == 503
    assert b"consistency ALL not met: 2 of 3" in http_err.value.read()

    status = c.wait_state("n1", "n3", "down", timeout_s=5)
    assert {n["id"]: n["state"] for n in status["nodes"]} == \
        {"n1": "up", "n2": "up", "n3": "down"}


def test_acknowledged_writes_survive_kill_9(fresh_cluster):
    c = fresh_cluster.start()
    writer = c.redis("n1", consistency="ALL")
    for i in range(300):
        assert writer.set(f"durable:{i}", f"v{i}")
    c.kill("n1")
    c.start("n1")
    # only n1 left: a ONE read through n1 can be answered by n1's own disk alone
    c.kill("n2")
    c.kill("n3")
    reader = c.redis("n1", consistency="ONE")
    assert [reader.get(f"durable:{i}") for i in range(300)] == \
        [f"v{i}".encode() for i in range(300)]


def test_restarted_node_is_repaired_by_reads(fresh_cluster):
    c = fresh_cluster.start()
    c.kill("n3")
    writer = c.redis("n1")  # QUORUM: n1 and n2 acknowledge, n3 misses everything
    for i in range(100):
        writer.set(f"repair:{i}", f"v{i}")
    c.start("n3")
    # an ALL read needs n1 to count n3 as up again: until its failure detector
    # hears n3's heartbeats it fails fast rather than wait for a node it thinks down
    c.wait_state("n1", "n3", "up", timeout_s=20)
    repairer = c.redis("n1", consistency="ALL")
    assert [repairer.get(f"repair:{i}") for i in range(100)] == \
        [f"v{i}".encode() for i in range(100)]
    # n3 alone must now hold every key: the ALL reads repaired it before answering
    c.kill("n1")
    c.kill("n2")
    alone = c.redis("n3", consistency="ONE")
    assert [alone.get(f"repair:{i}") for i in range(100)] == \
        [f"v{i}".encode() for i in range(100)]
    with urllib.request.urlopen(c.http("n3") + "/metrics", timeout=5) as r:
        assert b"qkv_read_repairs_total" in r.read()


def test_sigterm_stops_cleanly_and_keeps_data(fresh_cluster):
    c = fresh_cluster.start()
    c.redis("n2").set("graceful", "yes")
    assert c.stop("n2") == 0
    c.start("n2")
    c.kill("n1")
    c.kill("n3")
    assert c.redis("n2", consistency="ONE").get("graceful") == b"yes"


@pytest.fixture
def slow_detector_cluster(tmp_path):
    """Heartbeats every 5 s: the failure detector convicts nobody within a test."""
    c = ProcessCluster(tmp_path, heartbeat_interval_ms=5000)
    yield c
    c.close()


def test_paused_replica_costs_latency_not_errors(slow_detector_cluster):
    """SIGSTOP keeps the TCP connection open but answers nothing: QUORUM reads
    must not wait for it (speculative retry), QUORUM writes need no answer from it.
    This is the time before the failure detector convicts it."""
    c = slow_detector_cluster.start()
    n1 = c.redis("n1")
    for i in range(50):
        n1.set(f"pause:{i}", i)
    c.procs["n2"].send_signal(signal.SIGSTOP)
    try:
        # without the speculative retry, a read that asked n2 fails at the deadline
        for i in range(50):
            assert n1.get(f"pause:{i}") == str(i).encode()
            assert n1.set(f"pause:{i}", i + 1)
        # ALL cannot be met: a clear error at the request deadline, never a hang
        with pytest.raises(redis.ResponseError) as err:
            c.redis("n1", consistency="ALL").set("pause:all", "x")
        assert "consistency ALL not met: 2 of 3 replicas answered" in str(err.value)
        assert "timed out after 2000 ms" in str(err.value)
    finally:
        c.procs["n2"].send_signal(signal.SIGCONT)
    assert [c.redis("n3").get(f"pause:{i}") for i in range(50)] == \
        [str(i + 1).encode() for i in range(50)]


def test_a_paused_replica_is_convicted_and_then_not_waited_on(fresh_cluster):
    """Once phi passes node.phi_down, coordinators stop waiting on the paused node:
    ALL fails at once instead of at the deadline, QUORUM reads go to live replicas,
    and the node is up again soon after SIGCONT."""
    c = fresh_cluster.start()
    n1 = c.redis("n1")
    for i in range(20):
        n1.set(f"conv:{i}", i)
    c.procs["n2"].send_signal(signal.SIGSTOP)
    try:
        status = c.wait_state("n1", "n2", "down", timeout_s=15)
        assert next(n for n in status["nodes"] if n["id"] == "n2")["phi"] >= 8
        with pytest.raises(redis.ResponseError) as err:
            c.redis("n1", consistency="ALL").set("conv:all", "x")
        assert "consistency ALL not met: 2 of 3 replicas answered" in str(err.value)
        assert "timed out" not in str(err.value)  # decided without waiting on n2
        for i in range(20):
            assert n1.get(f"conv:{i}") == str(i).encode()
    finally:
        c.procs["n2"].send_signal(signal.SIGCONT)
    c.wait_state("n1", "n2", "up", timeout_s=10)
    assert c.redis("n1", consistency="ALL").set("conv:all", "y")
