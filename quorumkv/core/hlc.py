"""Hybrid logical clock (Kulkarni et al.).

A timestamp is one integer: ``wall_ms << 16 | logical``. It never goes backwards on
a node, stays close to physical time, and after ``observe(remote)`` is larger than
anything the node has seen, so a write that follows a read is ordered after it.
The physical clock is passed in by the caller; this module never reads a clock.
"""

from __future__ import annotations

LOGICAL_BITS = 16
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1


def pack(wall_ms: int, logical: int) -> int:
    return (wall_ms << LOGICAL_BITS) | logical


def wall_ms_of(ts: int) -> int:
    return ts >> LOGICAL_BITS


def ahead_by_ms(remote_ts: int, physical_ms: int) -> int:
    """How far ``remote_ts`` is ahead of the local physical clock (<= 0: not ahead).
    A peer whose clock runs ahead by more than the tolerated skew must not have its
    timestamps accepted: LWW would let its writes beat newer ones, and observing
    them would drag this node's clock along."""
    return wall_ms_of(remote_ts) - physical_ms


def beyond_skew(remote_ts: int, physical_ms: int, max_skew_ms: int) -> int:
    """The clock-skew rule, the one place it is written: how far ``remote_ts`` is
    ahead of the local clock if that is more than ``max_skew_ms``
    (``node.max_clock_skew_ms``), else 0. A replica refuses such a write; a
    coordinator ignores such an answer and does not observe such a timestamp."""
    ahead = wall_ms_of(remote_ts) - physical_ms
    return ahead if ahead > max_skew_ms else 0


class HLC:
    __slots__ = ("_last",)

    def __init__(self, last: int = 0) -> None:
        self._last = last

    @property
    def last(self) -> int:
        return self._last

    def now(self, physical_ms: int) -> int:
        """A fresh timestamp for a local event, greater than every earlier one."""
        candidate = pack(physical_ms, 0)
        self._last = candidate if candidate > self._last else self._last + 1
        return self._last

    def observe(self, remote_ts: int, physical_ms: int) -> int:
        """Merge a timestamp seen in a message; returns the new local time."""
        candidate = max(pack(physical_ms, 0), remote_ts, self._last)
        self._last = candidate + 1 if candidate in (remote_ts, self._last) else candidate
        return self._last
