"""A simulated network between simulated nodes.

Every message is encoded and decoded exactly as on the wire (core.messages), then
delivered after a random delay; it may be lost, duplicated, or delayed past later
ones (reordering). A partition silently drops messages between two nodes in both
directions; a message to a node that is down fails at once, like a refused TCP
connection. All randomness comes from the simulation's seeded generator.
"""

from __future__ import annotations

import itertools

import msgpack

from ..core import messages as m
from ..net.transport import PeerUnavailable, request_reply


class SimNetwork:
    def __init__(self, sim) -> None:
        self.sim = sim
        self.handlers: dict[str, object] = {}   # node id -> handler, while up
        self.cut: set[frozenset] = set()          # partitioned pairs
        self.loss = 0.0
        self.duplicate = 0.0
        self.min_delay_s = 0.0002
        self.max_delay_s = 0.003
        self.slow: dict[str, float] = {}          # clogged node -> extra delay
        self.sent = 0

    def transport_for(self, node_id: str) -> "SimTransport":
        return SimTransport(self, node_id)

    def up(self, node_id: str, handler) -> None:
        self.handlers[node_id] = handler

    def down(self, node_id: str) -> None:
        self.handlers.pop(node_id, None)

    def partitioned(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.cut

    def _delay(self, src: str, dst: str) -> float:
        rnd = self.sim.rnd
        return (rnd.uniform(self.min_delay_s, self.max_delay_s)
                + self.slow.get(src, 0.0) + self.slow.get(dst, 0.0))

    def deliver(self, src: str, dst: str, body: bytes, on_arrival) -> None:
        """Carry ``body`` from ``src`` to ``dst``: maybe lost, maybe twice."""
        self.sent += 1
        if self.partitioned(src, dst) or self.sim.rnd.random() < self.loss:
            self.sim.trace(f"net drop {src}->{dst}")
            return
        copies = 2 if self.sim.rnd.random() < self.duplicate else 1
        for _ in range(copies):
            self.sim.loop.call_later(self._delay(src, dst), on_arrival, body)


def _wire(req_id: int, message) -> bytes:
    return m.encode(req_id, message)


def _unwire(body: bytes):
    return m.decode_body(msgpack.unpackb(body, raw=False))


class SimTransport:
    """``PeerTransport``'s interface over the simulated network."""

    def __init__(self, network: SimNetwork, node_id: str) -> None:
        self.network = network
        self.node_id = node_id
        self.pending: dict[int, object] = {}
        self._ids = itertools.count(1)
        self.closed = False

    def is_connected(self, peer_id: str) -> bool:
        return peer_id in self.network.handlers and not self.network.partitioned(
            self.node_id, peer_id)

    def has_queued(self, peer_id: str) -> bool:
        return False  # every message travels on its own here

    def send_request(self, peer_id: str, message, on_done) -> int:
        req_id = next(self._ids)
        self.pending[req_id] = on_done
        net, sim = self.network, self.network.sim
        if peer_id not in net.handlers:  # refused: fails after a moment, like TCP
            sim.loop.call_later(net.min_delay_s, self._fail, req_id, peer_id)
            return req_id
        net.deliver(self.node_id, peer_id, _wire(req_id, message),
                    lambda body: self._arrive(peer_id, body))
        return req_id

    def _fail(self, req_id: int, peer_id: str) -> None:
        on_done = self.pending.pop(req_id, None)
        if on_done is not None and not self.closed:
            on_done(None, PeerUnavailable(f"{peer_id} is down"))

    def _arrive(self, peer_id: str, body: bytes) -> None:
        """A request reaches ``peer_id``; its replies travel back."""
        net = self.network
        handler = net.handlers.get(peer_id)
        if handler is None:
            return  # it went down meanwhile: the request is lost
        req_id, message = _unwire(body)

        def send_back(replies) -> None:
            if peer_id not in net.handlers:
                return
            for rid, reply in replies:
                net.deliver(peer_id, self.node_id, _wire(-rid, reply), self._reply)

        send_back(handler([(req_id, message)], send_back))

    def _reply(self, body: bytes) -> None:
        if self.closed:
            return
        rid, reply = _unwire(body)
        on_done = self.pending.pop(-rid, None)
        if on_done is not None:
            on_done(reply, None)

    def forget(self, peer_id: str, req_id: int) -> None:
        self.pending.pop(req_id, None)

    async def request(self, peer_id: str, message):
        return await request_reply(self, peer_id, message)
