"""Phi-accrual failure detection (Hayashibara et al.), as Cassandra uses it.

Each peer answers our heartbeats; the detector keeps the last intervals between
answers and turns the silence since the last one into a suspicion level

    phi = -log10(P(a heartbeat is still to come after this much silence))

Heartbeat intervals are modelled as exponentially distributed with the observed
mean, as in Cassandra, so ``phi = silence / (mean * ln 10)``: phi 1 after about
2.3 mean intervals of silence, phi 8 (Cassandra's default conviction threshold)
after about 18. The mean has a floor, so a burst of quick answers cannot make one
late answer look like a failure. Pure: callers pass the time in.
"""

from __future__ import annotations

import collections
import enum
import math

WINDOW = 100               # intervals kept per peer
LN10 = math.log(10)


class Liveness(enum.Enum):
    UP = "up"
    SUSPECT = "suspect"    # late, still counted as live
    DOWN = "down"          # coordinators stop waiting on it


class _History:
    __slots__ = ("last_ms", "intervals", "total")

    def __init__(self, now_ms: float, first_interval_ms: float) -> None:
        self.last_ms = now_ms
        self.intervals: collections.deque = collections.deque([first_interval_ms])
        self.total = first_interval_ms


class FailureDetector:
    def __init__(self, expected_interval_ms: float, suspect_phi: float = 5.0,
                 down_phi: float = 8.0, min_mean_ms: float | None = None) -> None:
        if not 0 < suspect_phi <= down_phi:
            raise ValueError("need 0 < suspect_phi <= down_phi")
        self.expected_interval_ms = expected_interval_ms
        self.suspect_phi = suspect_phi
        self.down_phi = down_phi
        self.min_mean_ms = expected_interval_ms if min_mean_ms is None else min_mean_ms
        self._peers: dict[str, _History] = {}

    def heartbeat(self, peer: str, now_ms: float) -> None:
        """``peer`` answered at ``now_ms``."""
        history = self._peers.get(peer)
        if history is None:  # first sign of life: assume the expected pace
            self._peers[peer] = _History(now_ms, self.expected_interval_ms)
            return
        interval = max(0.0, now_ms - history.last_ms)
        history.last_ms = max(history.last_ms, now_ms)
        history.intervals.append(interval)
        history.total += interval
        if len(history.intervals) > WINDOW:
            history.total -= history.intervals.popleft()

    def phi(self, peer: str, now_ms: float) -> float:
        """Suspicion of ``peer`` at ``now_ms``; infinite for a peer never heard from."""
        history = self._peers.get(peer)
        if history is None:
            return math.inf
        mean = max(self.min_mean_ms, history.total / len(history.intervals))
        silence = max(0.0, now_ms - history.last_ms)
        return silence / (mean * LN10)

    def liveness(self, peer: str, now_ms: float) -> Liveness:
        phi = self.phi(peer, now_ms)
        if phi >= self.down_phi:
            return Liveness.DOWN
        if phi >= self.suspect_phi:
            return Liveness.SUSPECT
        return Liveness.UP

    def is_down(self, peer: str, now_ms: float) -> bool:
        return self.phi(peer, now_ms) >= self.down_phi

    def forget(self, peer: str) -> None:
        """Drop what is known (a peer that restarted starts a new history)."""
        self._peers.pop(peer, None)
