"""Chunked streams over a peer connection: large transfers (snapshots, range moves)
as a sequence of bounded chunks with flow control.

The sender opens a stream (``StreamOpen``, a request: the receiver accepts it or
answers a typed error), sends chunks (``StreamChunk``, requests numbered 1, 2, ...)
and ends it (``StreamEnd``, a request answered once the receiver's handler has
finished). At most ``window`` chunks are unacknowledged: a chunk is acknowledged
(``StreamAck``) once the receiver's handler has taken it and asks for the next, so
a slow receiver slows the sender and neither side holds more than ``window``
chunks of ``chunk_bytes`` each. Every message is far below ``MAX_FRAME_BYTES``.

A stream lives on one connection. It ends with an error on both sides when:

* the sender aborts it (``abort``: a one-way ``StreamAbort``), or its code fails;
* the receiver's handler raises: the chunks and the end it has not acknowledged
  are answered with an ``ErrorReply``, which fails the sender's next call;
* the connection is lost: the sender's pending chunks fail with PeerUnavailable,
  the receiver's handler gets a StreamError from its next read;
* either side breaks the protocol (a chunk out of order, over the window, or on a
  stream the receiver does not know).

    sender:   stream = await transport.open_stream(peer, "snapshot", header)
              await stream.send(data)     # waits while the window is full
              await stream.finish()       # the receiver's handler returned
    receiver: async def handler(stream):  # transport.handle_stream("snapshot", handler)
                  async for chunk in stream: ...   # in order; ends at the end
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from ..core import messages as m
from ..errors import ErrorCode, PeerError, StreamError

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 8
MAX_WINDOW = 64
DEFAULT_CHUNK_BYTES = 256 * 1024
MAX_CHUNK_BYTES = 1024 * 1024  # window x chunk bounds what one stream holds (64 MiB)
_END = object()


class OutgoingStream:
    """The sending side of one stream (made by ``Streams.open``)."""

    def __init__(self, transport, peer_id: str, stream_id: int, window: int,
                 chunk_bytes: int) -> None:
        self.transport, self.peer_id, self.stream_id = transport, peer_id, stream_id
        self.window, self.chunk_bytes = window, chunk_bytes
        self.sent = 0                       # chunks sent (the last seq)
        self._unacked: dict[int, int] = {}  # seq -> req_id
        self._room: asyncio.Future | None = None  # set when an ack frees a place
        self._connection = None  # the connection it lives on, once open
        self.error: Exception | None = None
        self.finished = False

    async def _open(self, kind: str, header: bytes) -> None:
        reply = await self._request(m.StreamOpen(self.stream_id, kind, header, self.window))
        self._connection = self.transport.connection(self.peer_id)
        self._check(reply, 0)

    async def send(self, data: bytes) -> None:
        """Send ``data`` as chunks of at most ``chunk_bytes``; waits while the window
        is full. Raises StreamError once the stream has failed."""
        view = memoryview(data)
        for pos in range(0, max(len(view), 1), self.chunk_bytes):
            await self._send_chunk(bytes(view[pos:pos + self.chunk_bytes]))

    async def _send_chunk(self, chunk: bytes) -> None:
        while len(self._unacked) >= self.window and self.error is None:
            self._room = asyncio.get_running_loop().create_future()
            await self._room
        self._raise_if_failed()
        self.sent += 1
        seq = self.sent
        self._unacked[seq] = self._send(m.StreamChunk(self.stream_id, seq, chunk),
                                        lambda reply, error: self._acked(seq, reply, error))

    async def finish(self) -> None:
        """End the stream: returns once the receiver's handler has returned."""
        self._raise_if_failed()
        reply = await self._request(m.StreamEnd(self.stream_id, self.sent))
        self._check(reply, self.sent + 1)
        self.finished = True

    def abort(self, message: str = "aborted by the sender") -> None:
        """End the stream with an error on both sides."""
        if self.error is None and not self.finished:
            self._fail(StreamError(f"stream {self.stream_id} to {self.peer_id}: {message}"))
            if self.transport.connection(self.peer_id) is self._connection:
                self.transport.send_one_way(self.peer_id,
                                            m.StreamAbort(self.stream_id, message))

    # ---- internals -------------------------------------------------------------

    def _send(self, message, on_done) -> int:
        if self._connection is not None and \
                self.transport.connection(self.peer_id) is not self._connection:
            self._fail(StreamError(f"stream {self.stream_id} to {self.peer_id}: "
                                   f"connection lost"))
            self._raise_if_failed()
        return self.transport.send_request(self.peer_id, message, on_done)

    async def _request(self, message):
        future = asyncio.get_running_loop().create_future()

        def on_done(reply, error) -> None:
            if not future.done():
                future.set_exception(error) if error else future.set_result(reply)

        req_id = self._send(message, on_done)
        try:
            return await future
        except PeerError as exc:
            self._fail(StreamError(f"stream {self.stream_id} to {self.peer_id}: {exc}"))
            self._raise_if_failed()
        finally:
            self.transport.forget(self.peer_id, req_id)

    def _acked(self, seq: int, reply, error) -> None:
        self._unacked.pop(seq, None)
        if error is not None:
            self._fail(StreamError(f"stream {self.stream_id} to {self.peer_id}: {error}"))
        else:
            try:
                self._check(reply, seq)
            except StreamError:
                pass  # _check recorded it
        self._wake()

    def _check(self, reply, seq: int) -> None:
        """The answer to message ``seq`` (0: the open; sent + 1: the end)."""
        if type(reply) is m.StreamAck and reply.stream_id == self.stream_id \
                and reply.seq == seq:
            return
        if type(reply) is m.ErrorReply:
            cause = reply.error()
            text = f"the receiver failed it: {cause}"
        else:
            cause, text = None, f"unexpected answer {reply!r}"
        error = StreamError(f"stream {self.stream_id} to {self.peer_id}: {text}")
        error.__cause__ = cause
        self._fail(error)
        self._raise_if_failed()

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
            for req_id in self._unacked.values():
                self.transport.forget(self.peer_id, req_id)
            self._unacked.clear()
        self._wake()

    def _wake(self) -> None:
        if self._room is not None and not self._room.done():
            self._room.set_result(None)

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error


class IncomingStream:
    """The receiving side of one stream, as its handler sees it: ``peer_id``,
    ``kind``, ``header``, and the chunks by ``async for`` (or ``await read()``,
    b"" at the end). Raises StreamError if the stream fails meanwhile."""

    def __init__(self, channel, stream_id: int, kind: str, header: bytes,
                 window: int) -> None:
        self.channel, self.stream_id = channel, stream_id
        self.peer_id, self.kind, self.header, self.window = channel.peer_id, kind, header, window
        self.expected = 1           # the next chunk's seq
        self._queue: list = []      # (seq, req_id, data), then perhaps (_END, req_id)
        self._waiter: asyncio.Future | None = None
        self._taken: tuple | None = None  # (seq, req_id) of the chunk the handler holds
        self.error: Exception | None = None
        self.ended = False

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        data = await self.read()
        if data is None:
            raise StopAsyncIteration
        return data

    async def read(self) -> bytes | None:
        """The next chunk, or None after the last one."""
        self._ack_taken()
        while not self._queue and self.error is None:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        if self.error is not None:
            raise self.error
        item = self._queue[0]
        if item[0] is _END:
            return None
        self._queue.pop(0)
        self._taken = item[:2]
        return item[2]

    # ---- from the connection -------------------------------------------------------

    def on_chunk(self, req_id: int, message: m.StreamChunk) -> str:
        """Queue a chunk; a protocol error is returned ("" if none)."""
        if message.seq != self.expected:
            return f"chunk {message.seq} where {self.expected} was expected"
        if len(message.data) > MAX_CHUNK_BYTES:
            return f"chunk of {len(message.data)} bytes over {MAX_CHUNK_BYTES}"
        if len(self._queue) + (self._taken is not None) >= self.window:
            return f"more than {self.window} chunks unacknowledged"
        self.expected += 1
        self._queue.append((message.seq, req_id, message.data))
        self._wake()
        return ""

    def on_end(self, req_id: int, message: m.StreamEnd) -> str:
        if message.chunks != self.expected - 1:
            return f"ended after {message.chunks} chunks, {self.expected - 1} received"
        self._queue.append((_END, req_id))
        self._wake()
        return ""

    def fail(self, error: Exception) -> None:
        """End with ``error``: the handler's next read raises it, and what waits for
        an acknowledgement is answered with it."""
        if self.error is not None:
            return
        self.error = error
        refusal = m.ErrorReply(ErrorCode.INTERNAL, str(error))
        waiting = [item[1] for item in self._queue]
        if self._taken is not None:
            waiting.append(self._taken[1])
        self._queue.clear()
        self._taken = None
        self.channel.send_later([(req_id, refusal) for req_id in waiting])
        self._wake()

    def finished(self) -> None:
        """The handler returned: acknowledge the end (and the last chunk)."""
        self._ack_taken()
        if self._queue and self._queue[0][0] is _END:
            self.ended = True
            self.channel.send_later([(self._queue.pop(0)[1],
                                      m.StreamAck(self.stream_id, self.expected))])
        else:
            self.fail(StreamError(f"stream {self.stream_id} from {self.peer_id}: the "
                                  f"handler returned before the end"))

    def _ack_taken(self) -> None:
        """The handler is done with the chunk it took: one more place in the window."""
        if self._taken is not None and self.error is None:
            seq, req_id = self._taken
            self.channel.send_later([(req_id, m.StreamAck(self.stream_id, seq))])
        self._taken = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


Handler = Callable[[IncomingStream], Awaitable[None]]


class Streams:
    """A transport's streams: opens outgoing ones, and serves the stream messages
    (registered in the transport's handler registry) for incoming ones."""

    def __init__(self, transport) -> None:
        self.transport = transport
        self.kinds: dict[str, Handler] = {}
        self.incoming: dict[tuple, IncomingStream] = {}  # (channel, stream id)
        self._watched: set = set()  # channels whose loss ends their streams
        self._ids = 0
        for cls, handler in ((m.StreamOpen, self._on_opens), (m.StreamChunk, self._on_chunks),
                             (m.StreamEnd, self._on_ends), (m.StreamAbort, self._on_aborts)):
            transport.handle(cls, handler)

    def accept(self, kind: str, handler: Handler) -> None:
        if kind in self.kinds:
            raise ValueError(f"streams of kind {kind!r} have a handler already")
        self.kinds[kind] = handler

    async def open(self, peer_id: str, kind: str, header: bytes = b"",
                   window: int = DEFAULT_WINDOW,
                   chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> OutgoingStream:
        if not 1 <= window <= MAX_WINDOW or not 1 <= chunk_bytes <= MAX_CHUNK_BYTES:
            raise ValueError(f"stream window must be 1..{MAX_WINDOW} and chunk_bytes "
                             f"1..{MAX_CHUNK_BYTES}")
        self._ids += 1
        stream = OutgoingStream(self.transport, peer_id, self._ids, window, chunk_bytes)
        await stream._open(kind, header)
        return stream

    # ---- incoming ---------------------------------------------------------------------

    def _on_opens(self, items: list, channel) -> list:
        replies = []
        for req_id, message in items:
            key = (channel, message.stream_id)
            handler = self.kinds.get(message.kind)
            if handler is None or key in self.incoming or \
                    not 1 <= message.window <= MAX_WINDOW:
                why = (f"no stream handler for kind {message.kind!r}" if handler is None
                       else f"stream {message.stream_id} is open already"
                       if key in self.incoming else f"window {message.window} not in "
                       f"1..{MAX_WINDOW}")
                replies.append((req_id, m.ErrorReply(ErrorCode.UNEXPECTED_MESSAGE, why)))
                continue
            stream = IncomingStream(channel, message.stream_id, message.kind,
                                    message.header, message.window)
            self.incoming[key] = stream
            if channel not in self._watched:
                self._watched.add(channel)
                channel.on_lost(lambda c=channel: self._channel_lost(c))
            asyncio.ensure_future(self._run(key, stream, handler))
            replies.append((req_id, m.StreamAck(message.stream_id, 0)))
        return replies

    async def _run(self, key: tuple, stream: IncomingStream, handler: Handler) -> None:
        try:
            await handler(stream)
        except Exception as exc:
            if stream.error is None:
                log.warning("stream %d (%s) from %s failed in its handler: %s",
                            stream.stream_id, stream.kind, stream.peer_id, exc)
                stream.fail(StreamError(f"stream {stream.stream_id} failed at the "
                                        f"receiver: {type(exc).__name__}: {exc}"))
        else:
            if stream.error is None:
                stream.finished()
        finally:
            self.incoming.pop(key, None)

    def _stream(self, channel, req_id: int, stream_id: int, replies: list):
        stream = self.incoming.get((channel, stream_id))
        if stream is None and req_id:
            replies.append((req_id, m.ErrorReply(ErrorCode.UNEXPECTED_MESSAGE,
                                                 f"no open stream {stream_id}")))
        return stream

    def _on_chunks(self, items: list, channel) -> list:
        replies: list = []
        for req_id, message in items:
            stream = self._stream(channel, req_id, message.stream_id, replies)
            if stream is not None:
                self._protocol_check(stream, req_id, stream.on_chunk(req_id, message))
        return replies

    def _on_ends(self, items: list, channel) -> list:
        replies: list = []
        for req_id, message in items:
            stream = self._stream(channel, req_id, message.stream_id, replies)
            if stream is not None:
                self._protocol_check(stream, req_id, stream.on_end(req_id, message))
        return replies

    @staticmethod
    def _protocol_check(stream: IncomingStream, req_id: int, problem: str) -> None:
        if problem:
            stream._queue.append((None, req_id))  # answered with the error too
            stream.fail(StreamError(f"stream {stream.stream_id} from {stream.peer_id}: "
                                    f"{problem}"))

    def _on_aborts(self, items: list, channel) -> None:
        for _, message in items:
            stream = self.incoming.get((channel, message.stream_id))
            if stream is not None:
                stream.fail(StreamError(f"stream {message.stream_id} from "
                                        f"{stream.peer_id} aborted: {message.message}"))

    def _channel_lost(self, channel) -> None:
        self._watched.discard(channel)
        for key, stream in list(self.incoming.items()):
            if key[0] is channel:
                stream.fail(StreamError(f"stream {stream.stream_id} from "
                                        f"{stream.peer_id}: connection lost"))
