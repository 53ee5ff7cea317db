"""``quorumkv status``: estimates labelled as such, the hint backlog per node
(summed over the nodes that answer), several ``--http`` addresses with fail-over."""

from __future__ import annotations

import subprocess
import sys

import pytest

from quorumkv.config import KeyspaceSettings

from .cluster import ProcessCluster, free_ports

CLI_TIMEOUT_S = 60.0


def qkv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quorumkv", *args], capture_output=True,
                          text=True, timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)


def status_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        cols = line.split()
        if len(cols) >= 6 and cols[0] in ("UP", "SU", "DN"):
            rows[cols[1]] = cols
    return rows


def test_status_labels_estimates_and_shows_the_hint_backlog(fresh_cluster):
    c = fresh_cluster.start()
    c.kill("n3")
    c.wait_state("n1", "n3", "down", timeout_s=5)
    c.wait_state("n2", "n3", "down", timeout_s=5)
    for node_id, count in (("n1", 12), ("n2", 5)):  # held on two nodes
        r = c.redis(node_id)
        for i in range(count):
            assert r.set(f"st:{node_id}:{i}", i)
    out = qkv("status", "--http", c.http("n1"))
    assert out.returncode == 0, out.stderr
    header = next(line for line in out.stdout.splitlines() if line.strip().startswith("State"))
    assert header.split() == ["State", "ID", "Address", "RESP", "Ranges", "Keys", "Bytes",
                              "Hints", "Phi"]
    rows = status_rows(out.stdout)
    assert rows["n1"][5].startswith("~") and rows["n1"][5][1:].isdigit(), out.stdout
    assert rows["n3"][5] == "?"
    assert rows["n3"][-2] == "17", out.stdout  # Hints: n1's 12 and n2's 5
    assert rows["n1"][-2] == "0"
    assert "Keys, Bytes: RocksDB's estimates (~)" in out.stdout
    assert "held by n1, n2 (n3 did not answer)" in out.stdout


def test_status_falls_over_to_the_next_address_and_fails_clearly_when_all_are_down(cluster):
    dead1, dead2 = free_ports(2)
    out = qkv("status", "--http", f"127.0.0.1:{dead1},{cluster.http('n2')}", "--timeout", "2")
    assert out.returncode == 0, out.stderr
    assert "Cluster as seen by n2" in out.stdout
    assert out.stderr.startswith(f"warning: cannot read http://127.0.0.1:{dead1}/v1/cluster:")
    assert "asked the next address" in out.stderr

    repeated = qkv("status", "--http", f"http://127.0.0.1:{dead1}", "--http",
                   cluster.http("n3"), "--timeout", "2")
    assert repeated.returncode == 0 and "Cluster as seen by n3" in repeated.stdout

    down = qkv("status", "--http", f"http://127.0.0.1:{dead1},http://127.0.0.1:{dead2}",
               "--timeout", "2")
    assert down.returncode == 3, down
    assert down.stderr.startswith("error: no node answered: "), down.stderr
    assert f"127.0.0.1:{dead1}/v1/cluster" in down.stderr
    assert f"127.0.0.1:{dead2}/v1/cluster" in down.stderr
    assert "Traceback" not in down.stderr


@pytest.mark.parametrize("value", ["", ","])
def test_status_with_no_address_is_a_usage_error(value):
    out = qkv("status", "--http", value)
    assert out.returncode == 2 and out.stderr == "error: --http names no address\n"


def test_status_and_v1_cluster_show_every_keyspace(tmp_path):
    users = KeyspaceSettings("users", partitioner="range", split_points=("l", "r"), db=1)
    events = KeyspaceSettings("events", ranges=8, replication_factor=2,
                              default_consistency="ONE")
    c = ProcessCluster(tmp_path, keyspaces=(users, events))
    try:
        c.start()
        view = c.cluster_json("n2")
        assert [(k["name"], k["id"], k["mode"], k["partitioner"], k["replication_factor"],
                 k["ranges"], k["db"]) for k in view["keyspaces"]] == [
            ("default", 1, "eventual", "hash", 3, 16, 0),
            ("users", 2, "eventual", "range", 3, 3, 1),
            ("events", 3, "eventual", "hash", 2, 8, None)]
        ranges = view["range_map"]["ranges"]
        assert len(ranges) == 16 + 3 + 8
        assert len({r["range_id"] for r in ranges}) == len(ranges)
        assert [r["bounds"] for r in ranges if r["keyspace"] == "users"] == \
            ["[, l)", "[l, r)", "[r, )"]
        out = qkv("status", "--http", c.http("n1"))
        assert out.returncode == 0, out.stderr
        table = [line.split() for line in out.stdout.splitlines()
                 if line.split()[:1] in (["Keyspace"], ["default"], ["users"], ["events"])]
        assert table == [
            ["Keyspace", "Id", "Mode", "Partitioner", "RF", "Ranges", "DB", "Consistency"],
            ["default", "1", "eventual", "hash", "3", "16", "0", "QUORUM"],
            ["users", "2", "eventual", "range", "3", "3", "1", "QUORUM"],
            ["events", "3", "eventual", "hash", "2", "8", "-", "ONE"]], out.stdout
        assert "Range map: version 3, 27 ranges" in out.stdout
    finally:
        c.close()
