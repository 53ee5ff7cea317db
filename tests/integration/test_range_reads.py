"""Ordered range reads of the a-k / l-q / r-z keyspace on a 3-node cluster:
QKV.RANGE (pages with LIMIT, forward and REV), HTTP, the Python client and SCAN
return every live key of 10,000 exactly once, in key order, across the range
boundaries; deleted and expired keys never appear; and the same holds at QUORUM
with one node killed. A hash keyspace and bad parameters get clear errors.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import redis

from quorumkv.client import AsyncClient, Client
from quorumkv.config import KeyspaceSettings

from .cluster import ProcessCluster

KEYS = 10_000
PAGES_MAX = 100  # every loop below is bounded
HASH_ERROR = ("QKV.RANGE needs a range-partitioned keyspace; 'default' is "
              "hash-partitioned")


def key_of(i: int) -> bytes:
    return b"%c%05d" % (97 + i % 26, i)  # a00000, b00001, ...: all three ranges


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The cluster (killed nodes are this module's business) and the live keys."""
    users = KeyspaceSettings("users", partitioner="range", split_points=("l", "r"), db=1)
    c = ProcessCluster(tmp_path_factory.mktemp("ranges"), keyspaces=(users,)).start()
    try:
        r = c.redis("n1", consistency="ALL", db=1)
        live = {key_of(i): b"v%d" % i for i in range(KEYS)}
        items = list(live.items())
        for chunk in range(0, KEYS, 500):
            r.mset(dict(items[chunk:chunk + 500]))
        deleted = [key_of(i) for i in range(0, KEYS, 50)]
        assert r.delete(*deleted) == len(deleted)
        expiring = [key_of(i) for i in range(7, KEYS, 330)]
        for key in expiring:
            assert r.set(key, b"gone soon", px=200)
        deadline = time.monotonic() + 10
        for key in expiring:  # wait for expiry itself, not for a guessed time
            while r.get(key) is not None:
                assert time.monotonic() < deadline, "a key did not expire"
                time.sleep(0.05)
        for key in deleted + expiring:
            del live[key]
        r.close()
        yield c, live
    finally:
        c.close()


def qkv_range(r, start: bytes, end: bytes, limit: int, reverse: bool = False) -> list:
    """Every pair of [start, end) by pages of LIMIT ``limit``; checks page sizes."""
    pairs, pages = [], 0
    while True:
        rev = ("REV",) if reverse else ()
        following, flat = r.execute_command("QKV.RANGE", start, end, "LIMIT", limit, *rev)
        assert len(flat) <= 2 * limit
        pairs += zip(flat[0::2], flat[1::2])
        if following is None:
            return pairs
        if reverse:
            end = following
        else:
            start = following
        pages += 1
        assert pages < PAGES_MAX


def http_range(base: str, limit: int, reverse: bool = False, **bounds) -> list:
    pairs, query = [], {"limit": limit, **bounds}
    if reverse:
        query["rev"] = "1"
    for _ in range(PAGES_MAX):
        url = f"{base}/v1/kv/users?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=30) as response:
            body = json.loads(response.read())
        assert len(body["items"]) <= limit
        pairs += [(i["key"].encode(), i["value"].encode()) for i in body["items"]]
        if body["next"] is None:
            return pairs
        query["end" if reverse else "start"] = body["next"]
    raise AssertionError("the HTTP range read did not finish")


def scan_all(r, count: int) -> list:
    keys, cursor = [], 0
    for _ in range(PAGES_MAX * 10):
        cursor, page = r.scan(cursor, count=count)
        keys += page
        if cursor == 0:
            return keys
    raise AssertionError("SCAN did not finish")


def check_every_read(c, live: dict, node: str) -> None:
    expected = sorted(live.items())
    inside = [(k, v) for k, v in expected if b"k" <= k < b"s"]
    r = c.redis(node, consistency="QUORUM", db=1)
    try:
        assert qkv_range(r, b"", b"", 700) == expected
        assert qkv_range(r, b"", b"", 900, reverse=True) == expected[::-1]
        assert qkv_range(r, b"k", b"s", 333) == inside  # crosses l and r
        assert qkv_range(r, b"k", b"s", 250, reverse=True) == inside[::-1]
        assert http_range(c.http(node), 1000, consistency="QUORUM") == expected
        assert http_range(c.http(node), 1000, reverse=True, start="k", end="s") == inside[::-1]
        assert scan_all(r, 400) == [k for k, _ in expected]
        assert sorted(r.keys("*")) == [k for k, _ in expected]
        assert r.dbsize() == len(expected)
    finally:
        r.close()
    port = c.address(node).resp_port
    with Client([f"127.0.0.1:{port}"], keyspace="users", consistency="QUORUM") as client:
        assert client.range(b"", b"") == expected
        assert client.range(b"", b"m", limit=1500, reverse=True) == \
            [(k, v) for k, v in expected if k < b"m"][::-1][:1500]

    async def read_async():
        async with AsyncClient([f"127.0.0.1:{port}"], keyspace="users",
                               consistency="QUORUM") as client:
            return await client.range("k", "s", limit=2500)
    assert asyncio.run(read_async()) == inside[:2500]


def test_every_read_returns_each_live_key_once_in_order(loaded):
    c, live = loaded
    for node in ("n1", "n2"):
        check_every_read(c, live, node)


def test_errors_are_clear(loaded):
    c, _ = loaded
    r = c.redis("n1")
    try:
        with pytest.raises(redis.ResponseError, match=HASH_ERROR):
            r.execute_command("QKV.RANGE", "a", "z")
        r.execute_command("QKV.USE", "users")
        for args, text in [((), "wrong number of arguments"),
                           (("LIMIT",), "syntax error"),
                           (("LIMIT", "0"), "LIMIT must be between 1 and 10000"),
                           (("LIMIT", "10001"), "LIMIT must be between 1 and 10000"),
                           (("LIMIT", "x"), "value is not an integer"),
                           (("SIDEWAYS",), "syntax error")]:
            start_end = ("a",) if not args else ("a", "z")
            with pytest.raises(redis.ResponseError, match=text):
                r.execute_command("QKV.RANGE", *start_end, *args)
        assert r.execute_command("QKV.RANGE", "z", "a") == [None, []]  # start >= end
        with pytest.raises(redis.ResponseError, match="invalid cursor"):
            r.scan(12345)  # not a cursor of this keyspace (no 0x01 marker)
    finally:
        r.close()
    for query, status, text in [("", 400, HASH_ERROR)]:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{c.http('n1')}/v1/kv/default?start=a", timeout=10)
        assert err.value.code == status and json.loads(err.value.read())["error"] == text
    for query, status in [("nosuch?start=a", 404), ("users?limit=0", 400),
                          ("users?start_b64=***", 400), ("users?consistency=MOST", 400),
                          ("users?start=a&start_b64=YQ==", 400)]:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{c.http('n1')}/v1/kv/{query}", timeout=10)
        assert err.value.code == status, query


def test_binary_keys_come_back_in_base64(loaded):
    c, _ = loaded
    r = c.redis("n1", consistency="ALL", db=1)
    try:
        r.set(b"zz\xff\x00", b"\xfe")
        url = f"{c.http('n1')}/v1/kv/users?start_b64={base64.b64encode(b'zz').decode()}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body == {"items": [{"key_b64": base64.b64encode(b"zz\xff\x00").decode(),
                                   "value_b64": base64.b64encode(b"\xfe").decode()}],
                        "next": None}
        r.delete(b"zz\xff\x00")
    finally:
        r.close()


def test_scan_over_keys_longer_than_a_cursor_finishes_and_skips_none(loaded):
    """Keys sharing a prefix longer than a cursor holds (1,024 bytes): the cursor
    holds the prefix, so keys may come again, but each call moves on."""
    c, live = loaded
    r = c.redis("n1", consistency="ALL", db=1)
    long_keys = [b"y" * 1100 + b"%02d" % i for i in range(30)]
    try:
        r.mset({k: b"long" for k in long_keys})
        seen, cursor, calls = [], 0, 0
        while True:
            before = cursor
            cursor, page = r.scan(cursor, count=5)
            assert cursor != before, "a SCAN call made no progress"
            seen += page
            calls += 1
            assert calls < 2 * len(live) / 5, "SCAN made no progress"
            if cursor == 0:
                break
        assert set(seen) == set(live) | set(long_keys)
        assert sorted(set(seen)) == sorted(live.keys() | set(long_keys))
    finally:
        assert r.delete(*long_keys) == len(long_keys)
        r.close()


def test_bench_range_reads_counts_the_keys_it_read(loaded):
    c, live = loaded
    port = str(c.address("n2").resp_port)
    common = [sys.executable, "-m", "quorumkv", "bench", "--port", port, "--range-reads",
              "--requests", "40", "--clients", "2", "--keys", "100", "--duration-s", "30",
              "--json"]
    done = subprocess.run(common + ["--keyspace", "users"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # from bench:N on, every read finds 100 keys (the c..z keys sort after "bench:")
    assert result["ok"] == 40 and result["errors"] == 0 and result["keys_read"] == 4000
    refused = subprocess.run(common, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and HASH_ERROR in refused.stderr


def test_with_one_node_killed_at_quorum(loaded):
    """Last in this module: it kills n3."""
    c, live = loaded
    c.kill("n3")
    check_every_read(c, live, "n1")
