"""Keyspaces created, listed, described and dropped while a real 3-node cluster runs:
through the CLI (``quorumkv keyspace ...``), HTTP (``/v1/keyspaces``) and RESP
(``QKV.KEYSPACE``), every change a transaction of the metadata Raft group that
every node follows. A strong keyspace gets one Raft group per range on each
replica (each with a leader); an eventual one is served at once through
redis-cli on every node; a dropped one is gone everywhere; a restarted node
still has every keyspace; a bad setting is refused by each front end with the
same text and creates nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import redis

from .test_cli import qkv

READY_S = 20.0   # a new cluster elects its metadata leader and applies the bootstrap
LEADER_S = 15.0  # a new strong keyspace's groups elect their leaders


def http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def names(cluster, node_id: str) -> set[str]:
    status, answer = http("GET", cluster.http(node_id) + "/v1/keyspaces")
    assert status == 200, answer
    return {k["name"] for k in answer["keyspaces"]}


def wait_metadata(cluster) -> None:
    """Every node lists keyspace default: the metadata group has a leader and
    every node applied the bootstrap."""
    deadline = time.monotonic() + READY_S
    for node_id in ("n1", "n2", "n3"):
        while True:
            try:
                if "default" in names(cluster, node_id):
                    break
            except AssertionError:
                pass  # 503/504: no metadata leader yet
            assert time.monotonic() < deadline, cluster.log(node_id)
            time.sleep(0.1)


def leaders(cluster, node_id: str, name: str) -> dict[int, str]:
    status, described = http("GET", f"{cluster.http(node_id)}/v1/keyspaces/{name}")
    assert status == 200, described
    return {r["range_id"]: r["raft"]["leader"] for r in described["ranges"]}


def wait_leaders(cluster, name: str, ranges: int) -> dict[int, str]:
    """Every node holds a Raft group for each of the ``ranges`` ranges, and they
    agree on one leader per range."""
    deadline = time.monotonic() + LEADER_S
    while True:
        seen = [leaders(cluster, n, name) for n in ("n1", "n2", "n3")]
        if all(len(s) == ranges and all(s.values()) for s in seen) \
                and seen[0] == seen[1] == seen[2]:
            return seen[0]
        assert time.monotonic() < deadline, f"no agreed leader per range: {seen}"
        time.sleep(0.1)


def cli(cluster, node_id: str, *args: str, input_: str | None = None):
    command = ["keyspace", *args, "--http", cluster.http(node_id)]
    if input_ is None:
        return qkv(*command)
    return subprocess.run([sys.executable, "-m", "quorumkv", *command], input=input_,
                          capture_output=True, text=True, timeout=30)


def rcli(path: str, cluster, node_id: str, db: int, *args: str) -> str:
    a = cluster.address(node_id)
    out = subprocess.run([path, "-h", a.host, "-p", str(a.resp_port), "-n", str(db), *args],
                         capture_output=True, text=True, timeout=10)
    return (out.stdout + out.stderr).strip()


def test_keyspaces_created_listed_dropped_online_and_kept_over_a_restart(fresh_cluster,
                                                                         redis_cli):
    cluster = fresh_cluster.start()
    wait_metadata(cluster)

    # a strong keyspace through the CLI: every node lists it and runs its groups
    out = cli(cluster, "n1", "create", "locks", "--mode", "strong", "--rf", "3",
              "--partitioner", "hash", "--ranges", "4")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("created keyspace locks (id 2): strong, hash, 4 ranges")
    for node_id in ("n1", "n2", "n3"):
        listed = cli(cluster, node_id, "list", "--json")
        assert listed.returncode == 0, listed.stderr
        locks = {k["name"]: k for k in json.loads(listed.stdout)["keyspaces"]}["locks"]
        assert (locks["mode"], locks["ranges"], locks["replication_factor"]) == \
            ("strong", 4, 3)
        described = cli(cluster, node_id, "describe", "locks")
        assert described.returncode == 0 and "tolerates 1 failed replica" in described.stdout
    assert set(wait_leaders(cluster, "locks", 4).values()) <= {"n1", "n2", "n3"}

    # an eventual keyspace through HTTP, served through redis-cli on every node
    status, created = http("POST", cluster.http("n2") + "/v1/keyspaces",
                           {"name": "events", "db": 5, "ranges": 4, "rf": 3})
    assert status == 201, created
    assert (created["id"], created["mode"], len(created["ranges"])) == (3, "eventual", 4)
    for node_id in ("n1", "n2", "n3"):
        assert rcli(redis_cli, cluster, node_id, 5, "SET",
                         f"k-{node_id}", f"v-{node_id}") == "OK"
    for node_id in ("n1", "n2", "n3"):
        for writer in ("n1", "n2", "n3"):
            assert rcli(redis_cli, cluster, node_id, 5, "GET", f"k-{writer}") == \
                f"v-{writer}"
    # not in keyspace default (db 0): a keyspace of its own
    assert rcli(redis_cli, cluster, "n1", 0, "GET", "k-n1") == ""

    # one through RESP as well
    r = cluster.redis("n3")
    reply = r.execute_command("QKV.KEYSPACE", "CREATE", "sessions", "partitioner", "range",
                              "split-points", "g,p", "db", "6")
    described = dict(zip(reply[::2], reply[1::2])) if isinstance(reply, list) else reply
    assert described[b"name"] == b"sessions" and len(described[b"ranges"]) == 3
    assert names(cluster, "n1") == {"default", "locks", "events", "sessions"}

    # drop asks first: answering no keeps it
    kept = cli(cluster, "n3", "drop", "events", input_="n\n")
    assert kept.returncode != 0 and "events" in names(cluster, "n1")
    dropped = cli(cluster, "n3", "drop", "events", "--yes")
    assert dropped.returncode == 0, dropped.stderr
    assert dropped.stdout.strip() == "dropped keyspace events (id 3)"
    for node_id in ("n1", "n2", "n3"):
        assert "events" not in names(cluster, node_id)
        status, answer = http("GET", f"{cluster.http(node_id)}/v1/keyspaces/events")
        assert (status, answer) == (404, {"error": "unknown keyspace 'events'"})
        assert "DB index is out of range" in rcli(redis_cli, cluster, node_id, 5,
                                                       "GET", "k-n1")
    # the name is free again, with a new id and none of the old data
    status, again = http("POST", cluster.http("n1") + "/v1/keyspaces",
                         {"name": "events", "db": 5, "ranges": 4})
    assert status == 201 and again["id"] == 5, again
    assert rcli(redis_cli, cluster, "n2", 5, "GET", "k-n1") == ""

    # a node stopped cleanly hands the leadership of its groups over first: the
    # others name new leaders at once, not after an election timeout
    restarted = leaders(cluster, "n1", "locks")[min(leaders(cluster, "n1", "locks"))]
    observer = "n1" if restarted != "n1" else "n3"
    assert cluster.stop(restarted) == 0
    handed = re.findall(r"handed over the leadership of (\d+) of (\d+) Raft groups",
                        cluster.log(restarted))
    assert handed and handed[-1][0] == handed[-1][1], cluster.log(restarted)
    deadline = time.monotonic() + LEADER_S
    while not all((now := leaders(cluster, observer, "locks")).values()):
        assert time.monotonic() < deadline, now  # between a vote and the first append
        time.sleep(0.01)
    assert restarted not in now.values(), now

    # a restarted node has every keyspace and its Raft groups again, and learns
    # the metadata leader at once (its first list is answered)
    cluster.start(restarted)
    assert names(cluster, restarted) == {"default", "locks", "events", "sessions"}
    wait_leaders(cluster, "locks", 4)
    assert rcli(redis_cli, cluster, restarted, 6, "SET", "h", "1") == "OK"
    assert rcli(redis_cli, cluster, observer, 6, "GET", "h") == "1"


def test_a_bad_setting_is_the_same_error_on_every_front_end_and_creates_nothing(cluster):
    wait_metadata(cluster)
    expected = "bad keyspace setting: ranges = 0 is out of range [1, 4096]"
    status, answer = http("POST", cluster.http("n1") + "/v1/keyspaces",
                          {"name": "bad", "ranges": 0})
    assert (status, answer) == (400, {"error": expected})
    with pytest.raises(redis.ResponseError) as refused:  # -ERR <text>
        cluster.redis("n2").execute_command("QKV.KEYSPACE", "CREATE", "bad", "ranges", "0")
    assert str(refused.value) == expected
    out = cli(cluster, "n3", "create", "bad", "--ranges", "0")
    assert (out.returncode, out.stderr.strip()) == (2, f"error: {expected}")
    for node_id in ("n1", "n2", "n3"):
        assert "bad" not in names(cluster, node_id)

    # a split point for a hash keyspace, an unknown mode, a taken name, an unknown one
    status, answer = http("POST", cluster.http("n1") + "/v1/keyspaces",
                          {"name": "bad", "mode": "weird"})
    assert status == 400 and answer["error"] == \
        "bad keyspace setting: mode must be eventual or strong, not 'weird'"
    status, answer = http("POST", cluster.http("n1") + "/v1/keyspaces", {"name": "default"})
    assert (status, answer) == (409, {"error": "keyspace 'default' exists"})
    status, answer = http("DELETE", cluster.http("n2") + "/v1/keyspaces/default")
    assert status == 400 and "keyspace default always exists" in answer["error"]
    status, answer = http("DELETE", cluster.http("n2") + "/v1/keyspaces/nope")
    assert (status, answer) == (404, {"error": "unknown keyspace 'nope'"})
    with pytest.raises(redis.ResponseError, match="unknown subcommand 'FROB'"):
        cluster.redis("n1").execute_command("QKV.KEYSPACE", "FROB")
    assert names(cluster, "n1") == {"default"}


def as_map(reply) -> dict:
    """A RESP map, whether redis-py read a map (RESP3) or a flat array (RESP2)."""
    return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2]))


def test_resp_lists_describes_and_drops_what_it_created(cluster):
    wait_metadata(cluster)
    r1, r2 = cluster.redis("n1"), cluster.redis("n2")
    created = as_map(r1.execute_command("QKV.KEYSPACE", "CREATE", "tmp", "--rf", "2",
                                        "ranges", "2"))
    assert (created[b"name"], created[b"replication_factor"]) == (b"tmp", 2)
    listed = [as_map(k) for k in r2.execute_command("QKV.KEYSPACE", "LIST")]
    assert {k[b"name"]: k[b"ranges"] for k in listed} == {b"default": 16, b"tmp": 2}
    described = as_map(r2.execute_command("QKV.KEYSPACE", "DESCRIBE", "tmp"))
    assert [len(as_map(x)[b"replicas"]) for x in described[b"ranges"]] == [2, 2]
    assert as_map(r2.execute_command("QKV.KEYSPACE", "DROP", "tmp"))[b"dropped"] == b"tmp"
    with pytest.raises(redis.ResponseError, match="unknown keyspace 'tmp'"):
        r1.execute_command("QKV.KEYSPACE", "DESCRIBE", "tmp")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r1.execute_command("QKV.KEYSPACE", "DROP")


def test_hints_and_truncations_of_a_dropped_keyspace_do_not_hold_up_the_others(fresh_cluster):
    from .test_hints import hints_pending, wait_hints_delivered
    cluster = fresh_cluster.start()
    wait_metadata(cluster)
    status, _ = http("POST", cluster.http("n1") + "/v1/keyspaces",
                     {"name": "brief", "db": 7, "ranges": 2})
    assert status == 201
    cluster.kill("n3")
    cluster.wait_state("n1", "n3", "down", timeout_s=5)
    brief, default = cluster.redis("n1", db=7), cluster.redis("n1")
    for i in range(5):
        assert brief.set(f"b:{i}", i)  # hints for n3, in a keyspace about to go
    assert default.set("d", "kept")
    assert hints_pending(cluster, "n1", "n3") == 6
    assert brief.flushdb()  # and a truncation owed to n3
    assert hints_pending(cluster, "n1", "n3") > 0
    status, _ = http("DELETE", cluster.http("n1") + "/v1/keyspaces/brief")  # n1+n2: a quorum
    assert status == 200
    cluster.start("n3")
    wait_hints_delivered(cluster, "n1", "n3")
    assert cluster.redis("n3", consistency="ONE").get("d") == b"kept"
