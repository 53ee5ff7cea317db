"""HTTP ``/v1/kv/{keyspace}/{key}`` reaches the keyspace named in the path, with
that keyspace's default level, and an unknown keyspace is a 404 with the text
RESP gives. In process: the real aiohttp app over the real KV layer, with a fake
replicator that answers at once, and the range map of test_resp_keyspaces."""

import asyncio
import types

from aiohttp.test_utils import TestClient, TestServer

from quorumkv.api.http import build_app
from quorumkv.api.kv import KV
from quorumkv.config import ClusterSection, Config, NodeAddress, NodeSection
from quorumkv.node.metrics import Metrics

from .test_resp_connection import FakeReplicator, two_keyspaces


class InstantReplicator(FakeReplicator):
    """Every read and write finishes as it starts; ``levels`` logs the levels asked."""

    def __init__(self):
        super().__init__()
        self.levels = []

    def start_read(self, ks, key, level, on_done, session=None):
        self.levels.append(level.name)
        super().start_read(ks, key, level, on_done, session)
        self.pending.pop()[1]()

    def start_write(self, ks, key, version, level, on_done, session=None):
        self.levels.append(level.name)
        super().start_write(ks, key, version, level, on_done, session)
        self.pending.pop()[1]()


def http(requests):
    """Run ``requests`` (method, path, body) in order; [(status, body)], replicator."""
    async def run():
        config = Config(NodeSection(id="n1"), ClusterSection(nodes=(NodeAddress(id="n1"),)))
        node = types.SimpleNamespace(config=config, me=config.me, metrics=Metrics(),
                                     ranges=two_keyspaces(), coordinator=InstantReplicator(),
                                     clock_ms=lambda: 0)
        node.kv = KV(node)
        async with TestClient(TestServer(build_app(node))) as client:
            out = []
            for method, path, body in requests:
                async with client.request(method, path, data=body) as r:
                    out.append((r.status, await r.read()))
            return out, node.coordinator
    return asyncio.run(run())


def test_the_path_names_the_keyspace_and_one_key_holds_a_value_in_each():
    out, rep = http([("PUT", "/v1/kv/default/k", b"d"), ("PUT", "/v1/kv/users/k", b"u"),
                     ("GET", "/v1/kv/users/k", None), ("GET", "/v1/kv/default/k", None),
                     ("GET", "/v1/kv/logs/k", None)])
    assert [o[0] for o in out] == [200, 200, 200, 200, 404]
    assert (out[2][1], out[3][1]) == (b"u", b"d")
    assert out[4][1] == b'{"error": "key not found"}'
    assert rep.stores["default"] == {b"k": b"d"} and rep.stores["users"] == {b"k": b"u"}


def test_a_request_without_a_level_gets_its_keyspaces_default():
    _, rep = http([("PUT", "/v1/kv/default/k", b"1"), ("PUT", "/v1/kv/users/k", b"1"),
                   ("GET", "/v1/kv/users/k?consistency=all", None)])
    assert rep.levels == ["QUORUM", "ONE", "ALL"]


def test_an_unknown_keyspace_is_404_with_the_resp_text_and_touches_nothing():
    out, rep = http([("PUT", "/v1/kv/nope/k", b"1"), ("GET", "/v1/kv/nope/k", None),
                     ("DELETE", "/v1/kv/nope/k", None), ("POST", "/v1/repair?keyspace=nope", None)])
    assert out == [(404, b'{"error": "unknown keyspace \'nope\'"}')] * 4
    assert rep.seen == []
