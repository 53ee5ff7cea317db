"""Addressing a keyspace from every interface, against real node processes: RESP
(QKV.USE, SELECT, QKV.KEYSPACES, redis-py's ``db=`` and ``redis-cli -n``), HTTP
``/v1/kv/{keyspace}/{key}``, the Python client's ``keyspace=`` and the CLI's
``--keyspace``. An unknown keyspace is the same error on each.

The first part runs on a cluster whose only keyspace is ``default`` (db 0). The
second (``test_two_keyspaces_...``) declares a second keyspace with db 1 through
``quorumkv cluster up --keyspace users:range:l,r:db=1``.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

import pytest
import redis

from quorumkv.client import Client

from .test_cli import CLUSTER_UP_READY_S, Launcher, consecutive_free_ports, qkv


def keyspaces(r: redis.Redis) -> dict[str, dict]:
    """QKV.KEYSPACES by name, whether redis-py read maps (RESP3) or flat arrays."""
    out = {}
    for entry in r.execute_command("QKV.KEYSPACES"):
        if isinstance(entry, list):
            entry = dict(zip(entry[::2], entry[1::2]))
        entry = {k.decode(): v.decode() if isinstance(v, bytes) else v
                 for k, v in entry.items()}
        out[entry["name"]] = entry
    return out


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


UNKNOWN = "unknown keyspace 'nope'"


# ---- one keyspace: default, db 0 ---------------------------------------------------


def test_select_0_and_qkv_use_default_reach_the_default_keyspace(cluster):
    r = cluster.redis("n1", single_connection_client=True)
    try:
        assert r.set("ks:a", "1") is True
        assert r.execute_command("SELECT", 0) in (b"OK", True, "OK")
        assert r.execute_command("QKV.USE", "default") in (b"OK", True, "OK")
        assert r.execute_command("QKV.USE") == b"default"
        assert r.get("ks:a") == b"1"
        assert " db=0 " in r.execute_command("CLIENT", "INFO").decode()
        info = r.info("cluster")
        assert info["connection_keyspace"] == "default" and info["keyspaces"] == 1
    finally:
        r.close()
    with redis.Redis(port=cluster.address("n2").resp_port, db=0, socket_timeout=10) as r0:
        assert r0.get("ks:a") == b"1"  # redis-py sends SELECT 0 on connect


def test_qkv_keyspaces_lists_default_with_its_settings(cluster):
    with cluster.redis("n1") as r:
        assert keyspaces(r) == {"default": {
            "name": "default", "db": 0, "mode": "eventual", "partitioner": "hash",
            "replication_factor": 3, "default_consistency": "QUORUM", "ranges": 16}}


def test_a_db_no_keyspace_declares_is_refused_as_redis_does(cluster, redis_cli):
    with pytest.raises(redis.ResponseError, match="^DB index is out of range$"):
        redis.Redis(port=cluster.address("n1").resp_port, db=1, socket_timeout=10).ping()
    out = subprocess.run([redis_cli, "-p", str(cluster.address("n1").resp_port), "-n", "1",
                          "PING"], capture_output=True, text=True, timeout=30)
    assert "SELECT 1 failed: ERR DB index is out of range" in out.stderr + out.stdout


def test_an_unknown_keyspace_is_the_same_error_on_every_interface(cluster):
    with cluster.redis("n1", single_connection_client=True) as r:
        assert r.set("ks:u", "kept") is True
        with pytest.raises(redis.ResponseError, match=f"^{UNKNOWN}$"):
            r.execute_command("QKV.USE", "nope")
        assert r.execute_command("QKV.USE") == b"default"  # unchanged
    base = cluster.http("n1")
    for method, body in (("PUT", b"v"), ("GET", None), ("DELETE", None)):
        status, answer = http(method, f"{base}/v1/kv/nope/ks:u", body)
        assert (status, json.loads(answer)) == (404, {"error": UNKNOWN}), method
    nodes = [f"127.0.0.1:{cluster.address('n1').resp_port}"]
    with Client(nodes, keyspace="nope") as kv:
        with pytest.raises(redis.ResponseError, match=f"^{UNKNOWN}$"):
            kv.set("ks:u", "lost")
    out = qkv("set", "ks:u", "lost", "--keyspace", "nope", "--node", nodes[0])
    assert out.returncode == 3 and f"error: {UNKNOWN}" in out.stderr
    with cluster.redis("n2") as r:
        assert r.get("ks:u") == b"kept"  # no interface wrote to another keyspace


def test_http_client_and_cli_name_the_default_keyspace(cluster):
    base = cluster.http("n2")
    assert http("PUT", f"{base}/v1/kv/default/ks:http", b"h")[0] == 200
    nodes = [f"127.0.0.1:{cluster.address('n3').resp_port}"]
    with Client(nodes, keyspace="default") as kv, kv.with_keyspace("default") as same:
        assert kv.get("ks:http") == b"h"
        assert same.set("ks:client", "c") is True
    out = qkv("get", "ks:client", "--keyspace", "default", "--node", nodes[0])
    assert (out.returncode, out.stdout) == (0, "c\n")


# ---- two keyspaces -------------------------------------------------------------------


def test_two_keyspaces_are_reached_alike_from_every_interface(tmp_path):
    base = consecutive_free_ports(9)
    data_dir = tmp_path / "data"
    up = Launcher(tmp_path, "up", [
        "--nodes", "3", "--resp-base", str(base), "--http-base", str(base + 3),
        "--peer-base", str(base + 6), "--data-dir", str(data_dir),
        "--ready-timeout-s", str(CLUSTER_UP_READY_S),
        "--keyspace", "users:range:l,r:db=1"])
    try:
        up.wait_banner(str(data_dir / "cluster.toml"))
        resp1, resp3, http2 = base + 1, base + 3, f"http://127.0.0.1:{base + 5}"
        with redis.Redis(port=resp1, socket_timeout=10) as r:
            listed = keyspaces(r)
        assert set(listed) == {"default", "users"}
        assert listed["users"]["db"] == 1 and listed["users"]["partitioner"] == "range"
        assert listed["default"]["db"] == 0

        # one key name, two values: written through SELECT and through QKV.USE
        with redis.Redis(port=resp1, db=1, socket_timeout=10) as users:
            assert users.set("alice", "in users") is True
        with redis.Redis(port=resp1, socket_timeout=10, single_connection_client=True) as r:
            assert r.set("alice", "in default") is True
            assert r.execute_command("QKV.USE", "users") in (b"OK", True, "OK")
            assert r.get("alice") == b"in users"
            assert " db=1 " in r.execute_command("CLIENT", "INFO").decode()
            r.execute_command("SELECT", 0)
            assert r.get("alice") == b"in default"

        # HTTP, the client and the CLI see the same two values, on other nodes
        assert http("GET", f"{http2}/v1/kv/users/alice") == (200, b"in users")
        assert http("GET", f"{http2}/v1/kv/default/alice") == (200, b"in default")
        assert http("PUT", f"{http2}/v1/kv/users/bob", b"from http")[0] == 200
        nodes = [f"127.0.0.1:{resp3}"]
        with Client(nodes, keyspace="users") as kv, kv.with_keyspace(None) as default:
            assert kv.get("alice") == b"in users" and kv.get("bob") == b"from http"
            assert default.get("alice") == b"in default" and default.get("bob") is None
        out = qkv("get", "alice", "--keyspace", "users", "--node", nodes[0])
        assert (out.returncode, out.stdout) == (0, "in users\n")
        with redis.Redis(port=resp3, db=1, socket_timeout=10) as users:
            users.flushdb()  # only users
            assert users.get("alice") is None
        assert http("GET", f"{http2}/v1/kv/default/alice") == (200, b"in default")
        assert up.terminate() == 0, up.stderr
    finally:
        up.cleanup()
