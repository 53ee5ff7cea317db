"""Build this node's Raft groups: one per range of a strong keyspace it replicates.

A range that has never had a group here starts from its descriptor: its voters are
the descriptor's replicas, written as the group's first conf state before the
RawNode reads it (every replica starts the same group from the same descriptor
generation, as etcd members start from one initial cluster). A range with a stored
group restarts from its log, hard state and applied index.
"""

from __future__ import annotations

import asyncio

from ...core.raft.rawnode import RawNode
from ...core.raft.types import Config, ConfState
from ...storage.raftlog import RaftLogStore
from .host import Group, RaftHost
from .machine import RangeStateMachine
from .status import RaftStatus
from .strong import StrongReplicator, StrongService
from ...core import messages as m

STRONG = "strong"


class StrongReplicators(dict):
    """Strong keyspace name -> its :class:`StrongReplicator` on this node."""


def raft_config(settings, node_id: str, applied: int) -> Config:
    return Config(id=node_id, election_ticks=settings.raft_election_ticks,
                  heartbeat_ticks=settings.raft_heartbeat_ticks, applied=applied)


def build_raft(settings, node_id: str, ranges, storage, transport, clock_ms, rng,
               monotonic_s, metrics=None):
    """``(host, replicators by keyspace name)``; the host's handlers are registered
    on ``transport``; the host counts into ``metrics`` (node.metrics.RaftMetrics)."""
    engine = storage.engine
    store = RaftLogStore(engine)
    host = RaftHost(node_id, store, engine, transport, monotonic_s, metrics)
    replicators = StrongReplicators()
    fresh = []
    for ks in ranges.keyspaces.values():
        if ks.mode != STRONG:
            continue
        replicators[ks.name] = StrongReplicator(node_id, ks, ranges, host, transport,
                                                clock_ms, settings.request_timeout_ms / 1000)
        for descriptor in ranges.ranges(ks.name):
            if node_id in descriptor.replicas:
                fresh += _open(host, store, settings, node_id, ks, descriptor, rng)
    if fresh:  # first conf states of new groups: durable before any RawNode reads them
        batch = store.write_batch()
        for group_id, voters in fresh:
            batch.set_conf_state(group_id, ConfState(voters=frozenset(voters)))
        store.commit(batch, sync=True)
        for group_id, _voters in fresh:
            host.groups[group_id].node = _rawnode(host, store, settings, node_id, group_id,
                                                  rng)
    service = StrongService(host, replicators)
    transport.handle(m.StrongRequest, service.on_requests)
    RaftStatus(node_id, host, ranges).register(transport)
    return host, replicators


def _open(host, store, settings, node_id, ks, descriptor, rng) -> list:
    machine = RangeStateMachine(store.engine, ks, descriptor, settings.max_value_bytes)
    group_id = descriptor.range_id
    known = group_id in store.groups()
    group = Group(group_id, None, store.group(group_id), machine,
                  applied=machine.applied_index())
    host.add(group)
    if known:
        group.node = _rawnode(host, store, settings, node_id, group_id, rng)
        return []
    return [(group_id, descriptor.replicas)]


def _rawnode(host, store, settings, node_id, group_id, rng) -> RawNode:
    group = host.groups[group_id]
    log = store.group(group_id)
    group.log = log
    return RawNode(raft_config(settings, node_id, group.applied), log, rng)


async def run_ticks(host: RaftHost, tick_s: float, leader_alive) -> None:
    """Tick every group each ``tick_s``; a quiet group is left alone while its
    leader's node is alive (``leader_alive(node_id)``, the node heartbeats)."""
    while True:
        await asyncio.sleep(tick_s)
        host.tick(leader_alive)
