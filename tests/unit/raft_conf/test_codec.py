"""Raft traffic survives the wire, garbage is a CodecError only, and coalesced
heartbeats expand back to exactly the per-group messages they replaced.

Round trips go through real bytes (``encode`` then ``decode``), so arrays coming
back as lists and enums coming back as ints are part of the test.
"""

from __future__ import annotations

from collections import Counter

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core import messages as m
from quorumkv.core.raft import codec
from quorumkv.core.raft.codec import GroupBeat, NodeHeartbeat, NodeHeartbeatResp, RaftBatch
from quorumkv.core.raft.types import (LOCAL_MESSAGES, ConfState, Entry, EntryType, Message,
                                      MessageType, Snapshot, SnapshotMeta)

uints = st.integers(0, 2**64 - 1)
ids = st.text(max_size=6)
id_sets = st.frozensets(ids, max_size=4)
entries = st.builds(Entry, uints, uints, st.binary(max_size=24), st.sampled_from(EntryType))
conf_states = st.builds(ConfState, id_sets, id_sets, id_sets, id_sets, st.booleans())
snapshots = st.builds(Snapshot, st.builds(SnapshotMeta, uints, uints, conf_states),
                      st.binary(max_size=24))
WIRE_TYPES = [t for t in MessageType if t not in LOCAL_MESSAGES]
messages = st.builds(
    Message, st.sampled_from(WIRE_TYPES), ids, ids, uints, uints, uints,
    st.lists(entries, max_size=3).map(tuple), uints, st.booleans(), uints,
    st.one_of(st.none(), snapshots), st.binary(max_size=8))
group_ids = st.integers(0, 2**64 - 1)
batches = st.builds(RaftBatch, st.lists(
    st.tuples(group_ids, st.lists(messages, max_size=3).map(tuple)), max_size=4).map(tuple))
beats = st.lists(st.builds(GroupBeat, group_ids, uints, uints, st.binary(max_size=8)),
                 max_size=5).map(tuple)
heartbeats = st.one_of(st.builds(NodeHeartbeat, ids, ids, beats),
                       st.builds(NodeHeartbeatResp, ids, ids, beats))
req_ids = st.integers(-(2**63), 2**63 - 1)


def roundtrip(req_id, message):
    return codec.decode(codec.encode(req_id, message))


# ---- round trips ---------------------------------------------------------------------------

@given(req_ids, batches)
def test_a_batch_comes_back_equal_with_its_enums(req_id, batch):
    got_id, got = roundtrip(req_id, batch)
    assert (got_id, got) == (req_id, batch)
    for _, msgs in got.groups:
        for msg in msgs:
            assert type(msg.type) is MessageType
            assert all(type(e.type) is EntryType for e in msg.entries)


@given(req_ids, heartbeats)
def test_a_node_heartbeat_comes_back_equal(req_id, heartbeat):
    got_id, got = roundtrip(req_id, heartbeat)
    assert (got_id, type(got), got) == (req_id, type(heartbeat), heartbeat)


def test_every_field_of_a_message_travels():
    snap = Snapshot(SnapshotMeta(7, 3, ConfState(frozenset({"n1", "n2"}), frozenset({"n4"}),
                                                 frozenset({"n1", "n2", "n3"}),
                                                 frozenset({"n3"}), True)), b"state")
    msg = Message(MessageType.SNAP, "n2", "n1", 4, 3, 9,
                  (Entry(3, 10, b"cc", EntryType.CONF_CHANGE),), 8, True, 6, snap, b"ctx")
    _, batch = roundtrip(0, RaftBatch(((12, (msg,)),)))
    assert batch.groups == ((12, (msg,)),)


def test_the_tags_are_a_block_of_their_own():
    assert all(80 <= tag <= 89 for tag in codec.RAFT_TAGS)
    raft_types = (codec.RaftBatch, codec.NodeHeartbeat, codec.NodeHeartbeatResp)
    others = {cls.TAG for cls in m.MESSAGE_TYPES if cls not in raft_types}
    assert not set(codec.RAFT_TAGS) & others
    # and they travel in the peer frames: messages.extend registered them
    assert all(cls in m.MESSAGE_TYPES for cls in raft_types)
    batch = codec.RaftBatch(((1, ()),))
    assert m.decode_body(msgpack.unpackb(m.encode(3, batch))) == (3, batch)


def test_a_local_message_is_never_encoded():
    with pytest.raises(ValueError, match="HUP is a local message"):
        codec.encode(1, RaftBatch(((1, (Message(MessageType.HUP),)),)))


# ---- refusals ------------------------------------------------------------------------------

GOOD = codec.message_fields(Message(MessageType.APP, "n2", "n1", 2, 1, 5,
                                    (Entry(2, 6, b"x"),), 5))


def with_field(i, value):
    fields = list(GOOD)
    fields[i] = value
    return fields


@pytest.mark.parametrize("body, problem", [
    ([1, 99], "tag 99 is not a Raft message"),
    ([1, m.Put.TAG], "is not a Raft message"),
    (["1", 80, []], "req_id / tag are not integers"),
    ([1], "not enough values"),
    ("x", "a body is not an array"),
    ([1, 80, [[1, [with_field(0, int(MessageType.HUP))]]]], "type 0 is not sent on the wire"),
    ([1, 80, [[1, [with_field(0, 77)]]]], "type 77 is not sent"),
    ([1, 80, [[1, [with_field(3, -1)]]]], "term is not a non-negative integer"),
    ([1, 80, [[1, [with_field(3, True)]]]], "term is not a non-negative integer"),
    ([1, 80, [[1, [with_field(1, b"n2")]]]], "to / frm are not strings"),
    ([1, 80, [[1, [with_field(8, 0)]]]], "reject / context"),
    ([1, 80, [[1, [with_field(6, [[2, 6, 0, "x"]])]]]], r"entry is not \[term"),
    ([1, 80, [[1, [with_field(6, [[2, 6, 5, b"x"]])]]]], "5"),  # unknown entry type
    ([1, 80, [[1, [with_field(10, [1, 1, [[], [], [], [], 0], b""])]]]], "auto_leave"),
    ([1, 80, [[1, [with_field(10, [1, 1, [[1], [], [], [], False], b""])]]]],
     "voters is not an array of strings"),
    ([1, 80, [[1, [GOOD[:11]]]]], "a message is not an array of 12"),
    ([1, 80, [[-1, [GOOD]]]], "group id is not a non-negative"),
    ([1, 81, "n1", "n2", [[1, 2, 3]]], "a group beat is not an array of 4"),
    ([1, 82, "n1", "n2", [[1, 2, 3, "c"]]], "beat context is not bytes"),
    ([1, 81, "n1", 2, []], "frm / to are not strings"),
])
def test_a_malformed_body_is_refused_with_what_is_wrong(body, problem):
    with pytest.raises(codec.CodecError, match=f"bad Raft message: .*{problem}"):
        codec.decode(msgpack.packb(body, use_bin_type=True))


def test_the_codec_error_is_the_transports_decode_error():
    assert issubclass(codec.CodecError, m.DecodeError)


def test_the_good_body_of_the_refusal_table_decodes():
    # the table above differs from this body in the one field each case names
    _, batch = codec.decode(msgpack.packb([1, 80, [[1, [GOOD]]]], use_bin_type=True))
    assert batch.groups[0][1][0].entries == (Entry(2, 6, b"x"),)


@settings(max_examples=500)
@given(st.binary(max_size=96))
def test_random_bytes_raise_only_codec_error(data):
    try:
        codec.decode(data)
    except codec.CodecError:
        pass


plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.text(max_size=4),
              st.binary(max_size=4), st.floats(allow_nan=False)),
    lambda children: st.lists(children, max_size=5), max_leaves=30)


@settings(max_examples=500)
@given(req_ids, st.sampled_from(codec.RAFT_TAGS), st.lists(plain, max_size=4))
def test_random_values_under_a_raft_tag_raise_only_codec_error(req_id, tag, fields):
    try:
        codec.decode(msgpack.packb([req_id, tag, *fields], use_bin_type=True))
    except codec.CodecError:
        pass


@settings(max_examples=300)
@given(batches, st.data())
def test_a_damaged_batch_raises_only_codec_error(batch, data):
    raw = bytearray(codec.encode(1, batch))
    cut = data.draw(st.integers(0, len(raw)))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    for damaged in (bytes(raw), bytes(raw[:cut])):
        try:
            codec.decode(damaged)
        except codec.CodecError:
            pass


# ---- coalesced heartbeats --------------------------------------------------------------------

NODES = ["n1", "n2", "n3"]
beat_messages = st.builds(
    lambda kind, to, frm, term, commit, context: Message(kind, to, frm, term, commit=commit,
                                                         context=context),
    st.sampled_from([MessageType.HEARTBEAT, MessageType.HEARTBEAT_RESP]),
    st.sampled_from(NODES), st.sampled_from(NODES), uints, uints, st.binary(max_size=4))
outgoing = st.lists(st.tuples(st.integers(0, 5), st.one_of(beat_messages, messages)),
                    max_size=12)


@given(outgoing)
def test_collapse_then_expand_gives_back_every_heartbeat_in_order(out):
    node_beats, rest = codec.collapse_heartbeats(out)
    pairs = [(type(hb), hb.frm, hb.to) for hb in node_beats]
    assert len(pairs) == len(set(pairs)), "one node heartbeat per pair and kind"
    for hb in node_beats:
        kind = codec._BEAT_TYPES[type(hb)]
        theirs = [(g, msg) for g, msg in out if (msg.type, msg.frm, msg.to)
                  == (kind, hb.frm, hb.to) and (g, msg) not in rest]
        assert codec.expand_heartbeat(hb) == theirs
    expanded = [x for hb in node_beats for x in codec.expand_heartbeat(hb)]
    assert Counter(expanded) + Counter(rest) == Counter(out), "nothing lost or added"
    assert rest == [x for x in out if x in rest], "the rest keeps its order"


@given(heartbeats)
def test_expand_then_collapse_gives_back_the_node_heartbeat(heartbeat):
    node_beats, rest = codec.collapse_heartbeats(codec.expand_heartbeat(heartbeat))
    assert rest == []
    assert node_beats == ([heartbeat] if heartbeat.beats else [])


def test_a_heartbeat_with_more_than_a_beat_holds_travels_as_it_is():
    odd = Message(MessageType.HEARTBEAT, "n2", "n1", 3, index=4)  # not one raft.py sends
    node_beats, rest = codec.collapse_heartbeats([(1, odd)])
    assert (node_beats, rest) == ([], [(1, odd)])


def test_heartbeats_of_many_groups_become_one_per_node_pair():
    out = [(g, Message(MessageType.HEARTBEAT, to, "n1", 5, commit=g)) for g in range(1, 65)
           for to in ("n2", "n3")]
    node_beats, rest = codec.collapse_heartbeats(out)
    assert rest == [] and [(hb.frm, hb.to) for hb in node_beats] == [("n1", "n2"),
                                                                    ("n1", "n3")]
    assert [b.commit for b in node_beats[0].beats] == list(range(1, 65))


@given(st.lists(st.tuples(st.integers(0, 5), messages), max_size=12))
def test_batches_by_destination_keep_every_message_and_each_groups_order(out):
    batches_ = codec.batch_by_destination(out)
    for node, batch in batches_.items():
        assert [g for g, _ in batch.groups] == list(dict.fromkeys(
            g for g, msg in out if msg.to == node)), "each group once, first seen first"
        for g, msgs in batch.groups:
            assert list(msgs) == [msg for h, msg in out if h == g and msg.to == node]
    assert sum(len(msgs) for b in batches_.values() for _, msgs in b.groups) == len(out)
