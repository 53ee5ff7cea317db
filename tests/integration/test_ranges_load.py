"""Per-range load and size on a real cluster: a skewed load on one range of the
a-k / l-q / r-z keyspace makes that range the hotspot in ``quorumkv ranges``,
``GET /v1/ranges`` and the per-range Prometheus counters."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import redis

from quorumkv.config import KeyspaceSettings

from .cluster import ProcessCluster

HOT = 600    # writes, then reads, of keys starting with "m" (range [l, r))
COLD = 20    # writes of keys starting with "a" (range [ , l))
SIZE_WAIT_S = 20.0


@pytest.fixture(scope="module")
def users_cluster(tmp_path_factory):
    users = KeyspaceSettings("users", partitioner="range", split_points=("l", "r"), db=1)
    c = ProcessCluster(tmp_path_factory.mktemp("ranges"), keyspaces=(users,),
                       range_stats_interval_ms=500).start()
    yield c
    c.close()


def http(c, node: str) -> str:
    a = c.address(node)
    return f"http://{a.host}:{a.http_port}"


def ranges_json(c, node: str, query: str = "") -> dict:
    with urllib.request.urlopen(f"{http(c, node)}/v1/ranges{query}", timeout=10) as reply:
        return json.loads(reply.read())


def test_the_range_under_load_is_first_and_its_counts_are_exact(users_cluster):
    c = users_cluster
    with redis.Redis(port=c.address("n1").resp_port, db=1, socket_timeout=10) as r:
        pipe = r.pipeline(transaction=False)
        for i in range(HOT):
            pipe.set(f"m{i:04d}", "v")
        for i in range(COLD):
            pipe.set(f"a{i:04d}", "v")
        assert all(pipe.execute())
        pipe = r.pipeline(transaction=False)
        for i in range(HOT):
            pipe.get(f"m{i:04d}")
        assert pipe.execute() == [b"v"] * HOT

    view = ranges_json(c, "n2", "?keyspace=users&sort=load")  # any node has the view
    assert view["unanswered"] == []
    rows = view["ranges"]
    assert [(bytes.fromhex(r["start"]), bytes.fromhex(r["end"])) for r in rows][0] == \
        (b"l", b"r")
    by_start = {bytes.fromhex(r["start"]): r for r in rows}
    hot, cold, idle = by_start[b"l"], by_start[b""], by_start[b"r"]
    # counted once each, by n1, the node that coordinated them
    assert (hot["reads"], hot["writes"]) == (HOT, HOT)
    assert (cold["reads"], cold["writes"]) == (0, COLD)
    assert (idle["reads"], idle["writes"]) == (0, 0)
    assert hot["reads_per_s"] > 0 and hot["writes_per_s"] > cold["writes_per_s"] > 0

    out = subprocess.run([sys.executable, "-m", "quorumkv", "ranges", "--http", http(c, "n3"),
                          "--keyspace", "users", "--sort", "load"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["Keyspace", "Range", "Bounds"]
    assert lines[1].split()[:4] == ["users", str(hot["range_id"]), "[l,", "r)"]

    with urllib.request.urlopen(f"{http(c, 'n1')}/metrics", timeout=10) as reply:
        metrics = reply.read().decode()
    assert (f'qkv_range_writes_total{{keyspace="users",range="{hot["range_id"]}"}} '
            f'{float(HOT)}') in metrics


def test_sizes_show_the_entries_each_range_stores(users_cluster):
    c = users_cluster
    with redis.Redis(port=c.address("n2").resp_port, db=1, socket_timeout=10) as r:
        pipe = r.pipeline(transaction=False)
        for i in range(50):
            pipe.set(f"z{i:04d}", "x" * 1000)  # more bytes than [l, r) holds
        assert all(pipe.execute())
    deadline = time.monotonic() + SIZE_WAIT_S  # sizes are counted every 0.5 s here
    while True:
        rows = ranges_json(c, "n1", "?keyspace=users&sort=size")["ranges"]
        by_start = {bytes.fromhex(r["start"]): r for r in rows}
        if by_start[b"r"]["keys"] == 50 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert by_start[b"r"]["keys"] == 50 and by_start[b"r"]["bytes"] > 50 * 1000
    assert rows[0]["start"] == b"r".hex()  # largest first
    assert sorted(by_start[b"r"]["sized_by"]) == ["n1", "n2", "n3"]  # rf 3: every replica


def test_bad_queries_are_refused_clearly(users_cluster):
    c = users_cluster
    for query, status, words in (("?keyspace=nope", 404, "unknown keyspace 'nope'"),
                                 ("?sort=heat", 400, "sort must be one of")):
        with pytest.raises(urllib.error.HTTPError) as err:
            ranges_json(c, "n1", query)
        assert err.value.code == status
        assert words in json.loads(err.value.read())["error"]
    out = subprocess.run([sys.executable, "-m", "quorumkv", "ranges", "--http", http(c, "n1"),
                          "--keyspace", "nope"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "unknown keyspace 'nope'" in out.stderr
