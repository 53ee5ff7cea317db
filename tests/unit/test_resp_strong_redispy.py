"""redis-py, a real client over a loopback socket, against a strong keyspace's
RESP commands: the real RESP server in its own thread and event loop, the
keyspace served by tests/unit/strong_double.py (the real RangeMachine, Raft
skipped). Its transaction API (pipeline(), watch(), WatchError), its CROSSSLOT
error and INCR run as against Redis."""

from __future__ import annotations

import asyncio
import threading
import types

import pytest
import redis

from quorumkv.api.resp import RespServer

from .strong_double import strong_node

TIMEOUT_S = 10


@pytest.fixture
def client():
    node = strong_node()
    node.me = types.SimpleNamespace(host="127.0.0.1", resp_port=0)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    server = RespServer(node)

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(TIMEOUT_S)
    port = server.server.sockets[0].getsockname()[1]
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=TIMEOUT_S)
    try:
        yield r
    finally:
        r.close()
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT_S)
        loop.close()


def test_incr_cas_and_a_transaction(client):
    assert [client.incr("{a}n") for _ in range(3)] == [1, 2, 3]
    assert client.execute_command("QKV.CAS", "{a}n", "3", "10") == 1
    assert client.execute_command("QKV.CAS", "{a}n", "3", "11") == 0
    with client.pipeline() as p:  # MULTI ... EXEC
        p.incrby("{a}n", 5).set("{a}s", "x").get("{a}s").incr("{a}s")
        with pytest.raises(redis.ResponseError, match="not an integer"):
            p.execute()
    assert client.mget("{a}n", "{a}s") == [b"15", b"x"]  # the rest applied, as Redis


def test_watch_aborts_when_the_key_changed(client):
    client.set("{a}k", "1")
    with client.pipeline() as p:
        p.watch("{a}k")
        value = int(p.get("{a}k"))
        client.set("{a}k", "changed")  # another connection
        p.multi()
        p.set("{a}k", value + 1)
        with pytest.raises(redis.WatchError):
            p.execute()
    assert client.get("{a}k") == b"changed"
    with client.pipeline() as p:
        p.watch("{a}k")
        p.multi()
        p.set("{a}k", "mine")
        assert p.execute() == [True]
    assert client.get("{a}k") == b"mine"


def test_keys_in_two_ranges_are_crossslot(client):
    keys = [f"k{i}" for i in range(64)]
    with pytest.raises(redis.ResponseError, match="^Keys in request don't hash to the same "
                                                  "range of keyspace 'ledger'"):
        client.mset({k: "1" for k in keys})
    assert client.exists(*[k for k in keys[:1]]) == 0
