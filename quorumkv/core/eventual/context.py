"""What every request of one node's eventual core shares."""

from __future__ import annotations

from ..hlc import HLC


class Context:
    """The coordinating node's id, its HLC, the limits, and the truncation notices
    it has sent (``Notices``)."""

    __slots__ = ("me", "hlc", "timeout_ms", "max_skew_ms", "notices")

    def __init__(self, me: str, hlc: HLC, timeout_ms: int, max_skew_ms: int) -> None:
        self.me = me
        self.hlc = hlc
        self.timeout_ms = timeout_ms  # for errors: "timed out after N ms"
        self.max_skew_ms = max_skew_ms
        self.notices = Notices()


class Notices:
    """When to tell a replica that answered with flushed data of the truncation:
    at most once a second per replica and keyspace (hints and anti-entropy bring
    it too, should the notice be lost)."""

    INTERVAL_MS = 1000

    __slots__ = ("_told",)

    def __init__(self) -> None:
        self._told: dict[tuple[str, int], int] = {}  # (node, keyspace id) -> ms told

    def due(self, node: str, keyspace_id: int, now_ms: int) -> bool:
        told = self._told.get((node, keyspace_id))
        if told is not None and now_ms - told < self.INTERVAL_MS:
            return False
        self._told[(node, keyspace_id)] = now_ms
        return True
