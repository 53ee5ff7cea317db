"""Any node serves any key: write through one node, read through another."""

import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import redis

from quorumkv import accel


def test_write_on_n1_read_on_n3_with_redis_py(cluster):
    cluster.redis("n1").set("user:42", "alice")
    assert cluster.redis("n3").get("user:42") == b"alice"
    assert cluster.redis("n2").get("user:42") == b"alice"


def test_redis_cli_across_nodes(cluster, redis_cli):
    n1, n3 = cluster.address("n1"), cluster.address("n3")
    out = subprocess.run([redis_cli, "-p", str(n1.resp_port), "SET", "cli:key", "hello world"],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "OK"
    out = subprocess.run([redis_cli, "-p", str(n3.resp_port), "GET", "cli:key"],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "hello world"
    out = subprocess.run([redis_cli, "-p", str(n3.resp_port), "GET", "cli:missing"],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == ""  # redis-cli prints (nil) only on a tty


def test_http_across_nodes(cluster):
    req = urllib.request.Request(cluster.http("n1") + "/v1/kv/default/user:7",
                                 data=b"\x00bob\xff", method="PUT")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status in (200, 204)
    with urllib.request.urlopen(cluster.http("n3") + "/v1/kv/default/user:7", timeout=10) as r:
        assert r.read() == b"\x00bob\xff"
    # and the same key through RESP: one store behind both APIs
    assert cluster.redis("n2").get("user:7") == b"\x00bob\xff"


def test_pipelined_mset_mget_1000_keys(cluster):
    n1, n2 = cluster.redis("n1"), cluster.redis("n2")
    expected = {f"pipe:{i}".encode(): f"value-{i}".encode() for i in range(1000)}
    pipe = n1.pipeline(transaction=False)
    for key, value in expected.items():
        pipe.set(key, value)
    assert pipe.execute() == [True] * 1000
    pipe = n2.pipeline(transaction=False)
    for key in expected:
        pipe.get(key)
    assert pipe.execute() == list(expected.values())
    assert n1.mset(expected) is True
    assert n2.mget(list(expected)) == list(expected.values())


def test_delete_and_exists(cluster):
    n1, n3 = cluster.redis("n1"), cluster.redis("n3")
    n1.mset({"d:1": "a", "d:2": "b"})
    assert n3.exists("d:1", "d:2", "d:nope") == 2
    assert n3.delete("d:1", "d:nope") == 1
    assert n1.get("d:1") is None
    assert n1.exists("d:1") == 0
    assert n1.type("d:2") == b"string" and n1.type("d:1") == b"none"


def test_ttl_expiry(cluster):
    n1, n2 = cluster.redis("n1"), cluster.redis("n2")
    assert n1.set("ttl:short", "x", px=400)
    assert n2.get("ttl:short") == b"x"
    assert 0 < n2.pttl("ttl:short") <= 400
    assert n1.set("ttl:long", "y", ex=100)
    assert 98 <= n2.ttl("ttl:long") <= 100
    assert n2.ttl("ttl:none-such") == -2
    n1.set("ttl:forever", "z")
    assert n2.ttl("ttl:forever") == -1
    # expiry is absolute time: wait past it (bounded), then the key is gone everywhere
    deadline = time.monotonic() + 5
    while n2.get("ttl:short") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert n2.get("ttl:short") is None and n1.get("ttl:short") is None
    assert n1.persist("ttl:long") == 1 and n2.ttl("ttl:long") == -1
    assert n1.expire("ttl:forever", 50) == 1 and 48 <= n2.ttl("ttl:forever") <= 50


def test_set_options(cluster):
    r = cluster.redis("n2")
    assert r.set("opt:nx", "1", nx=True) is True
    assert r.set("opt:nx", "2", nx=True) is None
    assert r.get("opt:nx") == b"1"
    assert r.set("opt:xx", "1", xx=True) is None
    assert r.set("opt:nx", "3", xx=True, get=True) == b"1"
    assert r.getdel("opt:nx") == b"3" and r.get("opt:nx") is None
    assert r.setnx("opt:setnx", "a") is True and r.setnx("opt:setnx", "b") is False
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SET", "k", "v", "NX", "XX")
    with pytest.raises(redis.ResponseError, match="invalid expire time"):
        r.execute_command("SET", "k", "v", "EX", "0")
    # expire times that do not fit 64 bits are refused before anything is written
    for args in (("SET", "opt:big", "v", "PXAT", str(10**30)),
                 ("SET", "opt:big", "v", "EX", str(2**63 - 1)),
                 ("EXPIRE", "opt:setnx", str(2**62))):
        with pytest.raises(redis.ResponseError,
                           match="invalid expire time|not an integer or out of range"):
            r.execute_command(*args)
    assert r.get("opt:big") is None and r.get("opt:setnx") == b"a"
    assert r.set("opt:after", "fine") is True and r.get("opt:after") == b"fine"


def test_scan_visits_every_key_exactly_once(cluster):
    n1 = cluster.redis("n1")
    expected = {f"scan:{i}".encode() for i in range(10_000)}
    items = list(expected)
    for start in range(0, len(items), 1000):
        n1.mset({k: b"v" for k in items[start:start + 1000]})
    seen: list[bytes] = []
    cursor, calls = 0, 0
    nodes = [cluster.redis(n) for n in ("n1", "n2", "n3")]
    while True:
        # each page from a different node: the cursor carries all the state
        cursor, keys = nodes[calls % 3].scan(cursor, match="scan:*", count=500)
        seen += keys
        calls += 1
        if cursor == 0:
            break
        assert calls < 10_000
    assert len(seen) == len(set(seen)) == 10_000
    assert set(seen) == expected


def test_unknown_command_and_wrong_arity_as_redis(cluster):
    r = cluster.redis("n1")
    with pytest.raises(redis.ResponseError) as err:
        r.execute_command("NOSUCH", "a", "b")
    assert str(err.value) == "unknown command 'NOSUCH', with args beginning with: 'a' 'b' "
    with pytest.raises(redis.ResponseError) as err:
        r.execute_command("GET")
    assert str(err.value) == "wrong number of arguments for 'get' command"
    with pytest.raises(redis.ResponseError, match="strong"):
        r.incr("counter")


def test_resp3_hello(cluster):
    r = cluster.redis("n1", protocol=3)
    r.set("r3", "v")
    assert r.get("r3") == b"v"
    assert r.get("r3:none") is None


def test_cluster_json_and_metrics(cluster):
    info = cluster.cluster_json("n2")
    assert {n["id"] for n in info["nodes"]} == {"n1", "n2", "n3"}
    assert all(n["state"] == "up" for n in info["nodes"])
    ranges = info["range_map"]["ranges"]
    assert len(ranges) == 16 and info["range_map"]["epoch"] >= 1
    assert all(len(set(r["replicas"])) == 3 for r in ranges)
    with urllib.request.urlopen(cluster.http("n1") + "/metrics", timeout=5) as r:
        text = r.read().decode()
    assert 'qkv_requests_total{api="resp",command="SET",outcome="ok"}' in text
    with urllib.request.urlopen(cluster.http("n1") + "/openapi.json", timeout=5) as r:
        spec = json.loads(r.read())
    assert "/v1/kv/{keyspace}/{key}" in spec["paths"]
    assert "post" in spec["paths"]["/v1/repair"]
    get_params = {p["name"] for p in spec["paths"]["/v1/kv/{keyspace}/{key}"]["get"]["parameters"]}
    assert {"consistency", "X-QKV-Session", "receipt"} <= get_params


def test_http_ttl_and_delete(cluster):
    url = cluster.http("n1") + "/v1/kv/default/http:ttl"
    req = urllib.request.Request(url + "?ttl=1", data=b"short", method="PUT")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status in (200, 204)
    assert 0 < cluster.redis("n2").pttl("http:ttl") <= 1000
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and cluster.redis("n3").get("http:ttl") is not None:
        time.sleep(0.05)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(cluster.http("n3") + "/v1/kv/default/http:ttl", timeout=10)
    assert err.value.code == 404
    cluster.redis("n1").set("http:del", "x")
    req = urllib.request.Request(cluster.http("n2") + "/v1/kv/default/http:del", method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read()) == {"deleted": True}
    assert cluster.redis("n3").get("http:del") is None


def test_keys_dbsize_and_info(cluster):
    r = cluster.redis("n2")
    wanted = {f"kd:{i}".encode() for i in range(50)}
    r.mset({k: b"v" for k in wanted})
    assert set(cluster.redis("n3").keys("kd:*")) == wanted
    assert r.dbsize() >= 50
    info = r.info("everything")
    for field in ("redis_version", "connected_clients", "cluster_nodes", "range_map_epoch"):
        assert field in info
    assert info["cluster_nodes"] == 3
    # the node runs the compiled hot path wherever the build matches the source
    built = accel.read_manifest()
    fresh = 0 if accel.pure_requested() else sum(
        1 for mod in accel.MODULES
        if mod in built and accel.digest(accel.source_path(mod)) == built[mod]["sha256"])
    assert info["compiled_modules"] == f"{fresh}/{len(accel.MODULES)}"
    assert r.config_get("appendonly") == {"appendonly": "yes"}


def test_connection_commands(cluster):
    r = cluster.redis("n1", consistency="QUORUM")  # one connection for all of these
    assert r.ping() is True
    assert r.echo("hi") == b"hi"
    assert r.execute_command("SELECT", 0) is True
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.execute_command("SELECT", 1)
    assert r.client_setname("tester") is True
    assert r.client_getname() == "tester"
    assert isinstance(r.client_id(), int)
    assert r.execute_command("QKV.CONSISTENCY") == b"QUORUM"
    assert r.command_count() > 30
    names = {c.decode() if isinstance(c, bytes) else c for c in r.command_list()}
    assert {"get", "set", "scan", "qkv.consistency"} <= names
    assert r.getex("nope") is None
    r.set("gx", "v")
    assert r.getex("gx", ex=100) == b"v" and 98 <= r.ttl("gx") <= 100
    assert r.getex("gx", persist=True) == b"v" and r.ttl("gx") == -1
    assert r.getset("gx", "w") == b"v" and r.get("gx") == b"w"
    assert r.execute_command("QUIT") in (True, b"OK")
