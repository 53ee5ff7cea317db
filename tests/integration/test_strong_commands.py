"""A strong keyspace through its front doors, against a real 3-node cluster:
redis-py and redis-cli on RESP, urllib on HTTP. INCR through every node counts
exactly (one after another, and pipelined by six clients at once), MULTI/EXEC applies a hash tag's keys together, WATCH aborts on a
change made through another node, keys in several ranges are CROSSSLOT,
QKV.CAS swaps once, and HTTP's if_version writes only over the version read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
import redis

from quorumkv.client.strong import RangeRouter, StrongClient
from quorumkv.config import KeyspaceSettings
from quorumkv.core.placement import Keyspace
from quorumkv.core.placement.partitioner import hash_split_points

from .cluster import ProcessCluster

RANGES = 4
LEADERS_TIMEOUT_S = 30  # the groups' first elections
NODES = ("n1", "n2", "n3")


def http(method: str, url: str, body: bytes | None = None):
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.fixture(scope="module")
def strong(tmp_path_factory):
    locks = KeyspaceSettings("locks", mode="strong", ranges=RANGES, db=1)
    c = ProcessCluster(tmp_path_factory.mktemp("strong"), keyspaces=(locks,)).start()
    try:
        clients = {n: c.redis(n, db=1) for n in NODES}
        # every range has elected a leader once each node can write to each
        deadline = time.monotonic() + LEADERS_TIMEOUT_S
        for i in range(200):
            try:
                for n in NODES:
                    for r in range(RANGES):
                        clients[n].set(f"{{warm{r}}}", "1")
                break
            except redis.ResponseError as exc:
                assert "did not answer" in str(exc) and time.monotonic() < deadline, exc
        yield c, clients
    finally:
        c.close()


def ranges_of(keys) -> set:
    ks = Keyspace("locks", 2, mode="strong")
    points = hash_split_points(RANGES)
    return {sum(ks.placement_key(k.encode()) >= p for p in points) for k in keys}


def test_incr_through_every_node_counts_exactly(strong):
    _, clients = strong
    replies = [clients[NODES[i % 3]].incr("{c}hits") for i in range(30)]
    assert replies == list(range(1, 31))
    assert {clients[n].get("{c}hits") for n in NODES} == {b"30"}


def test_concurrent_incr_and_pipelined_writes_through_every_node_count_exactly(strong):
    """Clients on every node increment one counter at once, each pipelining its
    INCRs (writes in flight together on one connection): none lost, none twice."""
    c, _ = strong
    per_client, errors = 40, []

    def work(node_id: str) -> None:
        try:
            r = c.redis(node_id, db=1)
            with r.pipeline(transaction=False) as p:
                for _ in range(per_client):
                    p.incr("{c}together")
                replies = p.execute()
            assert len(replies) == per_client and len(set(replies)) == per_client
        except Exception as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in NODES * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    assert c.redis("n2", db=1).get("{c}together") == str(per_client * 6).encode()


def test_multi_exec_applies_a_hash_tags_keys_together(strong):
    _, clients = strong
    with clients["n2"].pipeline() as p:
        p.incrby("{u1}.balance", 100).set("{u1}.owner", "alice").get("{u1}.owner")
        assert p.execute() == [100, True, b"alice"]
    assert clients["n3"].mget("{u1}.balance", "{u1}.owner") == [b"100", b"alice"]


def test_watch_aborts_when_another_node_changed_the_key(strong):
    _, clients = strong
    clients["n1"].set("{w}k", "1")
    with clients["n1"].pipeline() as p:
        p.watch("{w}k")
        assert p.get("{w}k") == b"1"
        clients["n3"].set("{w}k", "2")
        p.multi()
        p.set("{w}k", "mine")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert clients["n2"].get("{w}k") == b"2"


def test_keys_in_several_ranges_are_crossslot_and_write_nothing(strong):
    _, clients = strong
    keys = [f"spread{i}" for i in range(8)]
    assert len(ranges_of(keys)) > 1
    with pytest.raises(redis.ResponseError, match="don't hash to the same range"):
        clients["n1"].mset({k: "x" for k in keys})
    with pytest.raises(redis.ResponseError, match="don't hash to the same range"):
        with clients["n1"].pipeline() as p:
            p.set(keys[0], "1").set(keys[1], "1").set(keys[2], "1").set(keys[3], "1")
            p.set(keys[4], "1").set(keys[5], "1").set(keys[6], "1").set(keys[7], "1")
            p.execute()
    assert clients["n2"].exists(keys[0]) == 0


def test_qkv_cas_swaps_once(strong):
    _, clients = strong
    clients["n1"].set("{l}lock", "free")
    swaps = [clients[n].execute_command("QKV.CAS", "{l}lock", "free", n) for n in NODES]
    assert sorted(swaps) == [0, 0, 1]
    winner = NODES[swaps.index(1)]
    assert clients["n2"].get("{l}lock") == winner.encode()


def test_redis_cli_incr_and_the_not_served_error(strong, redis_cli):
    c, _ = strong
    port = str(c.address("n2").resp_port)
    out = subprocess.run([redis_cli, "-p", port, "-n", "1", "INCR", "cli"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "1"
    out = subprocess.run([redis_cli, "-p", port, "-n", "1", "DBSIZE"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == ("ERR DBSIZE is not served on strong keyspaces yet "
                                  "(keyspace 'locks' is in strong mode); it works on "
                                  "eventual ones")


def test_http_if_version_writes_only_over_the_version_read(strong):
    c, _ = strong
    url = "/v1/kv/locks/doc"
    status, headers, body = http("PUT", c.http("n1") + url, b"v1")
    assert status == 200
    v1 = json.loads(body)["version"]
    assert headers["X-QuorumKV-Version"] == str(v1) and v1 > 0
    status, headers, body = http("GET", c.http("n3") + url)
    assert (status, body, headers["X-QuorumKV-Version"]) == (200, b"v1", str(v1))
    status, _, body = http("PUT", c.http("n2") + url + f"?if_version={v1}", b"v2")
    assert status == 200 and json.loads(body)["version"] > v1
    status, _, body = http("PUT", c.http("n3") + url + f"?if_version={v1}", b"v3")
    assert status == 409 and json.loads(body)["version"] > v1
    status, _, body = http("PUT", c.http("n1") + url + "?if_absent=1", b"v4")
    assert status == 409
    assert http("GET", c.http("n1") + url)[2] == b"v2"


def test_commands_without_keys_work_on_a_strong_connection(strong):
    _, clients = strong
    r = clients["n1"]
    assert r.ping() is True
    assert "redis_version" in r.info("everything")
    assert r.execute_command("QKV.USE") == b"locks"
    assert any(c["db"] == "1" for c in r.client_list())
    with pytest.raises(redis.ResponseError, match="SCAN is not served on strong keyspaces"):
        r.scan(0)


def test_redis_benchmark_runs_incr_on_a_strong_keyspace_and_counts_exactly(strong):
    """redis-benchmark's INCR (on one key without -r), 8 connections pipelining 16
    each: it ends with status 0 and the counter holds one per request."""
    c, clients = strong
    path = shutil.which("redis-benchmark")
    if path is None:
        pytest.skip("redis-benchmark is not installed (apt-get install redis-tools)")
    out = subprocess.run([path, "-h", "127.0.0.1", "-p", str(c.address("n3").resp_port),
                          "--dbnum", "1", "-q", "-t", "set,get,incr", "-n", "400", "-c", "8",
                          "-P", "16"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "INCR:" in out.stdout.replace("\r", "\n")
    assert clients["n1"].get("counter:__rand_int__") == b"400"


def test_a_request_under_a_client_session_applies_once_through_any_node(strong):
    """QKV.REQUEST <id> <seq>: the same (id, seq) sent again, through other nodes
    (a client retrying after a lost connection), is answered with the first reply
    and applies nothing; the next seq applies; an older one is refused."""
    _, clients = strong
    client_id = os.urandom(16).hex()

    def incr(node: str, seq: int):
        return clients[node].execute_command("QKV.REQUEST", client_id, seq, "INCR", "{s}once")

    assert [incr(n, 1) for n in NODES] == [1, 1, 1]
    assert clients["n2"].get("{s}once") == b"1"
    assert incr("n3", 2) == 2 and incr("n1", 2) == 2
    with pytest.raises(redis.ResponseError, match="duplicate request"):
        incr("n2", 1)
    assert clients["n1"].get("{s}once") == b"2"
    # a read under a session takes no entry; an eventual-style keyless command runs
    assert clients["n1"].execute_command("QKV.REQUEST", client_id, 3, "GET", "{s}once") == b"2"
    assert clients["n1"].execute_command("QKV.REQUEST", client_id, 4, "PING") == b"PONG"


@pytest.mark.parametrize("args, error", [
    (("QKV.REQUEST", "id", "1"), "wrong number of arguments"),
    (("QKV.REQUEST", "id", "0", "INCR", "k"), "seq must be an integer from 1"),
    (("QKV.REQUEST", "id", "x", "INCR", "k"), "seq must be an integer from 1"),
    (("QKV.REQUEST", "id", "9" * 20, "INCR", "k"), "seq must be an integer from 1"),
    (("QKV.REQUEST", "", "1", "INCR", "k"), "client id must be 1 to 48 bytes"),
    (("QKV.REQUEST", "i" * 49, "1", "INCR", "k"), "client id must be 1 to 48 bytes"),
    (("QKV.REQUEST", "id", "1", "QKV.REQUEST", "id", "2", "INCR", "k"),
     "cannot wrap another QKV.REQUEST"),
    (("QKV.REQUEST", "id", "1", "NOSUCH", "k"), "unknown command 'NOSUCH'"),
    (("QKV.REQUEST", "id", "1", "INCR"), "wrong number of arguments for 'incr'"),
    (("QKV.REDIRECT", "MAYBE"), "QKV.REDIRECT takes ON or OFF"),
])
def test_bad_request_and_redirect_arguments_are_refused_and_change_nothing(strong, args, error):
    _, clients = strong
    r = clients["n2"]
    with pytest.raises(redis.ResponseError, match=error):
        r.execute_command(*args)
    assert r.get("k") is None and r.ping() is True


def leader_of(c, key: str) -> str:
    """The node whose connection with QKV.REDIRECT ON takes a write of ``key``."""
    takers, moved = [], []
    for n in NODES:
        r = c.redis(n, db=1)
        try:
            assert r.execute_command("QKV.REDIRECT", "ON") == b"OK"
            assert r.execute_command("QKV.REDIRECT") == b"ON"
            try:
                r.set(key, n)
                takers.append(n)
            except redis.exceptions.MovedError as exc:
                moved.append((n, exc))
        finally:
            r.close()
    assert len(takers) == 1, (takers, moved)
    leader = takers[0]
    router = RangeRouter()  # where the client places the key, from DESCRIBE
    router.load(c.redis("n1", db=1).execute_command("QKV.KEYSPACE", "DESCRIBE", "locks"))
    for n, exc in moved:  # each names the leader's RESP address and the key's range
        assert (exc.host, int(exc.port)) == (c.address(leader).host,
                                              c.address(leader).resp_port), (n, exc)
        assert exc.slot_id == router.range_of(key), (n, exc)
    return leader


def test_with_redirect_on_a_follower_answers_moved_naming_the_leader(strong):
    c, clients = strong
    leader = leader_of(c, "{m}k")
    follower = next(n for n in NODES if n != leader)
    r = c.redis(follower, db=1)
    try:
        r.execute_command("QKV.REDIRECT", "ON")
        assert r.get("{m}k") == leader.encode()  # a read is served by the follower
        r.execute_command("QKV.REDIRECT", "OFF")
        assert r.set("{m}k", "forwarded") is True  # forwarded again
    finally:
        r.close()


def test_the_strong_client_follows_redirects_and_retries_exactly_once(strong):
    """StrongClient: writes through a node list that starts at followers reach the
    leaders by MOVED (each range's leader learned once, then kept); a retry of the
    same session after the first node applied it (its reply lost) applies once."""
    c, clients = strong
    leader = leader_of(c, "{e}probe")  # the range of every {e} key
    order = sorted(NODES, key=lambda n: n == leader)  # a follower of {e}0's range first
    nodes = [f"{c.address(n).host}:{c.address(n).resp_port}" for n in order]
    with StrongClient(nodes, "locks") as kv:
        for i in range(40):
            assert kv.incr("{e}%d" % (i % 8)) == i // 8 + 1
        assert 1 <= kv.redirects <= RANGES  # at most one MOVED per range, then cached
        addr = c.address(leader)
        assert kv.router.leaders[kv.router.range_of("{e}0")] == (addr.host, addr.resp_port)
        before = kv.redirects
        for i in range(40):
            kv.incr("{e}%d" % (i % 8))
        assert kv.redirects == before  # the leaders it learned are kept
        assert kv.set("{e}v", "a") and kv.cas("{e}v", "a", "b") and not kv.cas("{e}v", "a", "c")
        assert kv.get("{e}v") == b"b"
        # a retry: the same session sent again through another node after it applied
        session = kv.sessions.take()
        wrapped = kv._wrapped(session, ("INCR", "{e}retry"))
        first = clients["n1"].execute_command(*wrapped)
        again = kv._send(kv.router.range_of("{e}retry"), wrapped)
        kv.sessions.give(session)
        assert first == again == 1 and kv.get("{e}retry") == b"1"
    with pytest.raises(ValueError, match="strong keyspaces"):
        StrongClient(nodes, "default").get("x")
