"""Chunked streams (net/stream.py) between two transports over loopback: chunks
arrive in order, the window bounds what is unacknowledged, an error on either side
ends the stream on both, and every frame stays bounded."""

from __future__ import annotations

import asyncio

import pytest

from quorumkv.core import messages as m
from quorumkv.errors import StreamError
from quorumkv.net import stream as s
from quorumkv.net import transport as t

from .test_transport import WAIT_S, address, started, until


async def pair():
    b = await started("b")
    a = await started("a", {"b": address(b)})
    return a, b


def bounded(coro):
    return asyncio.wait_for(coro, WAIT_S)


def test_chunks_arrive_in_order_then_the_end():
    data = bytes(range(256)) * 4000  # about 1 MB, cut into 64 kB chunks

    async def scenario():
        a, b = await pair()
        got, headers = [], []

        async def receive(stream):
            headers.append((stream.peer_id, stream.kind, stream.header))
            async for chunk in stream:
                got.append(chunk)

        b.handle_stream("snapshot", receive)
        try:
            out = await bounded(a.open_stream("b", "snapshot", b"range 7",
                                              window=4, chunk_bytes=64 * 1024))
            await bounded(out.send(data))
            await bounded(out.send(b"tail"))
            await bounded(out.finish())
            return got, headers, out
        finally:
            await a.close()
            await b.close()

    got, headers, out = asyncio.run(scenario())
    assert headers == [("a", "snapshot", b"range 7")]
    assert b"".join(got) == data + b"tail"
    assert max(len(c) for c in got) == 64 * 1024  # every chunk bounded
    assert out.finished and out.sent == len(got)


def test_the_sender_never_has_more_than_the_window_unacknowledged():
    window = 3

    async def scenario():
        a, b = await pair()
        release = asyncio.Event()
        taken = []

        async def slow(stream):
            async for chunk in stream:
                taken.append(chunk)
                await release.wait()  # the receiver stalls on its first chunk

        b.handle_stream("slow", slow)
        try:
            out = await bounded(a.open_stream("b", "slow", window=window, chunk_bytes=10))
            sending = asyncio.ensure_future(out.send(b"x" * 10 * 20))  # 20 chunks
            await until(lambda: out.sent >= window or sending.done(), "the window filled")
            # the receiver holds one chunk and has acknowledged none: the sender may
            # have sent ``window`` chunks; stalled, it stays there
            for _ in range(50):
                await asyncio.sleep(0)
            stalled_at, unacked = out.sent, len(out._unacked)
            stalled = not sending.done()
            release.set()
            await bounded(sending)
            await bounded(out.finish())
            return stalled_at, unacked, stalled, taken
        finally:
            await a.close()
            await b.close()

    stalled_at, unacked, stalled, taken = asyncio.run(scenario())
    assert stalled and stalled_at == window and unacked == window
    assert len(taken) == 20


def test_a_receiver_that_fails_ends_the_stream_with_an_error_at_the_sender():
    async def scenario():
        a, b = await pair()
        failures = []

        async def picky(stream):
            async for chunk in stream:
                if chunk == b"bad":
                    raise ValueError("cannot ingest this chunk")

        b.handle_stream("picky", picky)
        try:
            out = await bounded(a.open_stream("b", "picky", window=2, chunk_bytes=3))
            try:
                for piece in (b"ok1", b"bad", b"ok2", b"ok3", b"ok4"):
                    await bounded(out.send(piece))
                await bounded(out.finish())
            except StreamError as exc:
                failures.append(exc)
            with pytest.raises(StreamError):  # and it stays failed
                await bounded(out.send(b"more"))
            return failures, b.streams.incoming
        finally:
            await a.close()
            await b.close()

    failures, incoming = asyncio.run(scenario())
    assert len(failures) == 1 and "cannot ingest this chunk" in str(failures[0])
    assert incoming == {}


def test_a_sender_that_aborts_ends_the_stream_with_an_error_at_the_receiver():
    async def scenario():
        a, b = await pair()
        outcome = asyncio.get_running_loop().create_future()

        async def receive(stream):
            try:
                async for _ in stream:
                    pass
            except StreamError as exc:
                outcome.set_result(exc)
                raise
            outcome.set_result(None)

        b.handle_stream("k", receive)
        try:
            out = await bounded(a.open_stream("b", "k"))
            await bounded(out.send(b"first"))
            out.abort("the range moved elsewhere")
            with pytest.raises(StreamError, match="the range moved elsewhere"):
                await bounded(out.send(b"second"))
            return await bounded(outcome)
        finally:
            await a.close()
            await b.close()

    error = asyncio.run(scenario())
    assert isinstance(error, StreamError) and "the range moved elsewhere" in str(error)


def test_a_lost_connection_ends_the_stream_on_both_sides():
    async def scenario():
        a, b = await pair()
        outcome = asyncio.get_running_loop().create_future()
        got = []

        async def receive(stream):
            try:
                async for chunk in stream:
                    got.append(chunk)
            except StreamError as exc:
                outcome.set_result(exc)

        b.handle_stream("k", receive)
        try:
            out = await bounded(a.open_stream("b", "k", window=2, chunk_bytes=4))
            await bounded(out.send(b"1234"))
            await until(lambda: got, "the first chunk received")
            a._links["b"].close()  # the connection breaks
            receiver_error = await bounded(outcome)
            with pytest.raises(StreamError, match="lost"):
                for _ in range(10):  # bounded: it fails at the latest on reconnecting
                    await bounded(out.send(b"5678"))
            return receiver_error
        finally:
            await a.close()
            await b.close()

    assert "connection lost" in str(asyncio.run(scenario()))


def test_a_stream_of_an_unknown_kind_is_refused_at_open():
    async def scenario():
        a, b = await pair()
        b.handle_stream("known", lambda stream: None)
        try:
            with pytest.raises(StreamError, match="no stream handler for kind 'other'"):
                await bounded(a.open_stream("b", "other"))
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())


def test_stream_limits_keep_frames_bounded():
    async def scenario():
        a, _ = await pair()
        try:
            with pytest.raises(ValueError):
                await a.open_stream("b", "k", chunk_bytes=s.MAX_CHUNK_BYTES + 1)
            with pytest.raises(ValueError):
                await a.open_stream("b", "k", window=s.MAX_WINDOW + 1)
        finally:
            await a.close()

    asyncio.run(scenario())
    # a full window of maximal chunks is far below one frame's limit
    assert s.MAX_WINDOW * s.MAX_CHUNK_BYTES <= t.MAX_QUEUED_BYTES
    assert len(m.encode(1, m.StreamChunk(1, 1, b"x" * s.MAX_CHUNK_BYTES))) < t.MAX_FRAME_BYTES


def test_chunks_out_of_order_or_over_the_window_fail_the_stream():
    class Channel:
        peer_id = "a"

        def __init__(self) -> None:
            self.sent: list = []

        def send_later(self, replies) -> None:
            self.sent.extend(replies)

    async def scenario():
        results = {}
        for case, chunks in {"out of order": [(1, 1), (2, 3)],
                             "over the window": [(1, 1), (2, 2), (3, 3)]}.items():
            stream = s.IncomingStream(Channel(), 9, "k", b"", window=2)
            problems = [stream.on_chunk(req_id, m.StreamChunk(9, seq, b"x"))
                        for req_id, seq in chunks]
            results[case] = problems
        return results

    results = asyncio.run(scenario())
    assert results["out of order"][0] == "" and "chunk 3 where 2" in results["out of order"][1]
    assert results["over the window"][:2] == ["", ""]
    assert "more than 2 chunks unacknowledged" in results["over the window"][2]
