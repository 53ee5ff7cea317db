"""The strong ranges of ``quorumkv status`` and the ``qkv_raft_*`` metrics.

The merge (core/raftstatus.py) against hand-made node views: the leader that
claims the highest term speaks for the range, each replica for its own applied
index, the leader for every replica's match; what nobody said is None. The table
fits 80 columns and shows "?" for the unknown. Then over three real Raft hosts
(test_raft_host's harness): the merged view after writes shows one leader per
range and every replica caught up, and the host's counters agree with what
happened.
"""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from quorumkv.cli.status import format_status, format_strong_ranges
from quorumkv.core import messages as m
from quorumkv.core.raftstatus import merge_groups
from quorumkv.core.strong import commands as c
from quorumkv.node.node import build_range_map
from quorumkv.node.raft.status import RaftStatus, from_wire, to_wire

from .test_raft_host import NODES, Cluster, run
from .test_transport import until


def row(node_id, role, term, commit, applied, progress=None, range_id=5, leader=""):
    return {"node_id": node_id, "range_id": range_id, "keyspace": "locks", "start": "",
            "end": "80", "replicas": ["n1", "n2", "n3"], "role": role, "term": term,
            "leader": leader, "commit": commit, "applied": applied,
            "progress": progress or {}}


def progress(**matches):
    return {peer: {"match": match, "next": match + 1, "state": "replicate"}
            for peer, match in matches.items()}


def test_the_leader_of_the_highest_term_speaks_for_the_range():
    views = [[row("n1", "leader", 3, 9, 9, progress(n1=9, n2=8, n3=4), leader="n1")],
             [row("n2", "follower", 3, 9, 7, leader="n1")],
             # an old leader cut off since term 2 still believes it leads
             [row("n3", "leader", 2, 4, 4, progress(n1=4, n2=4, n3=4), leader="n3")]]
    (merged,) = merge_groups(views)
    assert (merged["leader"], merged["term"], merged["commit"], merged["applied"]) == \
        ("n1", 3, 9, 9)
    assert [(r["id"], r["role"], r["applied"], r["match"]) for r in merged["replicas"]] == [
        ("n1", "leader", 9, 9), ("n2", "follower", 7, 8), ("n3", "leader", 4, 4)]


def test_without_a_leader_matches_and_commit_are_unknown():
    views = [[row("n1", "candidate", 4, 9, 9), row("n1", "follower", 1, 1, 1, range_id=6)],
             [row("n2", "follower", 3, 8, 8)]]  # n3 did not answer
    merged = merge_groups(views)
    assert [r["range_id"] for r in merged] == [5, 6]
    first = merged[0]
    assert (first["leader"], first["term"], first["commit"]) == (None, 4, None)
    assert [(r["id"], r["applied"], r["match"]) for r in first["replicas"]] == [
        ("n1", 9, None), ("n2", 8, None), ("n3", None, None)]


def test_a_member_the_descriptor_does_not_name_yet_is_shown():
    views = [[row("n1", "leader", 2, 3, 3, progress(n1=3, n2=3, n3=3, n4=1), leader="n1")]]
    (merged,) = merge_groups(views)
    assert [r["id"] for r in merged["replicas"]] == ["n1", "n2", "n3", "n4"]
    assert merged["replicas"][3]["match"] == 1 and merged["replicas"][3]["role"] is None


def test_the_table_fits_80_columns_and_marks_the_unknown():
    views = [[row("node-1", "leader", 12345, 9_999_999, 9_999_999,
                  progress(**{"node-1": 9_999_999, "node-2": 9_999_998}), leader="node-1")],
             [row("node-2", "follower", 12345, 9_999_999, 9_999_990)]]
    for r in views[0] + views[1]:
        r["replicas"] = ["node-1", "node-2", "node-3"]
    lines = format_strong_ranges(merge_groups(views), ["node-3"])
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert lines[2].split() == ["Keyspace", "Range", "Leader", "Term", "Commit", "Replica",
                                "Role", "Applied", "Match"]
    assert lines[3].split() == ["locks", "5", "node-1", "12345", "9999999", "node-1",
                                "leader", "9999999", "9999999"]
    assert lines[4].split() == ["node-2", "follower", "9999990", "9999998"]
    assert lines[5].split() == ["node-3", "?", "?", "?"]
    assert lines[-1] == "Not answering (their replicas show ?): node-3"


def test_status_prints_strong_ranges_only_when_there_are_some():
    status = {"node_id": "n1", "nodes": [], "keyspaces": [], "range_map": {}}
    assert "Strong ranges" not in format_status(status)
    status["strong_ranges"] = merge_groups([[row("n1", "follower", 1, 0, 0)]])
    text = format_status(status)
    assert "Strong ranges (1)" in text and "locks" in text.split("Strong ranges")[1]


def test_rows_travel_between_nodes_and_bad_ones_are_refused():
    local = row("n2", "leader", 3, 9, 9, progress(n1=9, n2=9, n3=4), leader="n2")
    reply = m.RaftStatusReply("n2", (to_wire(local),))
    _req, back = m.decode_body(msgpack.unpackb(m.encode(-7, reply), raw=False))
    assert back == reply
    wanted = {k: local[k] for k in ("node_id", "range_id", "role", "term", "leader",
                                    "commit", "applied", "progress")}
    assert from_wire("n2", back.rows[0]) == wanted
    bad = [-7, m.RaftStatusReply.TAG, "n2", [[5, "leader", "3", "n2", 9, 9, []]]]
    with pytest.raises(m.DecodeError):
        m.decode_body(bad)
    bad = [-7, m.RaftStatusReply.TAG, "n2", [[5, "leader", 3, "n2", 9, 9, [["n1", 9]]]]]
    with pytest.raises(m.DecodeError):
        m.decode_body(bad)


# ---- over three real hosts -------------------------------------------------------------

WRITES = 10


def merged_view(cluster: Cluster):
    """The strong ranges as n1's ``/v1/cluster`` would merge them."""
    status = RaftStatus("n1", cluster.hosts["n1"], build_range_map(cluster.cfg))
    return status.cluster_rows(cluster.transports["n1"], ["n2", "n3"])


def caught_up(ranges: list[dict]) -> bool:
    return all(r["leader"] and all(p["applied"] == r["commit"] and p["match"] == r["commit"]
                                   for p in r["replicas"]) for r in ranges)


def test_the_merged_view_shows_one_leader_per_range_and_every_replica_applied(tmp_path):
    async def scenario(cluster: Cluster):
        r1 = cluster.replicators["n1"]
        for i in range(WRITES):
            await r1.execute(c.Set(b"key%d" % i, b"v"))
        latest = []

        async def poll():  # bounded by run()'s deadline
            while True:
                latest[:] = [await merged_view(cluster)]
                if caught_up(latest[0][0]):
                    return
                await asyncio.sleep(0.01)
        await poll()
        ranges, missing = latest[0]
        assert missing == []
        assert [(r["keyspace"], r["range_id"]) for r in ranges] == [("locks", 3), ("locks", 4)]
        leaders = {(gid, g.leader) for h in cluster.hosts.values()
                   for gid, g in h.groups.items()}
        assert {(r["range_id"], r["leader"]) for r in ranges} == leaders  # one per range
        # the leaders' empty entries and the writes: every index applied everywhere
        assert sum(r["commit"] for r in ranges) >= WRITES + 2
        for r in ranges:
            assert sorted(p["id"] for p in r["replicas"]) == list(NODES)

    asyncio.run(run(tmp_path, scenario))


def test_the_host_counts_what_happened(tmp_path):
    async def scenario(cluster: Cluster):
        r1, r2 = cluster.replicators["n1"], cluster.replicators["n2"]
        for i in range(WRITES):
            await r1.execute(c.Set(b"{a}%d" % i, b"v"))
        assert (await r2.execute(c.Get(b"{a}1"))).value == b"v"
        hosts = list(cluster.hosts.values())
        await until(lambda: all(g.applied == g.node.raft.log.committed for h in hosts
                                for g in h.groups.values()), "everything applied")
        counts = [h.metrics.group(gid) for h in hosts for gid in h.groups]
        # a proposal is counted on the leader that took it (more only on a retry)
        assert sum(k.proposals for k in counts) >= WRITES
        assert sum(k.read_requests for k in counts) >= 1
        for h in hosts:  # every applied entry counted once: a fresh log starts at 0
            for gid, g in h.groups.items():
                assert h.metrics.group(gid).commits == g.applied > 0
                assert h.metrics.group(gid).leader_changes >= 1
        for h in hosts:  # each applied and synced at least once (a leader's empty entry)
            assert sum(h.metrics.apply.buckets) >= 1 and sum(h.metrics.fsync.buckets) >= 1
        rafts = [g.node.raft for h in hosts for g in h.groups.values()]
        assert sum(r.campaigns for r in rafts) >= 2  # someone campaigned in each group
        assert sum(r.read_rounds for r in rafts) >= 1  # the read's heartbeat round
        text = scrape(cluster.hosts["n1"])
        for name in ("qkv_raft_proposals_total", "qkv_raft_commits_total",
                     "qkv_raft_elections_total", "qkv_raft_leader_changes_total",
                     "qkv_raft_read_index_batches_total",
                     "qkv_raft_read_index_requests_total", "qkv_raft_turns_total",
                     "qkv_raft_groups", "qkv_raft_quiet_groups",
                     "qkv_raft_apply_seconds_count", "qkv_raft_fsync_seconds_count"):
            assert f"\n{name}" in text, name
        assert 'qkv_raft_commits_total{keyspace="locks",range="3"}' in text
        assert "\nqkv_raft_groups 2.0\n" in text
        turns = float(text.split("\nqkv_raft_turns_total ")[1].split()[0])
        assert turns == cluster.hosts["n1"].turns > 0

    asyncio.run(run(tmp_path, scenario))


def scrape(host) -> str:
    registry = CollectorRegistry()
    registry.register(host.metrics)
    return "\n" + generate_latest(registry).decode()
