"""Pipelined commands on one connection: coordinated concurrently, replies in the
order sent, commands on one key applied in order; transactions never half-apply;
one connection's long command cannot stall the others."""

import os
import signal
import socket
import threading
import time

import pytest
import redis

from .cluster import ProcessCluster


def test_pipelined_replies_come_back_in_order(cluster):
    r = cluster.redis("n1")
    pipe = r.pipeline(transaction=False)
    for i in range(300):
        pipe.set(f"order:{i}", f"v{i}")
        pipe.get(f"order:{i}")
        pipe.set(f"order:{i}", f"w{i}")
        pipe.get(f"order:{i}")
        pipe.echo(f"e{i}")
    replies = pipe.execute()
    expected = []
    for i in range(300):
        expected += [True, f"v{i}".encode(), True, f"w{i}".encode(), f"e{i}".encode()]
    assert replies == expected
    assert cluster.redis("n3").get("order:299") == b"w299"


def test_pipelined_sets_of_one_key_overlap_and_the_last_one_wins(cluster):
    pipe = cluster.redis("n1").pipeline(transaction=False)
    for i in range(500):
        pipe.set("same:key", f"v{i}")
    pipe.get("same:key")
    assert pipe.execute() == [True] * 500 + [b"v499"]
    for node in ("n1", "n2", "n3"):
        assert cluster.redis(node, consistency="ALL").get("same:key") == b"v499"


def test_pipelined_errors_keep_their_place(cluster):
    pipe = cluster.redis("n2").pipeline(transaction=False)
    pipe.set("err:a", "1")
    pipe.execute_command("NOSUCHCOMMAND", "x")
    pipe.get("err:a")
    pipe.execute_command("GET")  # wrong arity
    pipe.delete("err:a")
    pipe.get("err:a")
    replies = pipe.execute(raise_on_error=False)
    assert replies[0] is True and replies[2] == b"1" and replies[4] == 1
    assert replies[5] is None
    assert isinstance(replies[1], redis.ResponseError) and "unknown command" in str(replies[1])
    assert isinstance(replies[3], redis.ResponseError) and "wrong number" in str(replies[3])


def test_a_keyspace_wide_command_sees_the_writes_pipelined_before_it(cluster):
    pipe = cluster.redis("n1").pipeline(transaction=False)
    for i in range(100):
        pipe.set(f"wide:{i}", "x")
    pipe.keys("wide:*")
    for i in range(100):
        pipe.delete(f"wide:{i}")
    pipe.keys("wide:*")
    replies = pipe.execute()
    assert sorted(replies[100]) == sorted(f"wide:{i}".encode() for i in range(100))
    assert replies[-1] == []


def test_connection_settings_apply_in_order_within_a_pipeline(cluster):
    pipe = cluster.redis("n1").pipeline(transaction=False)
    pipe.execute_command("QKV.CONSISTENCY")
    pipe.execute_command("QKV.CONSISTENCY", "ALL")
    pipe.set("level:k", "v")
    pipe.execute_command("QKV.CONSISTENCY")
    pipe.execute_command("QKV.CONSISTENCY", "ONE")
    pipe.execute_command("QKV.CONSISTENCY")
    assert pipe.execute() == [b"QUORUM", b"OK", True, b"ALL", b"OK", b"ONE"]


def test_redis_py_default_pipeline_never_half_applies(cluster):
    r = cluster.redis("n1")
    pipe = r.pipeline()  # transaction=True: MULTI ... EXEC
    pipe.set("tx:a", "1")
    pipe.set("tx:b", "2")
    with pytest.raises(redis.ResponseError, match="MULTI is not supported"):
        pipe.execute()
    for node in ("n1", "n2", "n3"):
        assert cluster.redis(node, consistency="ALL").mget("tx:a", "tx:b") == [None, None]
    assert r.set("tx:after", "ok") and r.get("tx:after") == b"ok"  # the connection is usable


def test_commands_after_a_refused_multi_are_refused_until_exec_or_discard(cluster):
    r = cluster.redis("n2")
    replies = r.pipeline(transaction=False)
    replies.execute_command("MULTI")
    replies.set("tx:c", "1")
    replies.execute_command("MULTI")
    replies.execute_command("EXEC")
    replies.set("tx:d", "1")
    replies.execute_command("EXEC")
    replies.execute_command("DISCARD")
    replies.execute_command("MULTI")
    replies.set("tx:e", "1")
    replies.execute_command("DISCARD")
    out = replies.execute(raise_on_error=False)
    assert "MULTI is not supported" in str(out[0])
    assert "follows a MULTI that was refused" in str(out[1])
    assert "can not be nested" in str(out[2])
    assert str(out[3]).startswith("Transaction discarded")
    assert out[4] is True  # EXEC ended the refused transaction
    assert "EXEC without MULTI" in str(out[5])
    assert "DISCARD without MULTI" in str(out[6])
    assert "follows a MULTI" in str(out[8]) and out[9] == b"OK"
    assert r.get("tx:c") is None and r.get("tx:d") == b"1" and r.get("tx:e") is None
    with pytest.raises(redis.ResponseError, match="WATCH is not supported"):
        r.execute_command("WATCH", "tx:d")


@pytest.fixture(scope="module")
def slow_peers_cluster(tmp_path_factory):
    """A cluster whose requests wait long for silent replicas (so a stopped pair
    holds QUORUM writes open without failing them)."""
    c = ProcessCluster(tmp_path_factory.mktemp("slowpeers"), request_timeout_ms=30_000,
                       phi_suspect=50, phi_down=100).start()
    yield c
    c.close()


def test_pipelined_writes_are_coordinated_concurrently(slow_peers_cluster):
    """With both other replicas stopped, QUORUM writes cannot finish. Run one at a
    time, only the first of a pipeline would have reached n1's storage; run
    concurrently, all of them do (n1 writes its own copy as each one starts)."""
    c = slow_peers_cluster
    pids = [c.procs[n].pid for n in ("n2", "n3")]
    a = c.address("n1")
    keys = [f"conc:{i}" for i in range(16)]
    frame = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n" % (len(k), k.encode())
                     for k in keys)
    local = c.redis("n1", consistency="ONE")
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        with socket.create_connection((a.host, a.resp_port), timeout=30) as s:
            s.sendall(frame)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if all(v is not None for v in local.mget(keys)):
                    break
            assert all(v is not None for v in local.mget(keys)), \
                "pipelined writes ran one at a time"
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
            got = b""
            while got.count(b"\r\n") < 16:
                chunk = s.recv(4096)
                assert chunk
                got += chunk
            assert got == b"+OK\r\n" * 16
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def _ping_latencies_while(cluster, node, work) -> tuple[list[float], object]:
    """Run ``work`` in a thread; PING on another connection until it ends."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", work()))
    canary = cluster.redis(node)
    canary.ping()
    latencies = []
    thread.start()
    deadline = time.monotonic() + 120
    while thread.is_alive() and time.monotonic() < deadline:
        t0 = time.perf_counter()
        assert canary.ping()
        latencies.append(time.perf_counter() - t0)
    thread.join(timeout=5)
    assert not thread.is_alive()
    return latencies, result.get("value")


@pytest.fixture(scope="module")
def loaded_cluster(tmp_path_factory):
    """100,000 keys (k:0 ... k:99999), written with pipelined MSETs."""
    c = ProcessCluster(tmp_path_factory.mktemp("loaded")).start()
    r = c.redis("n1")
    for start in range(0, 100_000, 10_000):
        pipe = r.pipeline(transaction=False)
        for base in range(start, start + 10_000, 500):
            pipe.mset({f"k:{i}": "v" for i in range(base, base + 500)})
        assert all(pipe.execute())
    yield c
    c.close()


# A PING normally answers in about a millisecond; a command that held the event
# loop for its whole run (seconds for these) would hold PING as long.
PING_BOUND_S = 0.5


def test_ping_answers_while_another_client_runs_keys_over_100k_keys(loaded_cluster):
    c = loaded_cluster
    r = c.redis("n1", consistency="ONE")  # every page local: nothing forces a yield
    latencies, found = _ping_latencies_while(c, "n1", lambda: r.keys("*"))
    assert len(found) == 100_000
    assert len(latencies) > 1 and max(latencies) < PING_BOUND_S, max(latencies)


def test_ping_answers_while_another_client_runs_a_huge_mget(loaded_cluster):
    c = loaded_cluster
    r = c.redis("n1", consistency="ONE")
    keys = [f"k:{i}" for i in range(100_000)]
    latencies, values = _ping_latencies_while(c, "n1", lambda: r.mget(keys))
    assert values == [b"v"] * 100_000
    assert len(latencies) > 1 and max(latencies) < PING_BOUND_S, max(latencies)


def test_one_connection_long_pipeline_does_not_starve_another(loaded_cluster):
    c = loaded_cluster
    r = c.redis("n2")

    def long_pipeline():
        pipe = r.pipeline(transaction=False)
        for i in range(20_000):
            pipe.get(f"k:{i}")
        return pipe.execute()

    latencies, values = _ping_latencies_while(c, "n2", long_pipeline)
    assert values == [b"v"] * 20_000
    assert len(latencies) > 1 and max(latencies) < PING_BOUND_S, max(latencies)
