"""``quorumkv status`` and ``/metrics`` of a real 3-node cluster with a strong
keyspace (``quorumkv cluster up --keyspace locks:hash:2:strong``).

No client command reaches a strong keyspace yet, so the log entries are the ones
elections write: each new leader's empty entry commits, and every replica must
apply it. What must hold once the groups settle: one leader per strong range,
commit == applied == match on every replica, the table prints it, and each node's
``/metrics`` counts its turns and the elections behind those leaders. Every wait
is bounded by a deadline and polls for its condition.
"""

from __future__ import annotations

import json
import time
import urllib.request

from .test_cli import Launcher, consecutive_free_ports, qkv
from .test_cluster_identity import cluster_up_args

SETTLE_S = 30.0
STRONG_RANGES = (("locks", 17), ("locks", 18))  # after default's 16 ranges


def status_json(http: str) -> dict:
    out = qkv("status", "--json", "--http", http)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def settled(status: dict) -> bool:
    ranges = status.get("strong_ranges") or []
    return len(ranges) == len(STRONG_RANGES) and all(
        r["leader"] and r["commit"] >= 1 and all(
            p["applied"] == r["commit"] and p["match"] == r["commit"] for p in r["replicas"])
        for r in ranges)


def metrics(http_port: int) -> dict[str, float]:
    """The unlabelled samples and, for labelled ones, their sum over labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("qkv_raft_"):
            name, value = line.rsplit(" ", 1)
            name = name.split("{", 1)[0]
            sums[name] = sums.get(name, 0.0) + float(value)
    return sums


def test_status_shows_one_leader_per_strong_range_and_every_replica_applied(tmp_path):
    base = consecutive_free_ports(12)
    data_dir = tmp_path / "data"
    launcher = Launcher(tmp_path, "strong", cluster_up_args(
        base, data_dir, "--nodes", "3", "--keyspace", "locks:hash:2:strong"))
    try:
        launcher.wait_banner(str(data_dir / "cluster.toml"))
        http = f"127.0.0.1:{base + 5}"
        deadline = time.monotonic() + SETTLE_S
        status = status_json(http)
        while not settled(status):
            assert time.monotonic() < deadline, json.dumps(status.get("strong_ranges"))
            time.sleep(0.2)  # polling a condition, not waiting for one to happen
            status = status_json(http)
        ranges = status["strong_ranges"]
        assert [(r["keyspace"], r["range_id"]) for r in ranges] == list(STRONG_RANGES)
        assert status["strong_unanswered"] == []
        for r in ranges:
            roles = sorted(p["role"] for p in r["replicas"])
            assert roles == ["follower", "follower", "leader"], r
            assert [p["id"] for p in r["replicas"] if p["role"] == "leader"] == [r["leader"]]
            assert {p["term"] for p in r["replicas"]} == {r["term"]}

        table = qkv("status", "--http", http)
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        start = lines.index("Strong ranges (2)")
        assert lines[start + 2].split() == ["Keyspace", "Range", "Leader", "Term", "Commit",
                                            "Replica", "Role", "Applied", "Match"]
        first = lines[start + 3].split()
        r = ranges[0]
        assert first[:5] == ["locks", "17", r["leader"], str(r["term"]), str(r["commit"])]
        assert first[6:] == [r["replicas"][0]["role"], str(r["commit"]), str(r["commit"])]
        assert max(len(line) for line in lines[start:]) <= 80

        samples = [metrics(base + 4 + k) for k in (1, 2, 3)]
        for sample in samples:
            assert sample["qkv_raft_groups"] == 3  # two ranges and the metadata group
            assert sample["qkv_raft_turns_total"] > 0
            assert sample["qkv_raft_commits_total"] >= 2  # both groups' leader entries
            assert sample["qkv_raft_leader_changes_total"] >= 2  # a leader learnt in each
            assert sample["qkv_raft_fsync_seconds_count"] > 0
            assert sample["qkv_raft_apply_seconds_count"] > 0
            assert 0 <= sample["qkv_raft_quiet_groups"] <= 3
        # no client wrote: the one proposal is the metadata group's bootstrap (made
        # again only by a leader elected before the first one applied)
        assert 1 <= sum(s["qkv_raft_proposals_total"] for s in samples) <= 3
        # each leader got there by an election it started
        assert sum(s["qkv_raft_elections_total"] for s in samples) >= len(STRONG_RANGES)
        assert launcher.terminate() == 0
    finally:
        launcher.cleanup()
