"""Peer RPC: length-prefixed msgpack frames over asyncio, pipelined and coalesced.

Each node keeps one outgoing connection per peer for its own requests; replies come
back on the same connection, matched by request id, so many requests are in flight
at once. Frames written to one connection in one loop turn go out in one write.
Outgoing sockets bind to the node's own address so that per-address firewall rules
(the fault tests' partitions) see the true source.

A frame is a 4-byte big-endian length and a msgpack array of message bodies (see
core.messages): every message sent to one connection in one loop turn travels in
one frame, so a busy connection pays the framing and one msgpack decode per turn
rather than per message. A frame never exceeds ``MAX_FRAME_BYTES``: messages are
cut into frames of about ``BATCH_BYTES``, and a single message too large for a
frame is refused before anything is sent (``FrameTooLarge``).

Three kinds of traffic share a connection: requests (``send_request``: a reply
comes back), one-way messages (``send_one_way``: request id 0, nothing answers)
and chunked streams (``open_stream``/``handle_stream``: net/stream.py, built on
the other two). The serving side dispatches by message type through a registry
(:class:`Handlers`): ``transport.handle(MessageType, handler)``, where
``handler(items, channel)`` gets every ``(req_id, message)`` of its type from one
read (so all the writes of a read make one storage batch) and returns the replies
ready now; replies that must wait go later through ``channel.send_later``. A
handler's replies to one-way messages (req_id 0) are dropped.

Every connection opens with a handshake: the connecting side sends a ``Hello``
(its node id, protocol version, cluster id and layout), the other side answers a
``HelloReply`` with its own, accepting or refusing (first the protocol version,
then ``check_hello``: core/identity.py); both sides check, log a refusal naming
both sides, and close. Only an accepted connection carries requests, and the
check is per connection: an inbound connection's message handler is swapped for
the dispatch once its Hello is accepted. A refused peer is tried again after a
backoff that doubles up to ``REFUSED_BACKOFF_MAX_S``, or as soon as its own
Hello is accepted (it was restarted with the right settings). Peers are added and
removed at run time (``add_peer``, ``remove_peer``). A node that is not a member
yet opens a connection of its own with a ``JoinRequest`` instead of a Hello
(:func:`request_join`); ``on_join`` answers it with one ``JoinReply`` and the
connection closes (node/join.py).

Backpressure: while the kernel cannot take more of a connection's bytes, asyncio
calls ``pause_writing``; frames then wait in the connection's own queue, at most
``max_queued_bytes`` (``MAX_QUEUED_BYTES``, 64 MiB, per connection), and go out on
``resume_writing``. A request that would pass the bound fails at once with
``PeerOverloaded`` (the coordinator counts it as a failed replica, as for an
unreachable one). An inbound connection whose writes are paused stops reading
requests, so a peer that does not read its replies stops sending more; if its
replies pass the bound anyway the connection is closed (its requests fail with
``PeerUnavailable`` there).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
from typing import Callable

import msgpack

from ..core import messages as m
from ..errors import (ErrorCode, FrameTooLarge, PeerError, PeerOverloaded,  # noqa: F401
                      PeerRefused, PeerUnavailable, StreamError)

log = logging.getLogger(__name__)

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 64 * 1024 * 1024
MAX_BODY_BYTES = MAX_FRAME_BYTES - 5  # one message alone in a frame, after its array header
BATCH_BYTES = 1024 * 1024  # a frame is cut before its messages pass this size
MAX_QUEUED_BYTES = 64 * 1024 * 1024  # per connection, while the kernel takes no more
RECONNECT_BACKOFF_S = 0.2
HANDSHAKE_TIMEOUT_S = 2.0
REFUSED_BACKOFF_S = 1.0      # after a refused handshake, doubled on each refusal
REFUSED_BACKOFF_MAX_S = 30.0


class FrameProtocol:
    """Frames in, frames out. ``on_messages`` gets each read's decoded messages.

    An asyncio protocol without the ``asyncio.Protocol`` base class (the loop needs
    only the methods), so that the compiled build can make it an extension type.

    ``send`` queues a message for this loop turn's frame. While writing is paused
    (``pause_writing``), finished frames wait in ``_held`` instead of the
    transport; ``send`` raises ``PeerOverloaded`` rather than let the queue pass
    ``max_queued_bytes``, and ``FrameTooLarge`` for a message no frame can hold.
    ``_room`` is how many bytes the current frame may still grow to before
    ``send`` takes its slow path (``_make_room``): one comparison per message."""

    def __init__(self, on_messages: Callable[["FrameProtocol", list], None],
                 on_lost: Callable[["FrameProtocol", Exception | None], None] | None = None,
                 max_queued_bytes: int = MAX_QUEUED_BYTES, pause_reads: bool = False):
        self._on_messages = on_messages
        self._on_lost = on_lost
        self._buf = bytearray()
        self._out: list[bytes] = []  # message bodies for the next frame
        self._out_bytes = 0
        self._flush_scheduled = False
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.max_queued_bytes = max_queued_bytes
        self.pause_reads = pause_reads  # stop reading while our writes are paused
        self.paused = False
        self._held: list[bytes] = []  # whole frames waiting for resume_writing
        self._held_bytes = 0
        self._room = BATCH_BYTES

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._held.clear()
        self._held_bytes = 0
        if self._on_lost:
            self._on_lost(self, exc)

    def eof_received(self) -> None:
        return None  # the transport closes itself

    def pause_writing(self) -> None:
        """The transport's buffer is over its high-water mark: hold frames here."""
        self.paused = True
        self._room = min(BATCH_BYTES, self.max_queued_bytes - self._held_bytes)
        if self.pause_reads and self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        """The buffer drained: what waited goes out, in order."""
        held = self._held
        self.paused, self._held, self._held_bytes = False, [], 0
        self._room = BATCH_BYTES
        if held and not self.closed:
            self.transport.writelines(held)
        if self.pause_reads and not self.closed and self.transport is not None:
            self.transport.resume_reading()

    def queued_bytes(self) -> int:
        """Bytes sent but not yet taken by the kernel: this turn's frame, the held
        frames and the transport's buffer."""
        size = self._out_bytes + self._held_bytes
        if self.transport is not None and not self.closed:
            size += self.transport.get_write_buffer_size()
        return size

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
        n = self._out_bytes + len(body)
        if n > self._room:
            n = self._make_room(len(body))
        self._out.append(body)
        self._out_bytes = n
        if n >= BATCH_BYTES:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_scheduled_batch)

    def _make_room(self, size: int) -> int:
        """A message of ``size`` bytes does not fit in the current frame: refuse it
        if no frame or no queue can hold it, else close the current frame. Returns
        the frame's size with the message."""
        if size > MAX_BODY_BYTES:
            raise FrameTooLarge(f"a message of {size} bytes exceeds the peer frame limit "
                                f"({MAX_FRAME_BYTES} bytes)")
        if self.paused and self._held_bytes + self._out_bytes + size > self.max_queued_bytes:
            raise PeerOverloaded(
                f"peer send queue full: {self._held_bytes + self._out_bytes} bytes wait "
                f"for a peer that reads slower than we send (limit {self.max_queued_bytes})")
        self._flush()
        return size

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
            if self.paused:
                self._held.append(HEADER.pack(len(frame)) + frame)
                self._held_bytes += 4 + len(frame)
                self._room = min(BATCH_BYTES, self.max_queued_bytes - self._held_bytes)
            else:
                self.transport.write(HEADER.pack(len(frame)) + frame)
        out.clear()
        self._out_bytes = 0


class Handlers:
    """The serving side's registry: message type -> handler of a batch.

    ``handler(items, channel)`` gets the ``(req_id, message)`` of its type from one
    read, in arrival order, and returns the replies ready now (``[(req_id,
    reply)]`` or None); later ones go through ``channel.send_later``. A handler
    should answer a failed request itself (one bad request must not sink the
    batch); one that raises has its whole batch answered INTERNAL errors. A type
    with no handler is answered UNEXPECTED_MESSAGE."""

    def __init__(self) -> None:
        self.by_type: dict[type, Callable] = {}
        self.debug = log.isEnabledFor(logging.DEBUG)  # once: free per batch when off

    def handle(self, cls: type, handler: Callable) -> None:
        """Serve message type ``cls`` with ``handler``; one handler per type."""
        if cls not in m.MESSAGE_TYPES:
            raise ValueError(f"{cls!r} is not a peer message type")
        if cls in self.by_type:
            raise ValueError(f"{cls.__name__} has a handler already")
        self.by_type[cls] = handler

    def dispatch(self, items: list, channel) -> list:
        """Every item of one read to its type's handler: the replies ready now."""
        by_type = self.by_type
        groups: dict[type, list] = {}
        for item in items:
            cls = type(item[1])
            group = groups.get(cls)
            if group is None:
                groups[cls] = [item]
            else:
                group.append(item)
        if self.debug:
            log_requests(groups)
        replies: list = []
        for cls, group in groups.items():
            handler = by_type.get(cls)
            if handler is None:
                refusal = m.ErrorReply(ErrorCode.UNEXPECTED_MESSAGE,
                                       f"unexpected {cls.__name__}")
                replies += [(req_id, refusal) for req_id, _ in group]
                continue
            try:
                ready = handler(group, channel)
            except Exception as exc:  # a bug in a handler: answer, do not hang
                log.exception("peer %s handler failed", cls.__name__)
                failed = m.error_reply(exc)
                ready = [(req_id, failed) for req_id, _ in group]
            if ready:
                replies += ready
        return replies


def log_requests(groups: dict) -> None:
    """One debug line per incoming batch, by message type (heartbeats left out)."""
    kinds = ", ".join(f"{len(g)} {cls.__name__}" for cls, g in groups.items()
                      if cls is not m.Ping)
    if kinds:
        log.debug("peer requests: %s", kinds)


class Channel:
    """One inbound connection as its handlers see it: who is at the other end
    (``peer_id``, from its Hello; "?" without a handshake) and the way back."""

    def __init__(self, proto: FrameProtocol, handlers: Handlers, peer_id: str = "?") -> None:
        self.proto, self.handlers, self.peer_id = proto, handlers, peer_id
        self._on_lost: list[Callable[[], None]] = []

    @property
    def closed(self) -> bool:
        return self.proto.closed

    def received(self, proto: FrameProtocol, items: list) -> None:
        replies = self.handlers.dispatch(items, self)
        if replies:
            self.send_later(replies)

    def send_later(self, replies: list) -> None:
        """Send ``[(req_id, reply)]`` (one-way requests' replies are dropped)."""
        proto = self.proto
        if proto.closed:
            return
        try:
            for wire_id, message in replies_on_wire(replies):
                try:
                    proto.send(wire_id, message)
                except FrameTooLarge as exc:
                    proto.send(wire_id, m.ErrorReply(ErrorCode.INTERNAL, str(exc)))
        except PeerOverloaded as exc:
            log.error("peer %s does not read its replies (%s); closing its connection",
                      self.peer_id, exc)
            proto.transport.close()

    def on_lost(self, callback: Callable[[], None]) -> None:
        """``callback()`` once the connection is gone (streams end with it)."""
        self._on_lost.append(callback)

    def lost(self) -> None:
        callbacks, self._on_lost = self._on_lost, []
        for callback in callbacks:
            callback()


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


async def ask_peers(transport, peers: list[str], message, reply_type,
                    timeout_s: float) -> list:
    """``message`` to every peer at once (``transport.request``): per peer, in order,
    its reply if it is a ``reply_type`` that came within ``timeout_s``, else None
    (down, slow, or an error answer: the caller reports it as not answered)."""
    async def ask(peer: str):
        try:
            reply = await asyncio.wait_for(transport.request(peer, message), timeout_s)
        except Exception:
            return None
        return reply if isinstance(reply, reply_type) else None

    return await asyncio.gather(*(ask(peer) for peer in peers))


async def request_join(host: str, port: int, bind_host: str, request,
                       timeout_s: float):
    """Send ``request`` (an m.JoinRequest) to the node at ``host:port`` on a
    connection of its own and return its m.JoinReply; PeerUnavailable if it
    cannot be reached or does not answer within ``timeout_s``."""
    loop = asyncio.get_running_loop()
    answer = loop.create_future()

    def on_messages(_proto, items) -> None:
        if not answer.done():
            answer.set_result(items[0][1])

    def on_lost(_proto, exc) -> None:
        if not answer.done():
            answer.set_exception(PeerUnavailable(
                f"{host}:{port} closed the connection without answering the join"))

    proto = None
    try:
        async with asyncio.timeout(timeout_s):
            _, proto = await loop.create_connection(
                lambda: FrameProtocol(on_messages, on_lost), host, port,
                local_addr=(bind_host, 0))
            proto.send(1, request)
            reply = await answer
    except (OSError, TimeoutError) as exc:
        raise PeerUnavailable(f"cannot join through {host}:{port}: "
                              f"{exc or 'no answer in time'}") from None
    finally:
        if proto is not None and proto.transport is not None:
            proto.transport.close()
    if type(reply) is not m.JoinReply:
        raise PeerUnavailable(f"{host}:{port} answered {type(reply).__name__} to a join")
    return reply


def replies_on_wire(replies: list) -> list:
    """``[(req_id, reply)]`` as ``[(wire id, message)]``: replies carry ``-req_id``,
    and the acks of several writes travel as one ``PutAcks`` (a replica acks a whole
    storage batch at once: one message to encode and decode instead of one each).
    Replies to one-way messages (req_id 0) are left out: nothing waits for them."""
    acked = [req_id for req_id, reply in replies if type(reply) is m.PutAck and req_id]
    if len(acked) < 2:
        return [(-req_id, reply) for req_id, reply in replies if req_id]
    wire = [(-req_id, reply) for req_id, reply in replies
            if req_id and type(reply) is not m.PutAck]
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
        self.removed = False  # remove_peer: no more connections, every request fails

    @property
    def connected(self) -> bool:
        return self.proto is not None and not self.proto.closed

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        owner = self.owner
        try:
            _, proto = await asyncio.wait_for(loop.create_connection(
                lambda: FrameProtocol(self._on_replies, self._on_lost,
                                      owner.max_queued_bytes),
                self.host, self.port, local_addr=(owner.bind_host, 0)),
                owner.connect_timeout_s)
        except (OSError, asyncio.TimeoutError) as exc:
            self._retry_after = loop.time() + RECONNECT_BACKOFF_S
            raise PeerUnavailable(f"cannot connect to {self.peer_id} "
                                  f"at {self.host}:{self.port}: {exc}") from None
        try:
            if owner.hello is not None:
                await self._handshake(proto)
            if self.removed:
                raise PeerUnavailable(f"peer {self.peer_id} was removed")
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
        reason, by = self._judge(reply)
        if reason:
            self._refused(loop, reason, by)
        if self.refusal:
            log.info("peer %s at %s:%d accepted the handshake again", self.peer_id,
                     self.host, self.port)
        self.refusal, self._refused_backoff = "", REFUSED_BACKOFF_S

    def _judge(self, reply) -> tuple[str, str]:
        """Why the peer's answer to our Hello ends the connection ("" if it does
        not), and who refused: "it" or "we"."""
        owner = self.owner
        if type(reply) is not m.HelloReply:
            return f"it answered {type(reply).__name__} to our handshake", "we"
        if reply.refusal:
            return reply.refusal, "it"
        reason = m.version_refusal(reply.node_id, reply.protocol_version,
                                   owner.hello.node_id, owner.protocol_version)
        return reason or owner.check_hello(reply), "we"

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
        if self.removed:
            raise PeerUnavailable(f"peer {self.peer_id} was removed")
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

    def send(self, req_id: int, message, on_done) -> None:
        """On the open connection; a message the link cannot take fails at once."""
        self.pending[req_id] = on_done
        try:
            self.proto.send(req_id, message)
        except PeerError as exc:
            del self.pending[req_id]
            exc.unsent = True  # refused before it was queued
            asyncio.get_running_loop().call_soon(on_done, None, exc)

    def _on_replies(self, proto, items) -> None:
        deliver_replies(self.pending, items)

    def _on_lost(self, proto, exc) -> None:
        if proto is self.proto:
            self.proto = None
        self.fail_pending(PeerUnavailable(f"connection to {self.peer_id} lost"))

    def fail_pending(self, error: Exception) -> None:
        failed, self.pending = self.pending, {}
        for on_done in failed.values():
            on_done(None, error)

    def close(self) -> None:
        if self.proto and self.proto.transport:
            self.proto.transport.close()


class PeerTransport:
    """Serves peer requests through its handler registry and sends ours to peers.

    ``handle(MessageType, handler)`` registers the handler of one message type
    (see :class:`Handlers`); ``handle_stream(kind, handler)`` the receiver of one
    kind of stream (net/stream.py).

    ``hello`` (an ``m.Hello``) opens every connection this node makes, and
    ``check_hello(hello_or_reply)`` says why a peer's is refused ("" accepts it);
    without them connections carry no handshake. ``protocol_version`` is the one
    this node speaks (core.messages.PROTOCOL_VERSION; other values only in tests).
    """

    def __init__(self, bind_host: str, port: int, peers: dict[str, tuple[str, int]],
                 connect_timeout_s: float = 1.0, hello=None,
                 check_hello: Callable[[object], str] | None = None,
                 protocol_version: int = m.PROTOCOL_VERSION,
                 max_queued_bytes: int = MAX_QUEUED_BYTES) -> None:
        self.bind_host, self.port = bind_host, port
        self.handlers = Handlers()
        self.connect_timeout_s = connect_timeout_s
        self.protocol_version = protocol_version
        self.hello = None if hello is None else hello._replace(
            protocol_version=protocol_version)
        self.check_hello = check_hello
        self.max_queued_bytes = max_queued_bytes
        self._links = {pid: _PeerLink(self, pid, h, p) for pid, (h, p) in peers.items()}
        self._ids = itertools.count(1)
        self._server: asyncio.AbstractServer | None = None
        self._inbound: dict[FrameProtocol, Channel] = {}
        self.streams = None  # net.stream.Streams, made by the first stream call
        self._removed: set[str] = set()  # remove_peer'd: their Hellos are refused
        # async on_join(JoinRequest) -> JoinReply (node/join.py); None: joins refused
        self.on_join: Callable | None = None

    def handle(self, cls: type, handler: Callable) -> None:
        """Serve message type ``cls`` with ``handler(items, channel)``."""
        self.handlers.handle(cls, handler)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._make_inbound, self.bind_host, self.port,
                                                reuse_address=True)

    def _make_inbound(self) -> FrameProtocol:
        proto = FrameProtocol(self._on_hello, self._on_inbound_lost, self.max_queued_bytes,
                              pause_reads=True)
        channel = Channel(proto, self.handlers)
        if self.hello is None:
            proto._on_messages = channel.received
        self._inbound[proto] = channel
        return proto

    def _on_inbound_lost(self, proto: FrameProtocol, exc) -> None:
        channel = self._inbound.pop(proto, None)
        if channel is not None:
            channel.lost()

    def _on_hello(self, proto: FrameProtocol, items: list) -> None:
        """The first messages of an inbound connection: a Hello, then perhaps
        requests. Accepted: the connection serves requests from here on."""
        req_id, hello = items[0]
        if type(hello) is m.JoinRequest:
            asyncio.ensure_future(self._answer_join(proto, req_id, hello))
            return
        who, reason = self._hello_refusal(hello)
        if type(hello) is m.Hello and hello.protocol_version == 1:  # it reads the old shape
            proto.send(-req_id, m.LegacyHelloReply(*self.hello[:4], reason))
        else:
            proto.send(-req_id, m.HelloReply(*self.hello[:4], reason, self.protocol_version))
        if reason:
            peer = proto.transport.get_extra_info("peername")
            log.error("refused a peer connection from node %s at %s: %s", who,
                      "%s:%s" % peer[:2] if peer else "?", reason)
            proto._flush()
            proto.transport.close()  # after what is buffered: the refusal goes out
            return
        channel = self._inbound.get(proto) or Channel(proto, self.handlers)
        channel.peer_id = hello.node_id
        proto._on_messages = channel.received
        link = self._links.get(hello.node_id)
        if link is not None and (link.refusal or not link.connected):
            # it is back (or was fixed): no need to wait out the backoff before
            # trying it again; a request to it right after fails no more
            link._retry_after = 0.0
        if len(items) > 1:
            channel.received(proto, items[1:])

    async def _answer_join(self, proto: FrameProtocol, req_id: int, request) -> None:
        """One JoinReply, then the connection closes: it never carries requests."""
        try:
            if self.on_join is None:
                reply = m.JoinReply("this node does not take joins", "", "", b"")
            else:
                reply = await self.on_join(request)
        except Exception as exc:  # answer, never leave the joining node hanging
            log.exception("answering a join request")
            reply = m.JoinReply(f"the join failed here: {exc}", "", "", b"")
        if not proto.closed:
            proto.send(-req_id, reply)
            proto._flush()
            proto.transport.close()

    def _hello_refusal(self, hello) -> tuple[str, str]:
        """Who sent the opening message, and why it is refused ("" accepts it)."""
        if type(hello) is not m.Hello:
            return "?", f"it sent {type(hello).__name__} before any handshake"
        link = self._links.get(hello.node_id)
        if link is None and hello.node_id in self._removed:
            return hello.node_id, f"node {hello.node_id} was removed from node " \
                                  f"{self.hello.node_id}'s peers"
        reason = m.version_refusal(hello.node_id, hello.protocol_version,
                                   self.hello.node_id, self.protocol_version)
        return hello.node_id, reason or self.check_hello(hello)

    # ---- peers -------------------------------------------------------------------

    def peers(self) -> dict[str, tuple[str, int]]:
        return {pid: (link.host, link.port) for pid, link in self._links.items()}

    def add_peer(self, peer_id: str, host: str, port: int) -> None:
        """Talk to ``peer_id`` at ``host:port`` from now on; a peer known at
        another address is removed first (its requests fail)."""
        link = self._links.get(peer_id)
        if link is not None and (link.host, link.port) == (host, port):
            return
        if link is not None:
            self.remove_peer(peer_id)
        self._removed.discard(peer_id)
        self._links[peer_id] = _PeerLink(self, peer_id, host, port)

    def remove_peer(self, peer_id: str) -> None:
        """Stop talking to ``peer_id``: its connections close (both ways) and its
        outstanding requests fail with PeerUnavailable."""
        link = self._links.pop(peer_id, None)
        self._removed.add(peer_id)
        if link is not None:
            link.removed = True
            link.close()
            link.fail_pending(PeerUnavailable(f"peer {peer_id} was removed"))
        for proto, channel in list(self._inbound.items()):
            if channel.peer_id == peer_id and proto.transport is not None:
                proto.transport.close()

    def is_connected(self, peer_id: str) -> bool:
        link = self._links.get(peer_id)
        return link is not None and link.connected

    def has_queued(self, peer_id: str) -> bool:
        """Messages for ``peer_id`` wait for this loop turn's frame."""
        link = self._links.get(peer_id)
        proto = link.proto if link is not None else None
        return proto is not None and proto.has_queued()

    def queued_bytes(self, peer_id: str) -> int:
        """Bytes of ours waiting to reach ``peer_id`` (what the bound applies to)."""
        link = self._links.get(peer_id)
        return link.proto.queued_bytes() if link is not None and link.connected else 0

    def connection(self, peer_id: str):
        """The current connection to ``peer_id`` (an opaque token; None when
        there is none): a stream lives and dies with one."""
        link = self._links.get(peer_id)
        return link.proto if link is not None and link.connected else None

    # ---- requests and one-way messages ---------------------------------------------

    def send_request(self, peer_id: str, message, on_done) -> int:
        """Send ``message``; ``on_done(reply, error)`` runs once when it is answered
        or fails (never before this returns). Returns a request id for
        :meth:`forget`. No deadline here: the caller bounds the wait and forgets
        what it no longer wants."""
        link = self._links.get(peer_id)
        req_id = next(self._ids)
        if link is None:
            not_a_peer = PeerUnavailable(f"{peer_id} is not a peer")
            not_a_peer.unsent = True
            asyncio.get_running_loop().call_soon(on_done, None, not_a_peer)
        elif link.connected:
            link.send(req_id, message, on_done)
        else:
            asyncio.ensure_future(self._connect_and_send(link, req_id, message, on_done))
        return req_id

    async def _connect_and_send(self, link: "_PeerLink", req_id: int, message,
                                on_done) -> None:
        try:
            await link.ensure_connected()
        except PeerUnavailable as exc:
            exc.unsent = True  # no connection: nothing was sent
            if on_done is not None:
                on_done(None, exc)
            return
        if on_done is None:
            self._send_one_way(link, message)
        else:
            link.send(req_id, message, on_done)

    def send_one_way(self, peer_id: str, message) -> None:
        """Send ``message`` with nothing to answer it (request id 0): best effort,
        dropped (logged at debug) if the peer cannot take it."""
        link = self._links.get(peer_id)
        if link is None:
            log.debug("one-way %s to unknown peer %s dropped", type(message).__name__,
                      peer_id)
        elif link.connected:
            self._send_one_way(link, message)
        else:
            asyncio.ensure_future(self._connect_and_send(link, 0, message, None))

    @staticmethod
    def _send_one_way(link: "_PeerLink", message) -> None:
        try:
            link.proto.send(0, message)
        except PeerError as exc:
            log.debug("one-way %s to %s dropped: %s", type(message).__name__,
                      link.peer_id, exc)

    def forget(self, peer_id: str, req_id: int) -> None:
        """Drop interest in a request: its ``on_done`` will not be called."""
        link = self._links.get(peer_id)
        if link is not None:
            link.pending.pop(req_id, None)

    async def request(self, peer_id: str, message):
        """Send ``message`` and wait for the reply (callers bound the wait)."""
        return await request_reply(self, peer_id, message)

    # ---- streams (net/stream.py) ----------------------------------------------------

    def _streams(self):
        if self.streams is None:
            from .stream import Streams
            self.streams = Streams(self)
        return self.streams

    def handle_stream(self, kind: str, handler) -> None:
        """Receive streams of ``kind`` with ``async handler(stream)``."""
        self._streams().accept(kind, handler)

    async def open_stream(self, peer_id: str, kind: str, header: bytes = b"", **options):
        """An opened stream of ``kind`` to ``peer_id`` (see net.stream.OutgoingStream)."""
        return await self._streams().open(peer_id, kind, header, **options)

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
