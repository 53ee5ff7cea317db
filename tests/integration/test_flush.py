"""FLUSHDB / FLUSHALL: a keyspace truncation at a timestamp on every node.

Every node's own view is emptied, writes made after the flush survive it, and a
node that was down during the flush does not bring its old data back: not in its
own answers, not through read repair, hints or anti-entropy (``quorumkv repair``).
"""

import json
import subprocess
import sys
import time
import urllib.request

import pytest
import redis

from .cluster import ProcessCluster

OLD = [f"old:{i}" for i in range(300)]


def qkv(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quorumkv", *args], capture_output=True,
                          text=True, timeout=timeout)


def at_one(c, node_id: str) -> redis.Redis:
    """A connection at ONE: reads and scans answer from that node's own storage."""
    return c.redis(node_id, consistency="ONE")


def present(client: redis.Redis, keys) -> list:
    """The keys of ``keys`` that ``client`` returns a value for (one by one: a
    pipeline would run on another pooled connection, not at this one's level)."""
    return [k for k in keys if client.get(k) is not None]


def metric(c, node_id: str, name: str) -> float:
    with urllib.request.urlopen(c.http(node_id) + "/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def hints_pending(c, observer: str, target: str) -> int:
    nodes = c.cluster_json(observer)["nodes"]
    return next(n for n in nodes if n["id"] == target)["hints_pending"]


def wait_for(check, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def write_old(c) -> None:
    # on every replica before one is stopped (a pipeline takes a connection of its
    # own from the pool: its level is set inside it)
    pipe = c.redis("n1").pipeline(transaction=False)
    pipe.execute_command("QKV.CONSISTENCY", "ALL")
    for k in OLD:
        pipe.set(k, "old")
    assert all(pipe.execute())


def test_flushdb_empties_every_nodes_view_and_later_writes_survive(cluster):
    write_old(cluster)
    n1 = cluster.redis("n1")
    assert n1.dbsize() == len(OLD)
    assert n1.flushdb() is True
    for node in ("n1", "n2", "n3"):
        assert at_one(cluster, node).dbsize() == 0, node
        assert at_one(cluster, node).keys("*") == [], node
        assert cluster.redis(node).dbsize() == 0, node
        assert present(at_one(cluster, node), OLD[:20]) == [], node
    # written after the flush, through another node: kept everywhere
    n2 = cluster.redis("n2", consistency="ALL")
    for i in range(20):
        assert n2.set(f"after:{i}", i)
    for node in ("n1", "n2", "n3"):
        one = at_one(cluster, node)
        assert one.dbsize() == 20, node
        assert one.get("after:7") == b"7", node


@pytest.mark.parametrize("command", ["FLUSHDB", "FLUSHALL"])
@pytest.mark.parametrize("option", ["SYNC", "ASYNC", "async", None])
def test_flush_options(cluster, command, option):
    n1 = cluster.redis("n1")
    n1.set("opt:k", "v")
    args = [command] + ([option] if option else [])
    assert n1.execute_command(*args) is True  # redis-py turns +OK into True
    for node in ("n1", "n2", "n3"):
        assert at_one(cluster, node).get("opt:k") is None, node


@pytest.mark.parametrize("args", [["FLUSHDB", "NOW"], ["FLUSHDB", "SYNC", "ASYNC"],
                                  ["FLUSHALL", "ASYNC", "ASYNC"], ["FLUSHALL", ""]])
def test_a_bad_flush_option_is_a_syntax_error_and_flushes_nothing(cluster, args):
    n1 = cluster.redis("n1")
    n1.set("keep:k", "v")
    with pytest.raises(redis.ResponseError) as err:
        n1.execute_command(*args)
    assert str(err.value) == "syntax error"
    assert n1.get("keep:k") == b"v"


def test_flushdb_is_a_write_with_no_keys(cluster):
    for name in ("flushdb", "flushall"):
        info = cluster.redis("n1").execute_command("COMMAND", "INFO", name)[name]
        head = {k: info[k] for k in ("name", "arity", "flags", "first_key_pos",
                                     "last_key_pos", "step_count")}
        assert head == {"name": name, "arity": -1, "flags": ["write"], "first_key_pos": 0,
                        "last_key_pos": 0, "step_count": 0}


def test_a_node_down_during_flushdb_does_not_bring_its_data_back(fresh_cluster):
    c = fresh_cluster.start()
    write_old(c)
    c.kill("n3")
    c.wait_state("n1", "n3", "down", timeout_s=5)
    with pytest.raises(redis.ResponseError) as err:
        c.redis("n1", consistency="ALL").flushdb()
    assert "consistency ALL not met: 2 of 3 replicas answered" in str(err.value)
    assert c.redis("n1").flushdb() is True  # QUORUM: 2 of 3
    q = c.redis("n1")
    for i in range(50):
        assert q.set(f"new:{i}", i)

    c.start("n3")  # it asks its peers for their truncations before serving
    assert present(at_one(c, "n3"), OLD) == []
    assert at_one(c, "n3").keys("old:*") == []
    assert present(c.redis("n3"), OLD[:50]) == []  # QUORUM through it
    wait_for(lambda: hints_pending(c, "n1", "n3") == 0, "n1 still holds hints for n3")
    out = qkv("repair", "--http", c.http("n3"))
    assert out.returncode == 0, out.stdout + out.stderr
    for node in ("n1", "n2", "n3"):
        one = at_one(c, node)
        assert one.keys("old:*") == [], node
        assert one.dbsize() == 50, node  # the writes after the flush, everywhere
        assert one.get("new:49") == b"49", node


@pytest.fixture
def missed_flush(tmp_path):
    """n3 was down during a FLUSHDB through n1, then started while n1 and n2 were
    down, so it could learn the flush from no one: it still holds the old data.
    Anti-entropy runs only on demand."""
    c = ProcessCluster(tmp_path, anti_entropy_interval_ms=0)
    try:
        c.start()
        write_old(c)
        c.kill("n3")
        c.wait_state("n1", "n3", "down", timeout_s=5)
        assert c.redis("n1").flushdb() is True
        c.stop("n1")
        c.stop("n2")
        c.start("n3")
        assert present(at_one(c, "n3"), OLD) == OLD  # unaware of the flush, so far
        yield c
    finally:
        c.close()


def test_read_repair_does_not_spread_old_data_and_teaches_the_flush(missed_flush):
    c = missed_flush
    c.start("n2")  # holds the truncation; owes n3 nothing (n1 coordinated it)
    c.wait_state("n3", "n2", "up", timeout_s=10)  # else n3 does not ask it
    repairs = metric(c, "n3", "qkv_read_repairs_total")
    # through n3, which does not know of the flush: it repairs n2 with the old value,
    # and n2 drops that write as older than its truncation
    assert c.redis("n3").get(OLD[0]) == b"old"
    assert metric(c, "n3", "qkv_read_repairs_total") > repairs
    assert at_one(c, "n2").get(OLD[0]) is None
    assert at_one(c, "n2").dbsize() == 0
    # through n2: n3's answers are hidden, and n3 is told of the truncation
    assert c.redis("n2").dbsize() == 0  # a QUORUM scan of n2 and n3
    assert c.redis("n2").keys("old:*") == []
    assert c.redis("n2").get(OLD[1]) is None
    wait_for(lambda: present(at_one(c, "n3"), OLD) == [], "n3 never learned the flush")
    assert c.redis("n3").set("after", "kept")  # later than the flush on either clock
    assert at_one(c, "n2").get("after") == b"kept"
    assert at_one(c, "n3").get("after") == b"kept"


def test_anti_entropy_carries_the_flush_and_streams_no_old_data(missed_flush):
    c = missed_flush
    c.start("n2")
    assert present(at_one(c, "n3"), OLD) == OLD
    out = qkv("repair", "--http", c.http("n3"))  # n1 is down: reported, not fatal here
    assert "ranges compared" in out.stdout, out.stdout + out.stderr
    assert present(at_one(c, "n3"), OLD) == []
    assert at_one(c, "n3").dbsize() == 0
    assert at_one(c, "n2").dbsize() == 0


def test_the_coordinator_delivers_the_flush_as_a_hint(missed_flush):
    c = missed_flush
    c.start("n1")  # kept the truncation it owes n3 across its restart
    wait_for(lambda: hints_pending(c, "n1", "n3") == 0, "n1 still owes n3 the flush")
    assert metric(c, "n1", "qkv_hints_delivered_total") == 1
    assert present(at_one(c, "n3"), OLD) == []
    assert at_one(c, "n1").dbsize() == 0
    status = json.dumps(c.cluster_json("n3"))
    assert '"state": "up"' in status
