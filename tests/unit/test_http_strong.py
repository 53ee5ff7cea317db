"""HTTP ``/v1/kv/{keyspace}/{key}`` on a strong keyspace: GET, PUT and DELETE run
core/strong commands, every reply carries the key's version (``X-QuorumKV-Version``,
and ``version`` in JSON bodies), ``PUT ?if_version=V`` and ``?if_absent=1`` write
only when the key's version is V / the key is absent (409 otherwise). In process:
the real aiohttp app and KV layer, the strong keyspace served by
tests/unit/strong_double.py (the real RangeMachine, Raft skipped)."""

from __future__ import annotations

import asyncio
import json

from aiohttp.test_utils import TestClient, TestServer

from quorumkv.api.http import OPENAPI_JSON, build_app
from quorumkv.config import ClusterSection, Config, NodeAddress, NodeSection
from quorumkv.core.strong import commands as c

from .strong_double import NOW_MS, strong_node

V = "X-QuorumKV-Version"


def http(requests):
    """Run ``requests`` (method, path, body) in order: [(status, version header,
    body)] and the double."""
    async def run():
        node = strong_node()
        node.config = Config(NodeSection(id="n1", max_key_bytes=512),
                             ClusterSection(nodes=(NodeAddress(id="n1"),)))
        node.me = node.config.me
        async with TestClient(TestServer(build_app(node))) as client:
            out = []
            for method, path, body in requests:
                async with client.request(method, path, data=body) as r:
                    out.append((r.status, r.headers.get(V), await r.read()))
            return out, node.strong_replicators["ledger"]
    return asyncio.run(run())


def body(raw: bytes) -> dict:
    return json.loads(raw)


def test_put_get_delete_carry_the_version():
    out, d = http([("GET", "/v1/kv/ledger/k", None), ("PUT", "/v1/kv/ledger/k", b"one"),
                   ("GET", "/v1/kv/ledger/k", None), ("PUT", "/v1/kv/ledger/k", b"two"),
                   ("GET", "/v1/kv/ledger/k", None), ("DELETE", "/v1/kv/ledger/k", None),
                   ("DELETE", "/v1/kv/ledger/k", None), ("GET", "/v1/kv/ledger/k", None)])
    assert out[0] == (404, "0", b'{"error": "key not found", "version": 0}')
    assert out[1] == (200, "1", b'{"ok": true, "version": 1}')
    assert out[2] == (200, "1", b"one")
    assert out[3][:2] == (200, "2") and out[4] == (200, "2", b"two")
    assert out[5] == (200, "0", b'{"deleted": true, "version": 0}')
    assert body(out[6][2])["deleted"] is False
    assert out[7][0] == 404
    assert [type(call[0]) for call in d.calls] == [c.Get, c.Set, c.Get, c.Set, c.Get,
                                                   c.Delete, c.Delete, c.Get]


def test_if_version_writes_only_over_that_version():
    out, _ = http([("PUT", "/v1/kv/ledger/k", b"a"),
                   ("PUT", "/v1/kv/ledger/k?if_version=7", b"b"),
                   ("PUT", "/v1/kv/ledger/k?if_version=1", b"b"),
                   ("PUT", "/v1/kv/ledger/k?if_version=1", b"c"),
                   ("GET", "/v1/kv/ledger/k", None)])
    assert out[1] == (409, "1", (b'{"error": "not written: the key\'s version is not 7", '
                                 b'"version": 1}'))
    assert out[2][:2] == (200, "3") and body(out[2][2]) == {"ok": True, "version": 3}
    assert out[3][0] == 409 and body(out[3][2])["version"] == 3
    assert out[4] == (200, "3", b"b")


def test_if_absent_creates_once_and_if_version_0_means_absent():
    out, _ = http([("PUT", "/v1/kv/ledger/lock?if_absent=1&ttl=30", b"me"),
                   ("PUT", "/v1/kv/ledger/lock?if_absent=true", b"you"),
                   ("PUT", "/v1/kv/ledger/other?if_version=0", b"x"),
                   ("GET", "/v1/kv/ledger/lock", None)])
    assert out[0][0] == 200
    assert out[1][0] == 409 and body(out[1][2]) == {
        "error": "not written: the key exists", "version": 1}
    assert out[2][0] == 200
    assert out[3][2] == b"me"


def test_the_ttl_is_an_absolute_expiry_from_the_node_clock():
    _, d = http([("PUT", "/v1/kv/ledger/k?ttl=30", b"v"),
                 ("PUT", "/v1/kv/ledger/k?if_absent=1&ttl=5", b"v")])
    assert d.calls[0][0] == c.Set(b"k", b"v", NOW_MS + 30_000)
    assert d.calls[1][0] == c.Txn((c.Set(b"k", b"v", NOW_MS + 5000),), ((b"k", 0),))


def test_bad_conditions_are_400_and_write_nothing():
    out, d = http([("PUT", "/v1/kv/ledger/k?if_version=-1", b"v"),
                   ("PUT", "/v1/kv/ledger/k?if_version=abc", b"v"),
                   ("PUT", "/v1/kv/ledger/k?if_version=9223372036854775808", b"v"),
                   ("PUT", "/v1/kv/ledger/k?if_absent=maybe", b"v"),
                   ("PUT", "/v1/kv/ledger/k?if_absent=1&if_version=1", b"v"),
                   ("PUT", "/v1/kv/ledger/k?consistency=ONE", b"v")])
    assert [o[0] for o in out] == [400] * 6
    assert body(out[0][2])["error"].startswith("if_version must be a version")
    assert body(out[3][2])["error"].startswith("if_absent must be 1, true, on, 0")
    assert body(out[4][2]) == {"error": "give if_version or if_absent, not both"}
    assert "linearizable" in body(out[5][2])["error"]
    assert d.calls == []


def test_a_key_over_the_limit_is_413_and_the_eventual_keyspace_is_unchanged():
    out, d = http([("PUT", "/v1/kv/ledger/" + "k" * 513, b"v"),
                   ("GET", "/v1/kv/nope/k", None)])
    assert out[0][0] == 413 and out[1][0] == 404
    assert d.calls == []


def test_the_openapi_document_describes_the_conditions_and_the_version():
    doc = json.loads(OPENAPI_JSON)
    put = doc["paths"]["/v1/kv/{keyspace}/{key}"]["put"]
    names = {p["name"] for p in put["parameters"]}
    assert {"if_version", "if_absent"} <= names and "409" in put["responses"]
    assert V in put["responses"]["200"]["headers"]


def test_a_range_read_of_a_strong_keyspace_names_what_is_not_served():
    out, _ = http([("GET", "/v1/kv/ledger?start=a", None)])
    assert out[0][0] == 501
    assert body(out[0][2]) == {"error": "range reads are not served on strong keyspaces "
                                        "yet (keyspace 'ledger' is in strong mode)"}
