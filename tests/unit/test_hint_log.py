"""Hinted handoff's log lines: a few per outage and target, never one per hint."""

from __future__ import annotations

import logging

from quorumkv.node.hints import LOG_EVERY_S, HintLog


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "quorumkv.node.hints"]


def test_an_outage_logs_start_summaries_and_done_not_every_hint(caplog):
    caplog.set_level(logging.INFO, logger="quorumkv.node.hints")
    clock = FakeClock()
    hl = HintLog(clock)
    for pending in range(1, 10_001):  # ten thousand hints for n3 in one burst
        hl.on_stored("n3", pending)
    hl.summarise({"n3": 10_000})  # too early: nothing
    assert messages(caplog) == [
        "storing hints for n3: it missed a write (down, unreachable or too slow); "
        "they are delivered once it is up"]

    clock.now += LOG_EVERY_S
    hl.on_delivered("n3", 4000, 6000)
    hl.summarise({"n3": 6000})
    assert messages(caplog)[1:] == [
        f"hints for n3: 10000 stored, 4000 delivered in the last {LOG_EVERY_S:.0f} s; "
        "6000 pending"]

    hl.on_delivered("n3", 6000, 0)
    assert messages(caplog)[2:] == [
        "hints for n3 delivered: 6000 since the last report, none pending"]
    clock.now += LOG_EVERY_S
    hl.summarise({"n3": 0})  # everything was reported already
    assert len(messages(caplog)) == 3


def test_a_flapping_target_is_announced_at_most_once_per_interval(caplog):
    caplog.set_level(logging.INFO, logger="quorumkv.node.hints")
    clock = FakeClock()
    hl = HintLog(clock)
    for _ in range(100):  # one hint, delivered, another, delivered ...
        hl.on_stored("n2", 1)
        hl.on_delivered("n2", 1, 0)
        clock.now += 0.01
    assert len(messages(caplog)) == 2  # one start, one done
    clock.now += LOG_EVERY_S
    hl.summarise({"n2": 0})
    assert messages(caplog)[2:] == [
        f"hints for n2: 99 stored, 99 delivered in the last {LOG_EVERY_S:.0f} s; 0 pending"]
