"""The deterministic simulation tier: 200 seeds of random operations and faults
over two keyspaces at once (hash-partitioned ``default``, range-partitioned
``users``), replayable one by one with ``python -m quorumkv.sim --seed N``."""

import pytest

from quorumkv.core.consistency import Level
from quorumkv.sim import simulate
from quorumkv.sim.cluster import KEYSPACES
from quorumkv.sim.run import KEYS

SEEDS = range(200)


@pytest.mark.parametrize("seed", SEEDS)
def test_seed(seed):
    result = simulate(seed)
    assert result.ok, (f"seed {seed} violated: {result.violations}\n"
                       f"replay: python -m quorumkv.sim --seed {seed}")
    acknowledged = sum(1 for op in result.ops if op.ok)
    assert acknowledged > len(result.ops) // 3  # the faults leave the cluster usable
    assert {op.keyspace for op in result.ops if op.ok} == set(KEYS)  # both in use


def test_the_workload_spans_a_hash_and_a_range_keyspace_across_its_split_points():
    """The range keyspace's keys fall in each of its three ranges (a-k / l-q /
    r-z), so operations cross its split points; the hash keyspace is spread too."""
    from quorumkv.sim.cluster import sim_config
    from quorumkv.node.node import build_range_map
    ranges = build_range_map(sim_config())
    assert [(k.name, k.partitioner) for k in KEYSPACES] == [("default", "hash"),
                                                              ("users", "range")]
    for name, keys in KEYS.items():
        ks = ranges.keyspaces[name]
        hit = {ranges.lookup(name, ks.placement_key(k)).range_id for k in keys}
        assert hit == {r.range_id for r in ranges.ranges(name)}, name


def test_a_seed_replays_exactly():
    a, b = simulate(7, trace=True), simulate(7, trace=True)
    assert a.trace == b.trace and len(a.trace) > 100


def test_a_seed_does_not_depend_on_the_real_clock(monkeypatch):
    """Every part reads the simulation's clock: a run whose real monotonic clock
    stands still and one where it leaps a minute per reading trace alike (a part
    that measured real time, as anti-entropy's log durations once did, made the
    replay above fail only when the machine was slow)."""
    import time as real_time
    monkeypatch.setattr(real_time, "monotonic", lambda: 0.0)
    still = simulate(7, trace=True).trace
    ticks = iter(range(10**9))
    monkeypatch.setattr(real_time, "monotonic", lambda: 60.0 * next(ticks))
    leaping = simulate(7, trace=True).trace
    assert still == leaping


def test_the_checkers_catch_a_quorum_acknowledged_after_one_ack(monkeypatch):
    """Inject the bug: QUORUM needs one answer. Some seed must then lose an
    acknowledged write or serve a stale QUORUM read, on each keyspace."""
    real = Level.required

    def buggy(self, replicas):
        return 1 if self is Level.QUORUM else real(self, replicas)

    monkeypatch.setattr(Level, "required", buggy)
    violations = [v for s in range(60) for v in simulate(s).violations]
    for keyspace in KEYS:
        assert any(v.startswith(f"{keyspace}: ") for v in violations), \
            f"no seed noticed QUORUM writes acknowledged after one ack on {keyspace}"
