"""The peer transport over real loopback sockets: handler registry, one-way
messages, protocol-version handshake, peers added and removed at run time, and
backpressure (bounded send queues). Streams are in test_streams.py.

Every wait is bounded (``asyncio.wait_for``) and waits for a condition, not for
time to pass.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from quorumkv.core import messages as m
from quorumkv.core.version import Version
from quorumkv.errors import (ErrorCode, FrameTooLarge, PeerOverloaded, PeerRefused,
                             PeerUnavailable, RemoteInternalError)
from quorumkv.net import transport as t

WAIT_S = 5.0


def hello(node_id: str) -> m.Hello:
    return m.Hello(node_id, "c1", "fp", "{}")


async def started(node_id: str, peers=None, version: int = m.PROTOCOL_VERSION,
                  **options) -> t.PeerTransport:
    tr = t.PeerTransport("127.0.0.1", 0, peers or {}, hello=hello(node_id),
                         check_hello=lambda h: "", protocol_version=version, **options)
    await tr.start()
    tr.port = tr._server.sockets[0].getsockname()[1]
    return tr


def address(tr: t.PeerTransport) -> tuple[str, int]:
    return "127.0.0.1", tr.port


async def ask(tr: t.PeerTransport, peer: str, message):
    return await asyncio.wait_for(tr.request(peer, message), WAIT_S)


async def until(condition, what: str) -> None:
    """Wait (bounded) until ``condition()`` holds, one loop turn at a time."""
    async def poll():
        while not condition():
            await asyncio.sleep(0.001)
    try:
        await asyncio.wait_for(poll(), WAIT_S)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def pong_handler(node_id: str, seen: list):
    def handler(items, channel):
        seen.append((channel.peer_id, list(items)))
        return [(req_id, m.Pong(node_id)) for req_id, _ in items]
    return handler


# ---- the registry ----------------------------------------------------------------


def test_a_read_reaches_each_types_handler_once_with_all_its_messages():
    handlers = t.Handlers()
    calls = []
    handlers.handle(m.Get, lambda items, ch: calls.append(("get", items)) or
                    [(r, m.GetReply(None)) for r, _ in items])
    handlers.handle(m.Ping, lambda items, ch: calls.append(("ping", items)) or
                    [(r, m.Pong("n1")) for r, _ in items])
    items = [(1, m.Get("default", b"a", False, 1, 1)), (2, m.Ping()),
             (3, m.Get("default", b"b", False, 1, 1)), (4, m.Stats())]
    replies = handlers.dispatch(items, channel=None)
    assert calls == [("get", [items[0], items[2]]), ("ping", [items[1]])]
    by_id = dict(replies)
    assert by_id[1] == by_id[3] == m.GetReply(None) and by_id[2] == m.Pong("n1")
    assert by_id[4].code == ErrorCode.UNEXPECTED_MESSAGE and "Stats" in by_id[4].message
    assert isinstance(by_id[4].error(), RemoteInternalError)


def test_a_handler_that_raises_has_its_batch_answered_internal_errors():
    handlers = t.Handlers()

    def broken(items, channel):
        raise RuntimeError("bug")

    handlers.handle(m.Ping, broken)
    replies = handlers.dispatch([(1, m.Ping()), (2, m.Ping())], channel=None)
    assert [r for r, _ in replies] == [1, 2]
    assert all(e.code == ErrorCode.INTERNAL and "RuntimeError: bug" in e.message
               for _, e in replies)


def test_one_handler_per_type_and_only_message_types():
    handlers = t.Handlers()
    handlers.handle(m.Ping, lambda items, ch: None)
    with pytest.raises(ValueError, match="Ping has a handler already"):
        handlers.handle(m.Ping, lambda items, ch: None)
    with pytest.raises(ValueError, match="not a peer message type"):
        handlers.handle(dict, lambda items, ch: None)


def test_replies_to_one_way_messages_never_reach_the_wire():
    wire = t.replies_on_wire([(0, m.PUT_ACK), (0, m.Pong("n1")), (5, m.Pong("n1")),
                              (0, m.ErrorReply(ErrorCode.INTERNAL, "x"))])
    assert wire == [(-5, m.Pong("n1"))]
    wire = t.replies_on_wire([(0, m.PUT_ACK), (3, m.PUT_ACK), (4, m.PUT_ACK)])
    assert wire == [(0, m.PutAcks((3, 4)))]


def test_requests_are_served_by_the_registered_handlers_over_loopback():
    async def scenario():
        seen: list = []
        b = await started("b")
        b.handle(m.Ping, pong_handler("b", seen))
        a = await started("a", {"b": address(b)})
        try:
            answers = await asyncio.gather(*(ask(a, "b", m.Ping()) for _ in range(5)))
            unknown = await ask(a, "b", m.Stats())
            return answers, unknown, seen
        finally:
            await a.close()
            await b.close()

    answers, unknown, seen = asyncio.run(scenario())
    assert answers == [m.Pong("b")] * 5
    assert type(unknown) is m.ErrorReply and unknown.code == ErrorCode.UNEXPECTED_MESSAGE
    assert sum(len(items) for _, items in seen) == 5
    assert {peer for peer, _ in seen} == {"a"}  # the channel knows who sent it


def test_a_request_that_never_left_says_so_and_one_lost_on_the_way_does_not():
    """``unsent``: a forwarded write may be sent to another replica only if it
    certainly never reached the first (node/raft/strong.py)."""
    async def scenario():
        held: list = []
        b = await started("b")
        b.handle(m.Ping, lambda items, channel: held.extend(items))  # never answers
        dead = await started("dead")
        dead_address = address(dead)
        await dead.close()  # nothing listens there any more
        a = await started("a", {"b": address(b), "gone": dead_address})
        try:
            errors = []
            for peer in ("gone", "nobody"):
                try:
                    await ask(a, peer, m.Ping())
                except PeerUnavailable as exc:
                    errors.append(exc)
            lost = asyncio.ensure_future(ask(a, "b", m.Ping()))
            await until(lambda: held, "b to hold the request")
            await b.close()  # the connection drops with the request in flight
            try:
                await lost
            except PeerUnavailable as exc:
                errors.append(exc)
            return errors
        finally:
            await a.close()

    never_connected, not_a_peer, in_flight = asyncio.run(scenario())
    assert never_connected.unsent and not_a_peer.unsent
    assert not in_flight.unsent


# ---- one-way messages --------------------------------------------------------------


def test_a_one_way_message_is_served_and_nothing_answers_it():
    async def scenario():
        seen: list = []
        b = await started("b")
        b.handle(m.Ping, pong_handler("b", seen))
        a = await started("a", {"b": address(b)})
        try:
            await ask(a, "b", m.Ping())  # connected, the handshake done
            received: list = []
            link = a._links["b"]
            real = link.proto._on_messages
            link.proto._on_messages = lambda p, items: (received.extend(items), real(p, items))
            a.send_one_way("b", m.Ping())
            await until(lambda: len(seen) == 2, "the one-way Ping served")
            reply = await ask(a, "b", m.Ping())  # after the one-way one, on the same wire
            return seen, received, reply, link.pending
        finally:
            await a.close()
            await b.close()

    seen, received, reply, pending = asyncio.run(scenario())
    assert seen[1][1] == [(0, m.Ping())]
    assert reply == m.Pong("b")
    assert len(received) == 1 and received[0][1] == m.Pong("b") and received[0][0] < 0
    assert pending == {}


def test_a_one_way_message_to_a_peer_not_yet_connected_connects_first():
    async def scenario():
        seen: list = []
        b = await started("b")
        b.handle(m.Ping, pong_handler("b", seen))
        a = await started("a", {"b": address(b)})
        try:
            a.send_one_way("b", m.Ping())
            await until(lambda: seen, "the one-way Ping served")
            return seen
        finally:
            await a.close()
            await b.close()

    assert asyncio.run(scenario())[0][1] == [(0, m.Ping())]


# ---- the protocol version in the handshake ------------------------------------------


def test_a_join_request_is_answered_once_on_its_own_connection():
    async def scenario():
        b = await started("b")
        seen = []

        async def on_join(request):
            seen.append(request)
            return m.JoinReply("", "c1", "[cluster]\n", b"\x90")
        b.on_join = on_join
        try:
            request = m.JoinRequest(b"\x96", "c1")
            reply = await t.request_join("127.0.0.1", b.port, "127.0.0.1", request, WAIT_S)
            await until(lambda: not b._inbound, "the join connection to close")
            return reply, seen
        finally:
            await b.close()

    reply, seen = asyncio.run(scenario())
    assert reply == m.JoinReply("", "c1", "[cluster]\n", b"\x90")
    assert seen == [m.JoinRequest(b"\x96", "c1")]


def test_a_node_that_takes_no_joins_says_so_and_an_unreachable_one_fails():
    async def scenario():
        b = await started("b")  # on_join is None
        try:
            refused = await t.request_join("127.0.0.1", b.port, "127.0.0.1",
                                           m.JoinRequest(b"", ""), WAIT_S)
        finally:
            await b.close()
        with pytest.raises(PeerUnavailable, match="cannot join through"):
            await t.request_join("127.0.0.1", b.port, "127.0.0.1",
                                 m.JoinRequest(b"", ""), WAIT_S)
        return refused

    assert asyncio.run(scenario()).refusal == "this node does not take joins"


def test_peers_of_different_protocol_versions_refuse_each_other_on_both_sides(caplog):
    caplog.set_level(logging.ERROR, logger="quorumkv.net.transport")

    async def scenario():
        b = await started("b", version=2)
        b.handle(m.Ping, pong_handler("b", []))
        a = await started("a", {"b": address(b)}, version=3)
        try:
            with pytest.raises(PeerRefused) as first:
                await ask(a, "b", m.Ping())
            # the refused side backs off: the next request fails at once, unsent
            with pytest.raises(PeerRefused):
                await ask(a, "b", m.Ping())
            return str(first.value), a._links["b"]._retry_after - asyncio.get_running_loop().time()
        finally:
            await a.close()
            await b.close()

    refusal, backoff = asyncio.run(scenario())
    both = "node a speaks peer protocol version 3, node b version 2"
    assert both in refusal
    assert backoff > 0.5
    lines = [r.getMessage() for r in caplog.records]
    assert any("refused a peer connection from node a" in line and both in line
               for line in lines), lines                  # b's side
    assert any("refused our handshake" in line and both in line
               for line in lines), lines                  # a's side


def test_a_peer_that_accepts_another_version_is_refused_by_the_asker(monkeypatch):
    """If the answering side did not check (an older rule), the asker still does."""
    real = m.version_refusal
    monkeypatch.setattr(m, "version_refusal", lambda node_id, version, me, mine:
                        "" if me == "b" else real(node_id, version, me, mine))  # b accepts

    async def scenario():
        b = await started("b", version=4)
        a = await started("a", {"b": address(b)}, version=2)
        try:
            with pytest.raises(PeerRefused) as refused:
                await ask(a, "b", m.Ping())
            return str(refused.value)
        finally:
            await a.close()
            await b.close()

    assert "node b speaks peer protocol version 4, node a version 2" in asyncio.run(scenario())


class Wire:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name):
        return ("127.0.0.1", 40000) if name == "peername" else None


def test_a_version_1_peer_is_refused_in_the_reply_shape_it_can_read():
    import msgpack

    async def scenario():
        tr = t.PeerTransport("127.0.0.1", 0, {}, hello=hello("n1"), check_hello=lambda h: "")
        proto = tr._make_inbound()
        wire = Wire()
        proto.connection_made(wire)
        body = msgpack.packb([[1, m.Hello.TAG, "n2", "c1", "fp", "{}"]])  # no version
        proto.data_received(t.HEADER.pack(len(body)) + body)
        return wire

    wire = asyncio.run(scenario())
    (reply,) = msgpack.unpackb(bytes(wire.data[4:]), raw=False)
    assert reply[:2] == [-1, m.HelloReply.TAG] and len(reply) == 7  # 5 fields: v1's shape
    assert (f"node n2 speaks peer protocol version 1, node n1 version {m.PROTOCOL_VERSION}"
            in reply[6])
    assert wire.closed


# ---- peers added and removed at run time -------------------------------------------------


def test_peers_are_added_and_removed_at_run_time():
    async def scenario():
        b = await started("b")
        b.handle(m.Ping, pong_handler("b", []))
        held: list = []
        b.handle(m.Stats, lambda items, ch: held.extend(items))  # never answered
        a = await started("a")
        try:
            with pytest.raises(PeerUnavailable, match="not a peer"):
                await ask(a, "b", m.Ping())
            a.add_peer("b", *address(b))
            assert await ask(a, "b", m.Ping()) == m.Pong("b")
            assert a.is_connected("b") and a.peers() == {"b": address(b)}
            outcome = asyncio.get_running_loop().create_future()
            a.send_request("b", m.Stats(), lambda reply, error: outcome.set_result(error))
            await until(lambda: held, "the Stats request at b")
            a.remove_peer("b")
            error = await asyncio.wait_for(outcome, WAIT_S)
            assert not a.is_connected("b") and a.peers() == {}
            with pytest.raises(PeerUnavailable, match="not a peer"):
                await ask(a, "b", m.Ping())
            # b's side of the connection closes too
            await until(lambda: not b._inbound, "b's inbound connection closed")
            a.add_peer("b", *address(b))  # and back again
            return error, await ask(a, "b", m.Ping())
        finally:
            await a.close()
            await b.close()

    error, again = asyncio.run(scenario())
    assert isinstance(error, PeerUnavailable) and "removed" in str(error)
    assert again == m.Pong("b")


def test_a_removed_peer_that_connects_is_refused_and_its_requests_fail():
    async def scenario():
        a = await started("a")
        b = await started("b", {"a": address(a)})
        a.handle(m.Ping, pong_handler("a", []))
        held: list = []
        a.handle(m.Stats, lambda items, ch: held.extend(items))
        try:
            outcome = asyncio.get_running_loop().create_future()
            b.send_request("a", m.Stats(), lambda reply, error: outcome.set_result(error))
            await until(lambda: held, "the Stats request at a")
            a.remove_peer("b")  # a never knew b as a peer of its own, but b connects
            error = await asyncio.wait_for(outcome, WAIT_S)
            with pytest.raises(PeerRefused, match="was removed"):
                await ask(b, "a", m.Ping())
            return error
        finally:
            await a.close()
            await b.close()

    error = asyncio.run(scenario())
    assert isinstance(error, PeerUnavailable) and "lost" in str(error)


def test_a_peer_added_at_another_address_replaces_the_old_one():
    async def scenario():
        b1, b2 = await started("b"), await started("b")
        b1.handle(m.Ping, pong_handler("b1", []))
        b2.handle(m.Ping, pong_handler("b2", []))
        a = await started("a", {"b": address(b1)})
        try:
            first = await ask(a, "b", m.Ping())
            a.add_peer("b", *address(b2))
            return first, await ask(a, "b", m.Ping())
        finally:
            for tr in (a, b1, b2):
                await tr.close()

    assert asyncio.run(scenario()) == (m.Pong("b1"), m.Pong("b2"))


# ---- backpressure: bounded send queues --------------------------------------------------


def test_a_peer_that_does_not_read_makes_requests_fail_fast_within_the_bound():
    """A peer accepts the connection and never reads: the kernel's buffers fill,
    the transport pauses, frames wait in the bounded queue, and then requests fail
    at once with PeerOverloaded; the queue never passes its bound."""
    limit = 1024 * 1024
    value = b"v" * (64 * 1024)

    async def scenario():
        transports = []

        def never_read():
            class Silent(asyncio.Protocol):
                def connection_made(self, transport):
                    transport.pause_reading()
                    transports.append(transport)
            return Silent()

        server = await asyncio.get_running_loop().create_server(never_read, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        a = t.PeerTransport("127.0.0.1", 0, {"b": ("127.0.0.1", port)},
                            max_queued_bytes=limit)  # no handshake: b never answers one
        errors: list = []
        most = 0
        try:
            for i in range(4000):  # bounded: far more than the kernel buffers hold
                a.send_request("b", m.Put("default", b"k%d" % i, Version(i + 1, "a",
                                                                         value=value), 1, 1),
                               lambda reply, error: errors.append(error))
                await asyncio.sleep(0)
                proto = a._links["b"].proto
                if proto is not None:
                    most = max(most, proto._held_bytes + proto._out_bytes)
                if any(isinstance(e, PeerOverloaded) for e in errors):
                    break
            overloaded = [e for e in errors if isinstance(e, PeerOverloaded)]
            paused = a._links["b"].proto.paused
            # the peer starts reading: the queue drains and requests are taken again
            for transport in transports:
                transport.resume_reading()
            await until(lambda: not a._links["b"].proto.paused, "writing resumed")
            before = len(errors)
            a.send_request("b", m.Ping(), lambda reply, error: errors.append(error))
            await asyncio.sleep(0)
            return overloaded, paused, most, errors[before:]
        finally:
            await a.close()
            server.close()

    overloaded, paused, most, after = asyncio.run(scenario())
    assert overloaded and paused
    assert "send queue full" in str(overloaded[0])
    assert most <= limit + len(value) + 1024
    assert after == []  # taken, not refused


def test_pause_writing_holds_frames_and_resume_sends_them_in_order():
    class PausingWire(Wire):
        def __init__(self) -> None:
            super().__init__()
            self.reading = True

        def writelines(self, frames) -> None:
            for frame in frames:
                self.write(frame)

        def pause_reading(self) -> None:
            self.reading = False

        def resume_reading(self) -> None:
            self.reading = True

        def get_write_buffer_size(self) -> int:
            return 0

    async def scenario():
        proto = t.FrameProtocol(lambda p, items: None, max_queued_bytes=4096,
                                pause_reads=True)
        wire = PausingWire()
        proto.connection_made(wire)
        proto.send(1, m.Ping())
        await asyncio.sleep(0)
        written = len(wire.data)
        proto.pause_writing()
        assert not wire.reading  # an inbound connection stops reading while paused
        proto.send(2, m.Ping())
        await asyncio.sleep(0)
        held = len(wire.data) == written and proto._held_bytes > 0
        with pytest.raises(PeerOverloaded):
            for i in range(100):  # bounded: 100 x 1 KiB passes the 4 KiB bound
                proto.send(3 + i, m.Put("default", b"k", Version(1, "a", value=b"v" * 1024), 1, 1))
                await asyncio.sleep(0)
        proto.resume_writing()
        return held, wire, proto

    held, wire, proto = asyncio.run(scenario())
    assert held and wire.reading and proto._held_bytes == 0
    got = []
    receiver = t.FrameProtocol(lambda p, items: got.extend(items))
    receiver.connection_made(Wire())
    receiver.data_received(bytes(wire.data))
    ids = [req_id for req_id, _ in got]
    assert ids[:2] == [1, 2] and ids == sorted(ids) and len(ids) > 2


def test_a_message_too_large_for_a_frame_is_refused_before_sending(monkeypatch):
    monkeypatch.setattr(t, "MAX_BODY_BYTES", 10_000)
    monkeypatch.setattr(t, "BATCH_BYTES", 8_000)  # so a 20 kB message takes the slow path

    async def scenario():
        seen: list = []
        b = await started("b")
        b.handle(m.Put, lambda items, ch: seen.extend(items) or [(r, m.PUT_ACK)
                                                                 for r, _ in items])
        a = await started("a", {"b": address(b)})
        try:
            with pytest.raises(FrameTooLarge, match="exceeds the peer frame limit"):
                await ask(a, "b", m.Put("default", b"k", Version(1, "a", value=b"v" * 20_000),
                                        1, 1))
            small = await ask(a, "b", m.Put("default", b"k", Version(1, "a", value=b"v"), 1, 1))
            return seen, small
        finally:
            await a.close()
            await b.close()

    seen, small = asyncio.run(scenario())
    assert small == m.PUT_ACK and len(seen) == 1  # the large one never left
