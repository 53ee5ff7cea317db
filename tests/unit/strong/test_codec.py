"""The commands' msgpack encoding: round trips, and garbage is one error."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from quorumkv.core.strong import commands as c
from quorumkv.core.strong.record import Session, decode_session, encode_session
from quorumkv.core.strong.replies import (
    Array, Bulk, Error, Int, Nil, Ok, reply_from_wire, reply_to_wire, to_resp,
)

from .strategies import COMMANDS, PROPOSALS


@given(PROPOSALS)
@settings(max_examples=300, deadline=None)
def test_a_proposal_round_trips(p):
    assert c.decode_proposal(c.encode_proposal(p)) == p


@given(COMMANDS)
@settings(max_examples=200, deadline=None)
def test_a_command_round_trips(command):
    assert c.decode_command(c.encode_command(command)) == command


@given(st.binary(max_size=64))
@settings(max_examples=500, deadline=None)
def test_random_bytes_decode_or_raise_the_codec_error_only(raw):
    for decode in (c.decode_proposal, c.decode_command):
        try:
            decode(raw)
        except c.CodecError:
            pass


@given(PROPOSALS, st.data())
@settings(max_examples=200, deadline=None)
def test_a_mangled_proposal_decodes_or_raises_the_codec_error_only(p, data):
    raw = bytearray(c.encode_proposal(p))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255))
    try:
        c.decode_proposal(bytes(raw))
    except c.CodecError:
        pass


def _pack(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


@pytest.mark.parametrize("wire", [
    [c.Get.TAG],                                  # a field short
    [c.Get.TAG, b"k", b"extra"],                  # a field over
    [c.Get.TAG, "k"],                             # a str key
    [c.Incr.TAG, b"k", 2**63],                    # beyond int64
    [c.Incr.TAG, b"k", True],                     # a bool is not an int
    [c.Set.TAG, b"k", b"v", -1, False, False, False, False],  # negative expiry
    [c.MGet.TAG, []],                             # no keys
    [c.MSet.TAG, [[b"k"]]],                       # a pair of one
    [c.Expire.TAG, b"k", 5, ["ZZ"]],              # unknown condition
    [c.Txn.TAG, [[c.Txn.TAG, [], []]], []],       # transactions do not nest
    [c.Txn.TAG, [], [[b"k", -1]]],                # a negative watched version
    [99, b"k"],                                   # unknown tag
    {"tag": 1},                                   # not an array
])
def test_malformed_commands_are_refused(wire):
    with pytest.raises(c.CodecError):
        c.decode_command(_pack(wire))


@pytest.mark.parametrize("wire", [
    [2, 0, None, 0, [c.Get.TAG, b"k"]],      # another format
    [c.FORMAT, -1, None, 0, [c.Get.TAG, b"k"]],
    [c.FORMAT, 0, "client", 0, [c.Get.TAG, b"k"]],
    [c.FORMAT, 0, None, 0],
    [c.FORMAT, 0, b"x" * (c.MAX_CLIENT_ID_BYTES + 1), 0, [c.Get.TAG, b"k"]],
])
def test_malformed_proposals_are_refused(wire):
    with pytest.raises(c.CodecError):
        c.decode_proposal(_pack(wire))


def test_the_encoding_is_the_documented_array():
    p = c.Proposal(c.Set(b"k", b"v", expiry_ms=5, nx=True), 1000, b"cl", 7)
    assert msgpack.unpackb(c.encode_proposal(p)) == [
        c.FORMAT, 1000, b"cl", 7, [c.Set.TAG, b"k", b"v", 5, False, True, False, False]]


REPLIES = [Ok(3), Nil(), Nil(array=True, version=2), Bulk(b"x", 4), Int(-5), Error("ERR x"),
           Array((Ok(), Nil(), Array((Int(1),))), 9)]


@pytest.mark.parametrize("reply", REPLIES)
def test_replies_round_trip_through_a_session_record(reply):
    assert reply_from_wire(reply_to_wire(reply)) == reply
    session = Session(3, 10, 1000, reply)
    assert decode_session(encode_session(session)) == session


def test_tags_are_unique_and_every_command_has_a_handler():
    from quorumkv.core.strong.machine import _HANDLERS
    tags = [cls.TAG for cls in c._BY_TAG.values()]
    assert len(tags) == len(set(tags))
    assert set(c._BY_TAG.values()) - {c.Txn} == set(_HANDLERS)


@pytest.mark.parametrize("reply, resp2, resp3", [
    (Ok(1), b"+OK\r\n", b"+OK\r\n"),
    (Nil(), b"$-1\r\n", b"_\r\n"),
    (Nil(array=True), b"*-1\r\n", b"_\r\n"),   # EXEC after a WATCHed key changed
    (Bulk(b"10.6", 2), b"$4\r\n10.6\r\n", b"$4\r\n10.6\r\n"),
    (Int(-2), b":-2\r\n", b":-2\r\n"),
    (Error("ERR value is not a valid float"), b"-ERR value is not a valid float\r\n",
     b"-ERR value is not a valid float\r\n"),
    (Array((Ok(), Error("ERR x"), Nil(), Int(2))), b"*4\r\n+OK\r\n-ERR x\r\n$-1\r\n:2\r\n",
     b"*4\r\n+OK\r\n-ERR x\r\n_\r\n:2\r\n"),
])
def test_replies_as_redis_sends_them(reply, resp2, resp3):
    """The null array and the EXEC array as redis-server 7.0.15 sent them on a raw
    socket (RESP2, and RESP3 after HELLO 3)."""
    assert to_resp(reply) == resp2 and to_resp(reply, resp3=True) == resp3
