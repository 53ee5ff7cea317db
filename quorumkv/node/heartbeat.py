"""Heartbeats: ping every peer each interval and feed the answers to the detector.

One ping per peer is in flight at a time; one unanswered for two intervals (at
least a second) is forgotten so a new one can go out (a partition that drops
packets leaves TCP retrying for minutes). A peer whose connection is refused or
reset after answering before is down at once: nothing listens there any more.

Each start of a node has an incarnation (its start time) that its pongs carry.
A peer that answers for the first time, after being held down, or with a new
incarnation (restarted between two pings) is *back*: ``on_back`` callbacks run, so that
what relies on node liveness instead of its own messages -- quiet Raft groups
this node leads send no heartbeats -- can tell it at once (node/raft/host.py).
"""

from __future__ import annotations

import asyncio
import logging

from ..core import messages as m
from ..core.failure import FailureDetector, Liveness
from ..net.transport import PeerUnavailable

log = logging.getLogger(__name__)


class Heartbeats:
    def __init__(self, peers: list[str], transport, detector: FailureDetector,
                 interval_s: float, incarnation: int = 0) -> None:
        self.peers = peers
        self.transport = transport
        self.detector = detector
        self.interval_s = interval_s
        self.loop = asyncio.get_running_loop()
        self._inflight: dict[str, tuple[int, float]] = {}  # peer -> (req_id, sent at)
        self._seen: dict[str, Liveness] = {}
        self._heard: set[str] = set()  # peers that have answered since their last loss
        self._down: set[str] = set()   # the detector's verdict at the last tick
        self._incarnations: dict[str, int] = {}  # peer -> the one it answered with last
        self.incarnation = incarnation
        self.on_back: list = []  # callables of a peer id: it is (back) up
        now = self.now_ms()
        for peer in peers:  # presumed up at start: silence from here on counts
            detector.heartbeat(peer, now)

    def add_peer(self, peer: str) -> None:
        """Ping ``peer`` from now on (a node that joined), presumed up."""
        if peer not in self.peers:
            self.peers.append(peer)
            self.detector.heartbeat(peer, self.now_ms())

    def remove_peer(self, peer: str) -> None:
        """Stop pinging ``peer`` (a node removed from the cluster)."""
        if peer in self.peers:
            self.peers.remove(peer)
        self._inflight.pop(peer, None)
        self._heard.discard(peer)
        self._down.discard(peer)
        self._seen.pop(peer, None)
        self._incarnations.pop(peer, None)
        self.detector.forget(peer)

    def answer_pings(self, node_id: str) -> None:
        """Answer the peers' pings on ``transport``, as ``node_id``."""
        pong = m.Pong(node_id, self.incarnation)
        self.transport.handle(m.Ping, lambda items, channel: [(r, pong) for r, _ in items])

    def now_ms(self) -> float:
        return self.loop.time() * 1000

    async def run(self) -> None:
        give_up_s = max(2 * self.interval_s, 1.0)
        while True:
            now = self.loop.time()
            for peer in self.peers:
                pending = self._inflight.get(peer)
                if pending is not None:
                    if now - pending[1] < give_up_s:
                        continue
                    self.transport.forget(peer, pending[0])
                req_id = self.transport.send_request(
                    peer, m.Ping(), lambda reply, error, p=peer: self._answered(p, reply, error))
                self._inflight[peer] = (req_id, now)
            self._update_verdicts()
            await asyncio.sleep(self.interval_s)

    def _answered(self, peer: str, reply, error) -> None:
        self._inflight.pop(peer, None)
        if error is None and isinstance(reply, m.Pong):
            if peer not in self.peers:
                return  # removed while the ping was out
            self.detector.heartbeat(peer, self.now_ms())
            back = (peer not in self._heard or peer in self._down
                    or self._incarnations.get(peer) != reply.incarnation)
            self._heard.add(peer)
            self._down.discard(peer)
            self._incarnations[peer] = reply.incarnation
            if back:
                for callback in self.on_back:
                    callback(peer)
        elif isinstance(error, PeerUnavailable) and peer in self._heard:
            # it answered before and now nothing listens there (killed, stopped):
            # down now rather than once phi has climbed; its next answer starts a
            # new history. (A peer not heard from yet may still be starting.)
            self._heard.discard(peer)
            self.detector.forget(peer)
            self._down.add(peer)

    def is_down(self, peer: str) -> bool:
        """The verdict as of the last heartbeat tick or answer: coordinators ask on
        every request, so it is a set lookup rather than a phi computation."""
        return peer in self._down

    def is_alive(self, peer: str) -> bool:
        """A peer this node pings and does not hold down; False for one it does
        not ping (removed from the cluster, or not known yet)."""
        return peer not in self._down and peer in self.peers

    def view(self, peer: str) -> tuple[Liveness, float]:
        """State and phi as shown in status: "down" exactly when coordinators treat
        the peer as down (phi may pass the threshold up to a tick earlier)."""
        now = self.now_ms()
        state = self.detector.liveness(peer, now)
        if peer in self._down:
            state = Liveness.DOWN
        elif state is Liveness.DOWN:  # crossed the threshold since the last tick
            state = Liveness.SUSPECT
        return state, self.detector.phi(peer, now)

    def _update_verdicts(self) -> None:
        """The detector's verdicts of this tick into ``is_down``; changes logged."""
        now = self.now_ms()
        for peer in self.peers:
            state = self.detector.liveness(peer, now)
            if state is Liveness.DOWN:
                self._down.add(peer)
            else:
                self._down.discard(peer)
            if self._seen.get(peer, Liveness.UP) is not state:
                # down is worth a warning; up (again) and suspect are news, not trouble
                log.log(logging.WARNING if state is Liveness.DOWN else logging.INFO,
                        "peer %s is %s (phi %.1f)", peer, state.value,
                        self.detector.phi(peer, now))
            self._seen[peer] = state
