"""Session tokens: a client reads its own writes at ONE through a lagging replica."""

import urllib.request

import pytest
import redis

from .cluster import ProcessCluster


def stamp(token) -> int:
    """The timestamp part of a session token (``<hex>.<acks>``)."""
    text = token.decode() if isinstance(token, bytes) else token
    return int(text.partition(".")[0], 16)


@pytest.fixture
def no_hints_cluster(tmp_path):
    """Hints off: a replica that was down misses writes until repaired."""
    c = ProcessCluster(tmp_path, max_hints_per_target=0)
    yield c
    c.close()


def lagging_n3(c) -> str:
    """n3 holds "v1" for key s:k while the others hold "v2"; the session token of
    the client that wrote "v2" (through n1, at ONE)."""
    c.redis("n1", consistency="ALL").set("s:k", "v1")
    c.kill("n3")
    c.wait_state("n1", "n3", "down", timeout_s=5)
    writer = c.redis("n1", consistency="ONE")
    assert writer.set("s:k", "v2")
    token = writer.execute_command("QKV.SESSION").decode()
    c.start("n3")
    c.wait_state("n1", "n3", "up", timeout_s=5)
    return token


def test_a_presented_session_reads_its_own_writes_at_one(no_hints_cluster):
    c = no_hints_cluster.start()
    token = lagging_n3(c)
    # without the session, ONE through n3 answers from n3's own stale copy
    assert c.redis("n3", consistency="ONE").get("s:k") == b"v1"
    reader = c.redis("n3", consistency="ONE")
    assert reader.execute_command("QKV.SESSION", token) == b"OK"
    assert reader.get("s:k") == b"v2"
    # the token moved on past what this read saw, and never goes back
    assert stamp(reader.execute_command("QKV.SESSION")) >= stamp(token)
    reader.execute_command("QKV.SESSION", "1")
    assert stamp(reader.execute_command("QKV.SESSION")) >= stamp(token)


def test_the_session_header_does_the_same_over_http(no_hints_cluster):
    c = no_hints_cluster.start()
    token = lagging_n3(c)
    url = c.http("n3") + "/v1/kv/default/s:k?consistency=ONE"
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.read() == b"v1"
    with urllib.request.urlopen(urllib.request.Request(
            url, headers={"X-QKV-Session": token}), timeout=5) as r:
        assert r.read() == b"v2"
        assert stamp(r.headers["X-QKV-Session"]) >= stamp(token)


def test_a_bad_token_is_refused(cluster):
    r = cluster.redis("n1")
    with pytest.raises(redis.ResponseError) as err:
        r.execute_command("QKV.SESSION", "not-hex")
    assert "invalid session token 'not-hex'" in str(err.value)


def test_the_python_client_carries_its_session_across_nodes(no_hints_cluster):
    from quorumkv.client import Client

    c = no_hints_cluster.start()
    c.redis("n1", consistency="ALL").set("s:k", "v1")
    c.kill("n3")
    c.wait_state("n1", "n3", "down", timeout_s=5)
    a = c.address("n1")
    with Client([f"{a.host}:{a.resp_port}"], consistency="ONE") as writer:
        assert writer.set("s:k", "v2")
        token = writer.session_token
    assert token and stamp(token) > 0
    c.start("n3")
    c.wait_state("n1", "n3", "up", timeout_s=5)
    b = c.address("n3")
    with Client([f"{b.host}:{b.resp_port}"], consistency="ONE", session=False) as plain:
        assert plain.get("s:k") == b"v1"  # n3's own stale copy
    with Client([f"{b.host}:{b.resp_port}"], consistency="ONE",
                session_token=token) as reader:
        assert reader.get("s:k") == b"v2"


def test_a_digest_naming_a_newer_write_fetches_its_value_and_repairs(no_hints_cluster):
    """QUORUM through n1, which is stale: n1 reads its own copy and asks one peer
    for a digest only; the digest names a newer write, so the read fetches the
    value from that peer, answers it, and repairs n1."""
    c = no_hints_cluster.start()
    c.redis("n1").set("dg:k", "v1")
    c.kill("n1")
    c.wait_state("n2", "n1", "down", timeout_s=5)
    assert c.redis("n2").set("dg:k", "v2")
    c.start("n1")
    c.wait_state("n1", "n2", "up", timeout_s=5)
    c.wait_state("n1", "n3", "up", timeout_s=5)
    assert c.redis("n1", consistency="ONE").get("dg:k") == b"v1"  # n1's stale copy
    r = c.redis("n1", consistency="QUORUM")
    r.execute_command("QKV.RECEIPT", "ON")
    assert r.get("dg:k") == b"v2"
    import json
    (receipt,) = json.loads(r.execute_command("QKV.RECEIPT"))
    assert receipt["read_repaired"] == ["n1"]
    assert c.redis("n1", consistency="ONE").get("dg:k") == b"v2"
