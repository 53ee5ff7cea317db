"""``quorumkv cluster up --keyspace ...``: a 3-node cluster with keyspace default, a
hash keyspace and the a-k / l-q / r-z range keyspace; keyspaces added later are
accepted over the data, a reorder is refused; a bad --keyspace writes nothing.

Every ``cluster up`` is a Launcher, stopped and cleaned up by pid in its ``finally``.
"""

from __future__ import annotations

import json
import tomllib
import urllib.request

import redis

from .test_cli import CLI_TIMEOUT_S, Launcher, assert_config_failure, consecutive_free_ports, qkv
from .test_cluster_identity import cluster_up_args


def keyspaces_of(http_port: int) -> list[tuple]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1/cluster", timeout=10) as r:
        view = json.loads(r.read())
    return [(k["name"], k["partitioner"], k["replication_factor"], k["ranges"], k["db"])
            for k in view["keyspaces"]]


def test_cluster_up_with_a_hash_and_a_range_keyspace(tmp_path):
    base = consecutive_free_ports(12)
    data_dir = tmp_path / "data"
    config_path = str(data_dir / "cluster.toml")
    flags = ["--keyspace", "events:hash:8", "--keyspace", "users:range:l,r:db=1"]
    first = Launcher(tmp_path, "first", cluster_up_args(base, data_dir, "--nodes", "3", *flags))
    try:
        first.wait_banner(config_path)
        for k in (1, 2, 3):
            assert keyspaces_of(base + 4 + k) == [
                ("default", "hash", 3, 16, 0), ("events", "hash", 3, 8, None),
                ("users", "range", 3, 3, 1)]
        r = redis.Redis(port=base + 1, socket_timeout=10)
        assert r.set("kept", "v") is True
        r.close()
        assert first.terminate() == 0
    finally:
        first.cleanup()
    with open(config_path, "rb") as f:
        written = tomllib.load(f)
    assert [(k["name"], k.get("split_points"), k.get("ranges"), k.get("db"))
            for k in written["keyspaces"]] == [
        ("default", None, 16, 0), ("events", None, 8, None), ("users", ["l", "r"], None, 1)]
    log = (data_dir / "n1.log").read_text()
    assert "keyspace users (id 3, db 1): eventual, range, split points ['l', 'r']" in log
    assert "deprecated" not in log and "Traceback" not in log

    # a keyspace added after the last one: accepted over the data, which stays
    grown = Launcher(tmp_path, "grown", cluster_up_args(base, data_dir, "--nodes", "3", *flags,
                                                        "--keyspace", "logs:hash:2"))
    try:
        grown.wait_banner(config_path)
        assert [k[0] for k in keyspaces_of(base + 5)] == ["default", "events", "users", "logs"]
        r = redis.Redis(port=base + 3, socket_timeout=10)
        assert r.get("kept") == b"v"
        r.close()
        assert grown.terminate() == 0
    finally:
        grown.cleanup()
    assert "keyspaces added: logs" in (data_dir / "n2.log").read_text()
    before = (data_dir / "cluster.toml").read_bytes()

    # the same keyspaces in another order would give them other ids: refused
    swapped = ["--keyspace", "users:range:l,r:db=1", "--keyspace", "events:hash:8",
               "--keyspace", "logs:hash:2"]
    refused = Launcher(tmp_path, "swapped", cluster_up_args(base, data_dir, "--nodes", "3",
                                                            *swapped))
    try:
        assert refused.proc.wait(CLI_TIMEOUT_S) == 2, refused.stderr
        assert "keyspace order events users logs -> users events logs" in refused.stderr
        assert "--keyspace events:hash:8 --keyspace users:range:l,r --keyspace logs:hash:2" \
            in refused.stderr, "the advice names the flags of the data"
    finally:
        refused.cleanup()
    assert (data_dir / "cluster.toml").read_bytes() == before


def test_a_bad_keyspace_flag_is_refused_before_anything_is_written(tmp_path):
    data_dir = tmp_path / "data"
    for flag, named in [("users:range:r,l", "keyspaces.users.split_points must be strictly "
                                            "increasing: 'r' is not before 'l'"),
                        ("users:ordered", "--keyspace 'users:ordered': the partitioner is "
                                          "hash or range"),
                        ("users:range:l:db=0", "keyspaces default and users both take db 0"),
                        ("users:hash:mode", "the number of ranges 'mode' is not a number")]:
        out = qkv("cluster", "up", "--data-dir", str(data_dir), "--keyspace", flag)
        assert_config_failure(out, named)
        assert not (data_dir / "cluster.toml").exists()
