"""A simulated network between simulated nodes, under the real framing.

Each node's requests to a peer travel on a simulated connection whose two ends
are the transport's own ``FrameProtocol``: messages are encoded with the real
codec, coalesced per loop turn into one frame (so a replica gets all the writes
of a frame as one batch, and acknowledges them with one ``PutAcks``), and served
through the peer's real handler registry (``Handlers``). Each frame is delivered
after a random delay; it may be lost, duplicated, or delayed past later ones
(reordering). A partition silently drops frames between two nodes in both
directions. A node that goes down breaks its connections: the requests its peers
were waiting on fail with PeerUnavailable, as when TCP sees the reset, and a
request to a node that is down fails at once, like a refused connection. All
randomness comes from the simulation's seeded generator.
"""

from __future__ import annotations

import itertools

from ..errors import PeerError, PeerUnavailable
from ..net.transport import Channel, FrameProtocol, Handlers, deliver_replies, request_reply


class SimNetwork:
    def __init__(self, sim) -> None:
        self.sim = sim
        self.handlers: dict[str, Handlers] = {}   # node id -> its registry, while up
        self.links: dict[tuple[str, str], "_SimLink"] = {}  # (from, to) -> connection
        self.cut: set[frozenset] = set()          # partitioned pairs
        self.loss = 0.0
        self.duplicate = 0.0
        self.min_delay_s = 0.0002
        self.max_delay_s = 0.003
        self.slow: dict[str, float] = {}          # clogged node -> extra delay
        self.sent = 0

    def transport_for(self, node_id: str, peers: dict | None = None) -> "SimTransport":
        return SimTransport(self, node_id, peers)

    def up(self, node_id: str, handlers: Handlers) -> None:
        self.handlers[node_id] = handlers

    def down(self, node_id: str) -> None:
        """The node's process is gone: so are its connections, both ways."""
        self.handlers.pop(node_id, None)
        for key, link in list(self.links.items()):
            if node_id in key:
                link.lose(f"{node_id} is down")

    def partitioned(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.cut

    def _delay(self, src: str, dst: str) -> float:
        rnd = self.sim.rnd
        return (rnd.uniform(self.min_delay_s, self.max_delay_s)
                + self.slow.get(src, 0.0) + self.slow.get(dst, 0.0))

    def deliver(self, src: str, dst: str, frame: bytes, on_arrival) -> None:
        """Carry ``frame`` from ``src`` to ``dst``: maybe lost, maybe twice."""
        self.sent += 1
        if self.partitioned(src, dst) or self.sim.rnd.random() < self.loss:
            self.sim.trace(f"net drop {src}->{dst}")
            return
        copies = 2 if self.sim.rnd.random() < self.duplicate else 1
        for _ in range(copies):
            self.sim.loop.call_later(self._delay(src, dst), on_arrival, frame)


class _SimWire:
    """One direction of a simulated connection, as the asyncio transport that a
    ``FrameProtocol`` writes its frames to: each write is one whole frame."""

    def __init__(self, link: "_SimLink", src: str, dst: str, far: FrameProtocol) -> None:
        self.link, self.src, self.dst, self.far = link, src, dst, far

    def write(self, data) -> None:
        link = self.link
        if link.alive:
            link.network.deliver(self.src, self.dst, bytes(data), self._arrive)

    def writelines(self, frames) -> None:
        for frame in frames:
            self.write(frame)

    def _arrive(self, frame: bytes) -> None:
        if self.link.alive:  # a frame of a broken connection is gone with it
            self.far.data_received(frame)

    def close(self) -> None:
        self.link.lose("closed")

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name, default=None):
        return default

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class _SimLink:
    """A connection from ``src`` (its requests) to ``dst`` (its handlers): the real
    framing at both ends, the pending requests at the sending end."""

    def __init__(self, transport: "SimTransport", dst: str, handlers: Handlers) -> None:
        self.network, self.transport, self.dst = transport.network, transport, dst
        self.alive = True
        self.pending: dict[int, object] = {}
        src = transport.node_id
        self.out = FrameProtocol(self._on_replies)
        self.inbound = FrameProtocol(self._on_requests)
        self.channel = Channel(self.inbound, handlers, src)
        self.out.connection_made(_SimWire(self, src, dst, self.inbound))
        self.inbound.connection_made(_SimWire(self, dst, src, self.out))

    def _on_requests(self, proto, items) -> None:
        self.channel.received(proto, items)

    def _on_replies(self, proto, items) -> None:
        if not self.transport.closed:
            deliver_replies(self.pending, items)

    def lose(self, why: str) -> None:
        """The connection breaks: both ends close; the sender's waiting requests
        fail a moment later (when the reset would reach it), if it is still up."""
        if not self.alive:
            return
        self.alive = False
        self.network.links.pop((self.transport.node_id, self.dst), None)
        self.out.connection_lost(None)
        self.inbound.connection_lost(None)
        self.channel.lost()
        self.transport.dying.add(self)  # still forgettable until they fail
        self.network.sim.loop.call_later(self.network.min_delay_s, self._fail_pending,
                                         PeerUnavailable(f"connection to {self.dst} lost: "
                                                         f"{why}"))

    def _fail_pending(self, error: Exception) -> None:
        self.transport.dying.discard(self)
        failed, self.pending = self.pending, {}
        if not self.transport.closed:
            for on_done in failed.values():
                on_done(None, error)


class SimTransport:
    """``PeerTransport``'s interface over the simulated network."""

    def __init__(self, network: SimNetwork, node_id: str, peers: dict | None = None) -> None:
        self.network = network
        self.node_id = node_id
        # peer id -> (host, port), as PeerTransport keeps them: what the metadata
        # follower syncs (node/raft/meta.py); a removed peer is not connected to
        self._peers: dict[str, tuple[str, int]] = dict(peers or {})
        self._removed: set[str] = set()
        self.handlers = Handlers()
        self._ids = itertools.count(1)
        self.closed = False
        self.dying: set[_SimLink] = set()  # lost links whose requests fail shortly

    def handle(self, cls: type, handler) -> None:
        self.handlers.handle(cls, handler)

    def peers(self) -> dict[str, tuple[str, int]]:
        return dict(self._peers)

    def add_peer(self, peer_id: str, host: str, port: int) -> None:
        self._removed.discard(peer_id)
        self._peers[peer_id] = (host, port)

    def remove_peer(self, peer_id: str) -> None:
        """Stop talking to ``peer_id``: its link is lost (its requests fail)."""
        self._peers.pop(peer_id, None)
        self._removed.add(peer_id)
        link = self.network.links.get((self.node_id, peer_id))
        if link is not None:
            link.lose(f"peer {peer_id} was removed")

    def _link(self, peer_id: str) -> "_SimLink | None":
        """The connection to ``peer_id``, made if it is up; None if it is down."""
        if peer_id in self._removed:
            return None
        net = self.network
        link = net.links.get((self.node_id, peer_id))
        if link is None and peer_id in net.handlers:
            link = net.links[(self.node_id, peer_id)] = _SimLink(self, peer_id,
                                                                  net.handlers[peer_id])
        return link

    def is_connected(self, peer_id: str) -> bool:
        return peer_id in self.network.handlers and not self.network.partitioned(
            self.node_id, peer_id)

    def has_queued(self, peer_id: str) -> bool:
        link = self.network.links.get((self.node_id, peer_id))
        return link is not None and link.out.has_queued()

    def connection(self, peer_id: str):
        return self.network.links.get((self.node_id, peer_id))

    def send_request(self, peer_id: str, message, on_done) -> int:
        req_id = next(self._ids)
        link = self._link(peer_id)
        if link is None:  # refused: fails after a moment, like TCP
            self.network.sim.loop.call_later(self.network.min_delay_s, self._fail, on_done,
                                             PeerUnavailable(f"{peer_id} is down"))
            return req_id
        link.pending[req_id] = on_done
        try:
            link.out.send(req_id, message)
        except PeerError as exc:
            del link.pending[req_id]
            self.network.sim.loop.call_soon(self._fail, on_done, exc)
        return req_id

    def send_one_way(self, peer_id: str, message) -> None:
        link = self._link(peer_id)
        if link is not None:
            link.out.send(0, message)

    def _fail(self, on_done, error: Exception) -> None:
        if not self.closed:
            on_done(None, error)

    def forget(self, peer_id: str, req_id: int) -> None:
        link = self.network.links.get((self.node_id, peer_id))
        if link is not None:
            link.pending.pop(req_id, None)
        for link in self.dying:
            link.pending.pop(req_id, None)

    async def request(self, peer_id: str, message):
        return await request_reply(self, peer_id, message)
