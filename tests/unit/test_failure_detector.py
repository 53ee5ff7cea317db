"""The phi-accrual failure detector (core/failure.py)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quorumkv.core.failure import FailureDetector, Liveness


def steady(detector: FailureDetector, peer: str, interval: float, beats: int,
           start: float = 0.0) -> float:
    t = start
    for _ in range(beats):
        detector.heartbeat(peer, t)
        t += interval
    return t - interval  # time of the last beat


def test_a_peer_never_heard_from_is_down():
    d = FailureDetector(100)
    assert d.phi("n2", 0) == math.inf
    assert d.liveness("n2", 0) is Liveness.DOWN


def test_regular_heartbeats_keep_a_peer_up():
    d = FailureDetector(100)
    last = steady(d, "n2", 100, 50)
    assert d.liveness("n2", last + 100) is Liveness.UP
    assert d.phi("n2", last + 100) < 1


def test_silence_makes_a_peer_suspect_then_down():
    d = FailureDetector(100, suspect_phi=5, down_phi=8)
    last = steady(d, "n2", 100, 50)
    # exponential model: phi = silence / (mean * ln 10)
    assert d.liveness("n2", last + 100 * math.log(10) * 4.9) is Liveness.UP
    assert d.liveness("n2", last + 100 * math.log(10) * 5.1) is Liveness.SUSPECT
    assert d.liveness("n2", last + 100 * math.log(10) * 8.1) is Liveness.DOWN
    d.heartbeat("n2", last + 100 * math.log(10) * 9)  # it answers again
    assert d.liveness("n2", last + 100 * math.log(10) * 9 + 100) is Liveness.UP


def test_a_slow_peer_is_judged_by_its_own_pace():
    d = FailureDetector(100)
    last = steady(d, "slow", 1000, 50)  # answers every second
    assert d.liveness("slow", last + 5000) is Liveness.UP  # 5 s is normal for it
    fast_last = steady(d, "fast", 100, 50)
    assert d.liveness("fast", fast_last + 5000) is Liveness.DOWN


def test_quick_bursts_do_not_make_one_late_answer_a_failure():
    d = FailureDetector(100)  # the mean never drops below the expected interval
    last = steady(d, "n2", 1, 100)
    assert d.liveness("n2", last + 500) is Liveness.UP


def test_forget_starts_over():
    d = FailureDetector(100)
    steady(d, "n2", 100, 10)
    d.forget("n2")
    assert d.liveness("n2", 1000) is Liveness.DOWN


def test_thresholds_are_checked():
    with pytest.raises(ValueError):
        FailureDetector(100, suspect_phi=9, down_phi=8)


@given(st.lists(st.floats(1, 10_000), min_size=1, max_size=200), st.floats(0, 1e6),
       st.floats(0, 1e6))
def test_phi_grows_with_silence(intervals, a, b):
    d = FailureDetector(100)
    t = 0.0
    d.heartbeat("n2", t)
    for i in intervals:
        t += i
        d.heartbeat("n2", t)
    early, late = sorted((a, b))
    assert 0 <= d.phi("n2", t + early) <= d.phi("n2", t + late)
