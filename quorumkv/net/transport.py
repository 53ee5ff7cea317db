"""Peer RPC: length-prefixed msgpack frames over asyncio, pipelined and coalesced.

Each node keeps one outgoing connection per peer for its own requests; replies come
back on the same connection, matched by request id, so many requests are in flight
at once. Frames written to one connection in one loop turn go out in one write.
Outgoing sockets bind to the node's own address so that per-address firewall rules
(the fault tests' partitions) see the true source.

A frame is a 4-byte big-endian length and a msgpack array of message bodies (see
core.messages): every message sent to one connection in one loop turn travels in
one frame, so a busy connection pays the framing and one msgpack decode per turn
rather than per message.

Every connection opens with a handshake: the connecting side sends a ``Hello``
(its node id, cluster id and layout), the other side answers a ``HelloReply``
with its own, accepting or refusing (``check_hello``: core/identity.py); both sides
check, log a refusal, and close. Only an accepted connection carries requests, and
the check is per connection: an inbound connection's message handler is swapped
for the request handler once its Hello is accepted. A refused peer is tried again
after a backoff that doubles up to ``REFUSED_BACKOFF_MAX_S``, or as soon as its own
Hello is accepted (it was restarted with the right settings).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
from typing import Callable

import msgpack

from ..core import messages as m

log = logging.getLogger(__name__)

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 64 * 1024 * 1024
BATCH_BYTES = 1024 * 1024  # a frame is sent as soon as its messages reach this size
RECONNECT_BACKOFF_S = 0.2
HANDSHAKE_TIMEOUT_S = 2.0
REFUSED_BACKOFF_S = 1.0      # after a refused handshake, doubled on each refusal
REFUSED_BACKOFF_MAX_S = 30.0


class PeerUnavailable(Exception):
    """The peer cannot be reached now (connect failed, connection lost)."""


class PeerRefused(PeerUnavailable):
    """The handshake failed: the peer belongs to another cluster or layout."""


class FrameProtocol:
    """Frames in, frames out. ``on_messages`` gets each read's decoded messages.

    An asyncio protocol without the ``asyncio.Protocol`` base class (the loop needs
    only the methods), so that the compiled build can make it an extension type."""

    def __init__(self, on_messages: Callable[["FrameProtocol", list], None],
                 on_lost: Callable[["FrameProtocol", Exception | None], None] | None = None):
        self._on_messages = on_messages
        self._on_lost = on_lost
        self._buf = bytearray()
        self._out: list[bytes] = []  # message bodies for the next frame
        self._out_bytes = 0
        self._flush_scheduled = False
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self._on_lost:
            self._on_lost(self, exc)

    def eof_received(self) -> None:
        return None  # the transport closes itself

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos, n, out = 0, len(buf), []
        while n - pos >= 4:
            (length,) = HEADER.unpack_from(buf, pos)
            if length > MAX_FRAME_BYTES:
                log.error("peer frame of %d bytes exceeds the limit; closing", length)
                self.transport.close()
                return
            if n - pos - 4 < length:
                break
            try:
                bodies = msgpack.unpackb(buf[pos + 4:pos + 4 + length], raw=False)
                if type(bodies) is not list:
                    raise m.DecodeError("a frame is an array of messages")
                out.extend(map(m.decode_body, bodies))
            except (m.DecodeError, ValueError) as exc:  # msgpack errors are ValueErrors
                log.error("undecodable peer frame (%s); closing the connection", exc)
                self.transport.close()
                return
            pos += 4 + length
        if pos:
            del buf[:pos]
        if out:
            self._on_messages(self, out)

    def send(self, req_id: int, message) -> None:
        body = m.encode(req_id, message)
        self._out.append(body)
        self._out_bytes += len(body)
        if self._out_bytes >= BATCH_BYTES:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_scheduled_batch)

    def has_queued(self) -> bool:
        """Messages wait for this loop turn's frame."""
        return bool(self._out)

    def _flush_scheduled_batch(self) -> None:
        self._flush_scheduled = False
        self._flush()

    def _flush(self) -> None:
        """One frame of every message queued: their bodies after an array header."""
        out = self._out
        if out and not self.closed and self.transport is not None:
            frame = _array_header(len(out)) + b"".join(out)
            self.transport.write(HEADER.pack(len(frame)) + frame)
        out.clear()
        self._out_bytes = 0


async def request_reply(transport, peer_id: str, message):
    """``message`` through any transport with ``send_request``/``forget`` (the real
    one, the simulation's), awaited; forgotten if the caller stops waiting."""
    future = asyncio.get_running_loop().create_future()

    def on_done(reply, error):
        if not future.done():
            future.set_exception(error) if error else future.set_result(reply)

    req_id = transport.send_request(peer_id, message, on_done)
    try:
        return await future
    finally:
        transport.forget(peer_id, req_id)


def replies_on_wire(replies: list) -> list:
    """``[(req_id, reply)]`` as ``[(wire id, message)]``: replies carry ``-req_id``,
    and the acks of several writes travel as one ``PutAcks`` (a replica acks a whole
    storage batch at once: one message to encode and decode instead of one each)."""
    acked = [req_id for req_id, reply in replies if type(reply) is m.PutAck]
    if len(acked) < 2:
        return [(-req_id, reply) for req_id, reply in replies]
    wire = [(-req_id, reply) for req_id, reply in replies if type(reply) is not m.PutAck]
    wire.append((0, m.PutAcks(tuple(acked))))
    return wire


def deliver_replies(pending: dict, items: list) -> None:
    """Hand each reply of ``items`` (``[(wire id, message)]`` as received) to the
    ``on_done`` of its request in ``pending`` (request id -> on_done), once."""
    for wire_id, reply in items:
        if type(reply) is m.PutAcks:
            for req_id in reply.req_ids:
                on_done = pending.pop(req_id, None)
                if on_done is not None:
                    on_done(m.PUT_ACK, None)
        else:
            on_done = pending.pop(-wire_id, None)
            if on_done is not None:
                on_done(reply, None)


def _array_header(n: int) -> bytes:
    """The msgpack header of an array of ``n`` items."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


class _PeerLink:
    """Our outgoing connection to one peer, reconnected on demand."""

    def __init__(self, owner: "PeerTransport", peer_id: str, host: str, port: int) -> None:
        self.owner, self.peer_id, self.host, self.port = owner, peer_id, host, port
        self.proto: FrameProtocol | None = None
        # req_id -> on_done(reply, error): called once, unless forgotten first
        self.pending: dict[int, Callable] = {}
        self._connecting: asyncio.Future | None = None
        self._retry_after = 0.0
        self.refusal = ""  # why the last handshake was refused ("" if it was not)
        self._refused_backoff = REFUSED_BACKOFF_S

    @property
    def connected(self) -> bool:
        return self.proto is not None and not self.proto.closed

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(loop.create_connection(
                lambda: FrameProtocol(self._on_replies, self._on_lost),
                self.host, self.port, local_addr=(self.owner.bind_host, 0)),
                self.owner.connect_timeout_s)
        except (OSError, asyncio.TimeoutError) as exc:
            self._retry_after = loop.time() + RECONNECT_BACKOFF_S
            raise PeerUnavailable(f"cannot connect to {self.peer_id} "
                                  f"at {self.host}:{self.port}: {exc}") from None
        if self.owner.hello is not None:
            try:
                await self._handshake(proto)
            except PeerUnavailable:
                proto.transport.close()
                raise
        self.proto = proto

    async def _handshake(self, proto: FrameProtocol) -> None:
        """Our Hello, their HelloReply; raises PeerRefused if either side refuses."""
        loop = asyncio.get_running_loop()
        answer = loop.create_future()

        def on_done(reply, error) -> None:
            if not answer.done():
                answer.set_exception(error) if error else answer.set_result(reply)

        req_id = next(self.owner._ids)
        self.pending[req_id] = on_done
        proto.send(req_id, self.owner.hello)
        try:
            reply = await asyncio.wait_for(answer, HANDSHAKE_TIMEOUT_S)
        except (PeerUnavailable, asyncio.TimeoutError) as exc:
            self._retry_after = loop.time() + RECONNECT_BACKOFF_S
            raise PeerUnavailable(f"no handshake with {self.peer_id} at "
                                  f"{self.host}:{self.port}: "
                                  f"{exc or 'no answer'}") from None
        finally:
            self.pending.pop(req_id, None)
        if type(reply) is not m.HelloReply:
            reason, by = f"it answered {type(reply).__name__} to our handshake", "we"
        elif reply.refusal:
            reason, by = reply.refusal, "it"
        else:
            reason, by = self.owner.check_hello(reply), "we"
        if reason:
            self._refused(loop, reason, by)
        if self.refusal:
            log.info("peer %s at %s:%d accepted the handshake again", self.peer_id,
                        self.host, self.port)
        self.refusal, self._refused_backoff = "", REFUSED_BACKOFF_S

    def _refused(self, loop, reason: str, by: str) -> None:
        """Log, back off (doubling), raise PeerRefused."""
        backoff = self._refused_backoff
        self._retry_after = loop.time() + backoff
        self._refused_backoff = min(2 * backoff, REFUSED_BACKOFF_MAX_S)
        self.refusal = reason
        whose = "refused our handshake" if by == "it" else "answered; refusing it"
        log.error("peer %s at %s:%d %s: %s; trying again in %g s", self.peer_id,
                  self.host, self.port, whose, reason, backoff)
        raise PeerRefused(f"{self.peer_id} refused: {reason}")

    async def ensure_connected(self) -> None:
        if self.connected:
            return
        loop = asyncio.get_running_loop()
        if self._connecting is None:
            if loop.time() < self._retry_after:
                if self.refusal:
                    raise PeerRefused(f"{self.peer_id} refused: {self.refusal}")
                raise PeerUnavailable(f"{self.peer_id} unreachable (retrying shortly)")
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            await asyncio.shield(connecting)
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None

    def _on_replies(self, proto, items) -> None:
        deliver_replies(self.pending, items)

    def _on_lost(self, proto, exc) -> None:
        if proto is self.proto:
            self.proto = None
        failed, self.pending = self.pending, {}
        error = PeerUnavailable(f"connection to {self.peer_id} lost")
        for on_done in failed.values():
            on_done(None, error)

    def close(self) -> None:
        if self.proto and self.proto.transport:
            self.proto.transport.close()


class PeerTransport:
    """Serves peer requests with ``handler`` and sends ours to peers.

    ``handler(messages, send_later)`` gets ``[(req_id, message), ...]`` from one
    read and returns ``[(req_id, reply), ...]`` to send now; replies that must
    wait (for durable storage) it passes to ``send_later`` when ready.

    ``hello`` (an ``m.Hello``) opens every connection this node makes, and
    ``check_hello(hello_or_reply)`` says why a peer's is refused ("" accepts it);
    without them connections carry no handshake.
    """

    def __init__(self, bind_host: str, port: int, peers: dict[str, tuple[str, int]],
                 handler, connect_timeout_s: float = 1.0, hello=None,
                 check_hello: Callable[[object], str] | None = None) -> None:
        self.bind_host, self.port = bind_host, port
        self.handler = handler
        self.connect_timeout_s = connect_timeout_s
        self.hello = hello
        self.check_hello = check_hello
        self._links = {pid: _PeerLink(self, pid, h, p) for pid, (h, p) in peers.items()}
        self._ids = itertools.count(1)
        self._server: asyncio.AbstractServer | None = None
        self._inbound: set[FrameProtocol] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._make_inbound, self.bind_host, self.port,
                                                reuse_address=True)

    def _make_inbound(self) -> FrameProtocol:
        first = self._on_requests if self.hello is None else self._on_hello
        proto = FrameProtocol(first, lambda p, e: self._inbound.discard(p))
        self._inbound.add(proto)
        return proto

    def _on_hello(self, proto: FrameProtocol, items: list) -> None:
        """The first messages of an inbound connection: a Hello, then perhaps
        requests. Accepted: the connection serves requests from here on."""
        req_id, hello = items[0]
        if type(hello) is m.Hello:
            who, reason = hello.node_id, self.check_hello(hello)
        else:
            who, reason = "?", f"it sent {type(hello).__name__} before any handshake"
        proto.send(-req_id, m.HelloReply(*self.hello, reason))
        if reason:
            peer = proto.transport.get_extra_info("peername")
            log.error("refused a peer connection from node %s at %s: %s", who,
                      "%s:%s" % peer[:2] if peer else "?", reason)
            proto._flush()
            proto.transport.close()  # after what is buffered: the refusal goes out
            return
        proto._on_messages = self._on_requests
        link = self._links.get(hello.node_id)
        if link is not None and link.refusal:  # it was fixed: no need to wait out
            link._retry_after = 0.0            # the backoff before trying it again
        if len(items) > 1:
            self._on_requests(proto, items[1:])

    def _on_requests(self, proto: FrameProtocol, items: list) -> None:
        replies = self.handler(items, lambda later: self._reply(proto, later))
        if replies:
            self._reply(proto, replies)

    @staticmethod
    def _reply(proto: FrameProtocol, replies: list) -> None:
        if not proto.closed:
            for wire_id, message in replies_on_wire(replies):
                proto.send(wire_id, message)

    def is_connected(self, peer_id: str) -> bool:
        return self._links[peer_id].connected

    def has_queued(self, peer_id: str) -> bool:
        """Messages for ``peer_id`` wait for this loop turn's frame."""
        proto = self._links[peer_id].proto
        return proto is not None and proto.has_queued()

    def send_request(self, peer_id: str, message, on_done) -> int:
        """Send ``message``; ``on_done(reply, error)`` runs once when it is answered
        or fails. Returns a request id for :meth:`forget`. No deadline here: the
        caller bounds the wait and forgets what it no longer wants."""
        link = self._links[peer_id]
        req_id = next(self._ids)
        if link.connected:
            link.pending[req_id] = on_done
            link.proto.send(req_id, message)
        else:
            asyncio.ensure_future(self._connect_and_send(link, req_id, message, on_done))
        return req_id

    async def _connect_and_send(self, link: "_PeerLink", req_id: int, message,
                                on_done) -> None:
        try:
            await link.ensure_connected()
        except PeerUnavailable as exc:
            on_done(None, exc)
            return
        link.pending[req_id] = on_done
        link.proto.send(req_id, message)

    def forget(self, peer_id: str, req_id: int) -> None:
        """Drop interest in a request: its ``on_done`` will not be called."""
        self._links[peer_id].pending.pop(req_id, None)

    async def request(self, peer_id: str, message):
        """Send ``message`` and wait for the reply (callers bound the wait)."""
        return await request_reply(self, peer_id, message)

    async def close(self) -> None:
        if self._server:
            self._server.close()
        for link in self._links.values():
            link.close()
        for proto in list(self._inbound):
            if proto.transport:
                proto.transport.close()
        if self._server:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            except asyncio.TimeoutError:
                pass
