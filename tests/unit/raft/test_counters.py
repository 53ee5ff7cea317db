"""The two counters the Raft core keeps for the host's metrics: ``campaigns`` (an
election this node started, pre-vote or not) and ``read_rounds`` (a heartbeat
round that confirmed ReadIndex requests; a lease renewal's round confirms none),
over three RawNodes whose messages are delivered in memory."""

from __future__ import annotations

from quorumkv.core.raft.rawnode import RawNode
from quorumkv.core.raft.storage import MemoryStorage
from quorumkv.core.raft.types import Config, ConfState, Role

from .runner import LowEnd

IDS = ("1", "2", "3")
MAX_ROUNDS = 50  # message exchanges until nothing is left to deliver


def group(**options) -> dict[str, tuple[RawNode, MemoryStorage]]:
    nodes = {}
    for node_id in IDS:
        storage = MemoryStorage(ConfState(voters=frozenset(IDS)))
        nodes[node_id] = (RawNode(Config(node_id, **options), storage, LowEnd()), storage)
    return nodes


def settle(nodes) -> list:
    """Persist, deliver and advance until no node has a Ready; the read states."""
    reads = []
    for _ in range(MAX_ROUNDS):
        outbox = []
        for rn, storage in nodes.values():
            if not rn.has_ready():
                continue
            rd = rn.ready()
            storage.append(rd.entries)
            if rd.hard_state is not None:
                storage.set_hard_state(rd.hard_state)
            outbox += rd.messages
            reads += rd.read_states
            rn.advance(rd)
        if not outbox:
            return reads
        for message in outbox:
            nodes[message.to][0].step(message)
    raise AssertionError("the group did not settle")


def test_a_campaign_is_counted_once_on_the_node_that_started_it():
    nodes = group()
    nodes["1"][0].campaign()  # a pre-vote, then the vote: one campaign
    settle(nodes)
    assert nodes["1"][0].raft.role == Role.LEADER
    assert [nodes[i][0].raft.campaigns for i in IDS] == [1, 0, 0]
    nodes["2"][0].campaign()  # refused: the others have a leader
    settle(nodes)
    assert [nodes[i][0].raft.campaigns for i in IDS] == [1, 1, 0]


def test_a_heartbeat_round_confirming_reads_is_counted_on_the_leader():
    nodes = group()
    leader = nodes["1"][0]
    leader.campaign()
    settle(nodes)
    leader.read_index(b"a")
    leader.read_index(b"b")  # waits for the next round: the first is in flight
    reads = settle(nodes)
    assert sorted(r.context for r in reads) == [b"a", b"b"]
    assert leader.raft.read_rounds == 2
    nodes["3"][0].read_index(b"c")  # a follower's read: the leader's round confirms it
    assert [r.context for r in settle(nodes)] == [b"c"]
    assert [nodes[i][0].raft.read_rounds for i in IDS] == [3, 0, 0]


def test_a_lease_renewal_round_is_not_a_read_batch():
    nodes = group(read_only_lease_based=True)
    leader = nodes["1"][0]
    leader.campaign()
    settle(nodes)
    for _ in range(leader.raft.config.heartbeat_ticks):
        leader.tick()  # a beat: a round with no request renews the lease
    settle(nodes)
    assert leader.raft.lease_start is not None and leader.raft.read_rounds == 0
