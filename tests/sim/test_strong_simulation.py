"""The deterministic simulation of a strong keyspace (sim/strong.py): 300 seeds of
Get / Set / Cas / Incr through random nodes' StrongReplicators under faults, each
checked for linearizability per key, INCR totals and the Raft invariants seen from
the hosts; replayable with ``python -m quorumkv.sim --strong --seed N``."""

import pytest

from quorumkv.node.node import build_range_map
from quorumkv.sim import linearizability as lin
from quorumkv.sim.cluster import sim_config
from quorumkv.sim.strong import (COUNTERS, KEYSPACE, KEYSPACES, REGISTERS,
                                 simulate_strong)

SEEDS = range(300)
BUG_SEEDS = 30  # an injected bug must be caught within this many seeds


@pytest.mark.parametrize("seed", SEEDS)
def test_strong_seed(seed):
    result = simulate_strong(seed)
    assert result.ok, result.report()
    assert result.verdict == lin.LINEARIZABLE, result.explanation  # not "unknown"
    acknowledged = sum(1 for op in result.ops if op.status == "ok")
    assert acknowledged > len(result.ops) // 2  # the faults leave the cluster usable
    assert {op.f for op in result.ops if op.status == "ok"} >= {"read", "write", "incr"}


def test_the_keys_span_both_ranges_of_the_strong_keyspace():
    ranges = build_range_map(sim_config(keyspaces=KEYSPACES))
    ks = ranges.keyspaces[KEYSPACE]
    assert ks.mode == "strong"
    every = {r.range_id for r in ranges.ranges(KEYSPACE)}
    for keys in (REGISTERS, COUNTERS):
        assert {ranges.lookup(KEYSPACE, ks.placement_key(k)).range_id for k in keys} == every


def test_a_strong_seed_replays_exactly():
    a, b = simulate_strong(7, trace=True), simulate_strong(7, trace=True)
    assert a.trace == b.trace and len(a.trace) > 100
    assert [str(op) for op in a.ops] == [str(op) for op in b.ops]


def test_a_strong_seed_does_not_depend_on_the_real_clock(monkeypatch):
    """Raft's host and every other part read the simulation's clock: a real
    monotonic clock that stands still and one that leaps a minute per reading
    give the same trace."""
    import time as real_time
    monkeypatch.setattr(real_time, "monotonic", lambda: 0.0)
    still = simulate_strong(7, trace=True).trace
    ticks = iter(range(10**9))
    monkeypatch.setattr(real_time, "monotonic", lambda: 60.0 * next(ticks))
    assert simulate_strong(7, trace=True).trace == still


def test_seeds_with_short_logs_install_snapshots(monkeypatch):
    """One seed in three compacts the Raft logs early: followers that fell behind
    (crashed, cut off) catch up from a snapshot, under the same checks."""
    from quorumkv.node.raft.machine import RangeStateMachine
    restored, real = [], RangeStateMachine.restore

    def restore(self, *args):
        restored.append(self)
        return real(self, *args)

    monkeypatch.setattr(RangeStateMachine, "restore", restore)
    for seed in range(1, 30, 3):
        result = simulate_strong(seed)
        assert result.ok, result.report()
    assert restored, "no follower installed a snapshot in 10 short-log seeds"


def test_five_node_seeds_forward_from_nodes_without_a_replica():
    result = simulate_strong(4)  # one seed in five runs 5 nodes
    assert len(result.nodes) == 5 and result.ok, result.report()


def test_writes_without_sessions_apply_at_most_once():
    """Clients without a session (no duplicated frames then: TCP never duplicates
    one). A forwarded write whose link broke was once sent on to another replica,
    and applied twice when the first had proposed it (seed 23: an INCR counted
    twice)."""
    for seed in range(40):
        result = simulate_strong(seed, sessions=False)
        assert result.ok, result.report()


def _first_caught(bug: str):
    for seed in range(BUG_SEEDS):
        result = simulate_strong(seed, bug=bug)
        if not result.ok:
            return result
    return None


def test_the_checker_catches_followers_reading_without_read_index():
    """Inject the bug: a follower answers a read from its own state machine. Some
    seed must then show a stale read that no linearization explains."""
    caught = _first_caught("stale-follower-reads")
    assert caught is not None, f"no seed of {BUG_SEEDS} noticed stale follower reads"
    assert any(v.startswith("(L) not linearizable") for v in caught.violations), \
        caught.report()


def test_the_checker_catches_a_host_that_acks_before_the_fsync():
    """Inject the bug: the Raft log is never synced, so a crash loses entries and
    votes that were acknowledged. Some seed must then lose a write, elect two
    leaders in a term or see a term go back."""
    caught = _first_caught("ack-before-fsync")
    assert caught is not None, f"no seed of {BUG_SEEDS} noticed acks before the fsync"


def test_an_exception_the_node_code_logs_is_a_violation(monkeypatch):
    """The simulated transport once lacked peers(): every metadata refresh raised
    after its first step (logged by the host, the run still linearizable), so
    joins and removals were never reconciled in the simulation. A logged
    exception now fails the run."""
    from quorumkv.sim.network import SimTransport
    monkeypatch.delattr(SimTransport, "peers")
    result = simulate_strong(0)
    assert not result.ok
    assert any(v.startswith("(B) log raft: deferred raft host job failed") and
               "peers" in v for v in result.violations), result.violations
