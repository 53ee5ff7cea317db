"""ReadIndex requests pending on a leader, confirmed in batches by heartbeat rounds.

A linearizable read needs the leader to know it is still the leader *after* the read
arrived: it notes its commit index, sends a heartbeat round, and once a quorum of
voters echoed the round's context, every read of that round may be served as soon as
the state machine has applied the noted index.

Batching: at most one round is in flight. A request that arrives when none is starts
a round at once (``add`` returns True: the leader broadcasts heartbeats carrying
``in_flight_context()``). A request that arrives while a round is in flight waits for
the *next* round, which starts as soon as the in-flight one is confirmed (``confirm``
returns the confirmed requests and starts the next round, whose read index is the
commit index at that moment). Every request of a round shares one heartbeat per
follower; under load a round carries everything that arrived during the previous
round trip. Heartbeats sent by the regular heartbeat tick carry the in-flight round's
context too, so a lost heartbeat or ack does not stall the round.

A round's context is its number (decimal ASCII), never empty: an empty context is a
plain heartbeat. Rounds are numbered for the life of the object, so acks of an old
round never confirm a new one. Each round notes the leader's tick it started at:
with leases, a confirmed round is what the lease is measured from (``beat`` starts
a round with no request for that).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .types import Message


@dataclass
class Round:
    context: bytes
    index: int              # the leader's commit index when the round started
    requests: list[Message]
    started: int            # the leader's tick when it started
    acks: set[str] = field(default_factory=set)


class ReadOnly:
    def __init__(self) -> None:
        self._rounds = 0
        self.in_flight: Round | None = None
        self.waiting: list[Message] = []

    def pending(self) -> int:
        """How many requests wait (in the round in flight or for the next)."""
        in_flight = len(self.in_flight.requests) if self.in_flight else 0
        return in_flight + len(self.waiting)

    def in_flight_context(self) -> bytes:
        return self.in_flight.context if self.in_flight else b""

    def add(self, request: Message, commit: int, self_id: str, now: int) -> bool:
        """Queue ``request``; True if it started a round (send heartbeats now)."""
        if self.in_flight is not None:
            self.waiting.append(request)
            return False
        self._start([request], commit, self_id, now)
        return True

    def beat(self, commit: int, self_id: str, now: int) -> None:
        """Start a round with no request if none is in flight (a lease renewal)."""
        if self.in_flight is None:
            self._start([], commit, self_id, now)

    def _start(self, requests: list[Message], commit: int, self_id: str, now: int) -> None:
        self._rounds += 1
        context = str(self._rounds).encode()
        self.in_flight = Round(context, commit, requests, now, {self_id})

    def ack(self, frm: str, context: bytes) -> set[str] | None:
        """A HEARTBEAT_RESP echoing ``context``: the acks of the round so far, or None
        if it is not the round in flight."""
        round_ = self.in_flight
        if round_ is None or context != round_.context:
            return None
        round_.acks.add(frm)
        return round_.acks

    def confirm(self, commit: int, self_id: str, now: int) -> tuple[Round, bool]:
        """The round in flight has a quorum: the round, and whether a next round
        started for the waiting requests."""
        done = self.in_flight
        assert done is not None, "confirming without a round in flight"
        self.in_flight = None
        started = False
        if self.waiting:
            self._start(self.waiting, commit, self_id, now)
            self.waiting = []
            started = True
        return done, started

    def reset(self) -> list[Message]:
        """Forget every request (the node is no longer leader); returns them."""
        dropped = (self.in_flight.requests if self.in_flight else []) + self.waiting
        self.in_flight = None
        self.waiting = []
        return dropped
