"""Bad input gets a clear error and harms nothing: the node keeps serving every
other client and loses nothing it stored."""

import socket
import urllib.error
import urllib.request

import pytest
import redis


def raw_exchange(cluster, node_id: str, payload: bytes, close_expected: bool) -> bytes:
    """Send ``payload`` on a fresh socket; the bytes answered until close or a pause."""
    a = cluster.address(node_id)
    with socket.create_connection((a.host, a.resp_port), timeout=5) as s:
        s.sendall(payload)
        if not close_expected:
            s.settimeout(1.0)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if not close_expected and out.endswith(b"\r\n"):
                    break
        except socket.timeout:
            pass
        return out


@pytest.fixture(scope="module")
def witness(cluster):
    """A key and a long-lived connection that must survive every bad client."""
    client = cluster.redis("n1")
    client.set("witness", "still here")
    yield client
    assert client.get("witness") == b"still here"


@pytest.mark.parametrize("payload, message", [
    (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length"),
    (b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length"),
    (b"*1\r\n$99999999999\r\n", b"-ERR Protocol error: invalid bulk length"),
    (b"*99999999\r\n", b"-ERR Protocol error: invalid multibulk length"),
    (b"*2\r\n$3\r\nGET\r\n:5\r\n", b"-ERR Protocol error: expected '$', got ':'"),
    (b"*1\r\n$3\r\nGETXX\r\n", b"-ERR Protocol error: invalid bulk terminator"),
    (b'SET "unbalanced v\r\n', b"-ERR Protocol error: unbalanced quotes"),
    (b"\x00\xff" * 40000, b"-ERR Protocol error: too big inline request"),
])
def test_malformed_resp_closes_only_that_connection(cluster, witness, payload, message):
    answer = raw_exchange(cluster, "n1", payload, close_expected=True)
    assert answer.startswith(message)
    assert witness.get("witness") == b"still here"
    assert cluster.redis("n1").ping()


def test_truncated_frame_then_close_harms_nothing(cluster, witness):
    a = cluster.address("n1")
    with socket.create_connection((a.host, a.resp_port), timeout=5) as s:
        s.sendall(b"*3\r\n$3\r\nSET\r\n$9\r\ntruncated\r\n$100\r\nonly-part")
    assert witness.get("truncated") is None
    assert witness.get("witness") == b"still here"


def test_inline_commands_work(cluster):
    answer = raw_exchange(cluster, "n2", b"PING\r\n", close_expected=False)
    assert answer == b"+PONG\r\n"
    answer = raw_exchange(cluster, "n2", b'SET inline "two words"\r\n', close_expected=False)
    assert answer == b"+OK\r\n"
    assert cluster.redis("n3").get("inline") == b"two words"


def test_binary_garbage_in_multibulk_args_is_just_data(cluster):
    key, value = bytes(range(256)), b"\r\n\x00*$" * 100
    r = cluster.redis("n3")
    assert r.set(key, value)
    assert cluster.redis("n1").get(key) == value


def test_oversized_value_is_refused_and_nothing_written(tmp_path):
    from .cluster import ProcessCluster
    c = ProcessCluster(tmp_path, max_value_bytes=1024, max_key_bytes=64).start()
    try:
        r = c.redis("n1")
        with pytest.raises(redis.ResponseError, match="too large"):
            r.set("big", b"x" * 1025)
        with pytest.raises(redis.ResponseError, match="too large"):
            r.set("k" * 65, b"x")
        # far over the limit: skipped without being buffered, the connection lives on
        with pytest.raises(redis.ResponseError, match="too large"):
            r.set("huge", b"y" * (4 * 1024 * 1024))
        assert r.get("big") is None and r.get("huge") is None
        assert r.set("small", b"x" * 1024) and c.redis("n2").get("small") == b"x" * 1024
        req = urllib.request.Request(c.http("n2") + "/v1/kv/default/big", data=b"z" * 5000,
                                     method="PUT")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 413
        assert r.get("big") is None
    finally:
        c.close()


def test_unknown_keyspace_over_http(cluster):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(cluster.http("n1") + "/v1/kv/nope/k", timeout=5)
    assert err.value.code == 404
    assert b"unknown keyspace" in err.value.read()


def test_bad_consistency_parameter(cluster):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(cluster.http("n1") + "/v1/kv/default/k?consistency=MOST",
                               timeout=5)
    assert err.value.code == 400
    with pytest.raises(redis.ResponseError, match="unknown consistency level"):
        cluster.redis("n1").execute_command("QKV.CONSISTENCY", "MOST")
