"""Peer frames: many messages per frame, any split of the byte stream."""

import asyncio

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core import messages as m
from quorumkv.core.version import Version
from quorumkv.net import transport as t


class Wire:
    """A fake asyncio transport that records what is written."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True


def receiver():
    got = []
    proto = t.FrameProtocol(lambda p, items: got.extend(items))
    proto.connection_made(Wire())
    return proto, got


@given(st.integers(0, 70000))
def test_array_header_is_msgpacks_own(n):
    assert t._array_header(n) == msgpack.packb([None] * n)[:-n or None]


messages = st.one_of(
    st.builds(m.Put, st.just("default"), st.binary(max_size=40),
              st.builds(Version, st.integers(0, 2**62), st.sampled_from(["n1", "n2"]),
                        st.booleans(), st.integers(0, 2**40), st.binary(max_size=300)),
              st.integers(1, 2**40), st.integers(1, 2**40)),
    st.builds(m.Get, st.just("default"), st.binary(max_size=40), st.booleans(),
              st.integers(1, 2**40), st.integers(1, 2**40)),
    st.just(m.PutAck()),
    st.builds(m.PutAcks, st.lists(st.integers(1, 2**40), max_size=5).map(tuple)),
    st.builds(m.ErrorReply, st.sampled_from(list(m.ErrorCode)), st.text(max_size=30)),
)


@settings(max_examples=60)
@given(st.lists(st.lists(st.tuples(st.integers(-2**40, 2**40), messages), max_size=20),
                min_size=1, max_size=4),
       st.sets(st.integers(0, 20000), max_size=30))
def test_frames_round_trip_under_any_split(turns, cuts):
    async def scenario():
        sender = t.FrameProtocol(lambda p, items: None)
        wire = Wire()
        sender.connection_made(wire)
        for turn in turns:  # each loop turn's messages become one frame
            for req_id, message in turn:
                sender.send(req_id, message)
            await asyncio.sleep(0)
        return bytes(wire.data)

    data = asyncio.run(scenario())
    proto, got = receiver()
    bounds = [0] + sorted(c for c in cuts if 0 < c < len(data)) + [len(data)]
    for a, b in zip(bounds, bounds[1:]):
        proto.data_received(data[a:b])
    assert got == [item for turn in turns for item in turn]
    assert not proto.transport.closed


def test_a_big_turn_is_cut_into_frames_under_the_batch_size():
    async def scenario():
        sender = t.FrameProtocol(lambda p, items: None)
        wire = Wire()
        sender.connection_made(wire)
        value = b"v" * (t.BATCH_BYTES // 4)
        for i in range(10):
            sender.send(i + 1, m.Put("default", b"k%d" % i, Version(i, "n1", value=value), 1, 1))
        await asyncio.sleep(0)
        return bytes(wire.data)

    data = asyncio.run(scenario())
    sizes, pos = [], 0
    while pos < len(data):
        (length,) = t.HEADER.unpack_from(data, pos)
        sizes.append(length)
        pos += 4 + length
    assert len(sizes) >= 3 and max(sizes) < 2 * t.BATCH_BYTES
    proto, got = receiver()
    proto.data_received(data)
    assert [req_id for req_id, _ in got] == list(range(1, 11))


def test_a_frame_that_is_not_an_array_of_messages_closes_the_connection():
    proto, got = receiver()
    body = msgpack.packb([1, m.Get.TAG, "default", b"k"])  # one message, not an array
    proto.data_received(t.HEADER.pack(len(body)) + body)
    assert got == [] and proto.transport.closed


replies = st.lists(st.tuples(st.integers(1, 2**40),
                             st.sampled_from([m.PUT_ACK, m.PutAck(), m.ErrorReply(m.ErrorCode.INTERNAL, "boom"),
                                              m.GetReply(None)])),
                   max_size=12, unique_by=lambda r: r[0])


@given(replies, st.sets(st.integers(1, 2**40), max_size=5))
def test_coalesced_acks_reach_every_waiting_request_once(batch, extra_waiting):
    """A batch of replies, as the wire carries it (write acks folded into one
    PutAcks) and back: every waiting request gets its own reply exactly once, and
    requests with no reply in the batch keep waiting."""
    wire = t.replies_on_wire(batch)
    acks = sum(1 for _, r in batch if type(r) is m.PutAck)
    assert sum(type(msg) is m.PutAcks for _, msg in wire) == (1 if acks >= 2 else 0)
    received = [m.decode_body(msgpack.unpackb(m.encode(i, msg), raw=False)) for i, msg in wire]
    calls: dict[int, list] = {}
    waiting = {req_id for req_id, _ in batch} | extra_waiting
    pending = {req_id: (lambda reply, error, req_id=req_id:
                        calls.setdefault(req_id, []).append((reply, error)))
               for req_id in waiting}
    t.deliver_replies(pending, received)
    assert calls == {req_id: [(reply, None)] for req_id, reply in batch}
    assert set(pending) == waiting - {req_id for req_id, _ in batch}
