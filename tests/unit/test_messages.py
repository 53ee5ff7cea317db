"""Peer messages survive the wire, and garbage is reported as DecodeError only.

The roundtrip goes through real msgpack bytes (``encode`` then ``unpackb``), exactly
as the frame reader does, so tuples coming back as lists are part of the test.
A peer frame that cannot be decoded must raise :class:`DecodeError` and nothing
else: the connection handler maps that one exception, and anything else escaping
would be an unhandled crash in the node.
"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core import messages as m
from quorumkv.core.raft import codec  # its messages are peer messages too

from .raft_conf import test_codec as raft_codec_tests
from quorumkv.core.version import Version

req_ids = st.integers(-(2**63), 2**63 - 1)
texts = st.text(max_size=16)
small_bytes = st.binary(max_size=32)
versions = st.builds(
    Version,
    ts=st.integers(0, 2**64 - 1),
    node_id=texts,
    tombstone=st.booleans(),
    expiry_ms=st.integers(0, 2**64 - 1),
    value=small_bytes,
)
uints = st.integers(0, 2**64 - 1)
# what an error's payload may hold (descriptors as plain data), arrays as tuples
plain_data = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), texts, small_bytes),
    lambda children: st.one_of(st.lists(children, max_size=4).map(tuple),
                               st.dictionaries(texts, children, max_size=3)),
    max_leaves=10)

# the range id and generation a range request was routed by
address = {"range_id": uints, "generation": uints}

STRATEGIES = {
    m.Put: st.builds(m.Put, keyspace=texts, key=small_bytes, version=versions, **address),
    m.PutAck: st.just(m.PutAck()),
    m.PutAcks: st.builds(m.PutAcks, req_ids=st.lists(st.integers(1, 2**63 - 1)).map(tuple)),
    m.Get: st.builds(m.Get, keyspace=texts, key=small_bytes, digest=st.booleans(), **address),
    m.GetReply: st.builds(m.GetReply, version=st.one_of(st.none(), versions)),
    m.Scan: st.builds(m.Scan, keyspace=texts, start=small_bytes, end=small_bytes, limit=uints,
                      **address),
    m.ScanReply: st.builds(
        m.ScanReply,
        items=st.lists(st.tuples(small_bytes, versions), max_size=4).map(tuple),
        truncated=st.booleans(),
        last_pkey=small_bytes,
    ),
    m.Stats: st.just(m.Stats()),
    m.StatsReply: st.builds(m.StatsReply, node_id=texts, keys=uints, bytes=uints, hlc=uints),
    m.Ping: st.just(m.Ping()),
    m.TreeRequest: st.builds(m.TreeRequest, keyspace=texts, start=st.binary(max_size=9),
                             end=st.binary(max_size=9), depth=st.integers(0, 20),
                             root=st.binary(max_size=16), truncated=uints, **address),
    m.TreeReply: st.builds(m.TreeReply, root=st.binary(max_size=16),
                           leaves=st.binary(max_size=64), truncated=uints),
    m.DigestRequest: st.builds(m.DigestRequest, keyspace=texts, start=st.binary(max_size=9),
                               end=st.binary(max_size=9), depth=st.integers(0, 20),
                               buckets=st.lists(st.integers(0, 2**20)).map(tuple),
                               **address),
    m.DigestReply: st.builds(m.DigestReply, items=st.lists(
        st.tuples(st.binary(max_size=20), st.integers(0, 2**64 - 1))).map(tuple)),
    m.FetchRequest: st.builds(m.FetchRequest, keyspace=texts,
                              pkeys=st.lists(st.binary(max_size=20)).map(tuple), **address),
    m.FetchReply: st.builds(m.FetchReply, items=st.lists(
        st.tuples(st.binary(max_size=20), versions)).map(tuple)),
    m.Pong: st.builds(m.Pong, node_id=texts, incarnation=uints),
    m.Truncate: st.builds(m.Truncate, keyspace=texts, ts=uints, sync=st.booleans()),
    m.TruncationsRequest: st.just(m.TruncationsRequest()),
    m.TruncationsReply: st.builds(m.TruncationsReply, items=st.lists(
        st.tuples(texts, uints), max_size=4).map(tuple)),
    m.RangeStatsRequest: st.just(m.RangeStatsRequest()),
    m.RangeStatsReply: st.builds(m.RangeStatsReply, node_id=texts, rows=st.lists(
        st.tuples(*[st.integers(-1, 2**63 - 1)] * 7), max_size=4).map(tuple)),
    m.RaftStatusRequest: st.just(m.RaftStatusRequest()),
    m.RaftStatusReply: st.builds(m.RaftStatusReply, node_id=texts, rows=st.lists(st.tuples(
        uints, texts, uints, texts, uints, uints,
        st.lists(st.tuples(texts, uints, uints, texts), max_size=3).map(tuple)),
        max_size=3).map(tuple)),
    m.ErrorReply: st.builds(m.ErrorReply, code=st.integers(0, 2**16), message=texts,
                            payload=st.lists(plain_data, max_size=3).map(tuple)),
    m.Hello: st.builds(m.Hello, node_id=texts, cluster_id=texts, layout_fingerprint=texts,
                       layout=texts, protocol_version=st.integers(0, 2**16)),
    m.HelloReply: st.builds(m.HelloReply, node_id=texts, cluster_id=texts,
                            layout_fingerprint=texts, layout=texts, refusal=texts,
                            protocol_version=st.integers(0, 2**16)),
    m.StreamOpen: st.builds(m.StreamOpen, stream_id=uints, kind=texts, header=small_bytes,
                            window=st.integers(0, 100)),
    m.StreamChunk: st.builds(m.StreamChunk, stream_id=uints, seq=uints, data=small_bytes),
    m.StreamEnd: st.builds(m.StreamEnd, stream_id=uints, chunks=uints),
    m.StreamAck: st.builds(m.StreamAck, stream_id=uints, seq=uints),
    m.StreamAbort: st.builds(m.StreamAbort, stream_id=uints, message=texts),
    m.StrongRequest: st.builds(m.StrongRequest, range_id=uints, generation=uints,
                               command=small_bytes, client_id=small_bytes, seq=uints),
    m.StrongReply: st.builds(m.StrongReply, reply=st.lists(
        st.one_of(st.integers(0, 2**32), small_bytes), max_size=4)),
    m.MetaRequest: st.builds(m.MetaRequest, command=small_bytes),
    m.MetaReply: st.builds(m.MetaReply, result=small_bytes),
    m.JoinRequest: st.builds(m.JoinRequest, node=small_bytes, cluster_id=texts,
                             protocol_version=st.integers(0, 2**16)),
    m.JoinReply: st.builds(m.JoinReply, refusal=texts, cluster_id=texts,
                           cluster_toml=texts, members=small_bytes),
    # the Raft traffic core/raft/codec.py adds to the protocol (imported above)
    codec.RaftBatch: raft_codec_tests.batches,
    codec.NodeHeartbeat: raft_codec_tests.heartbeats.filter(
        lambda h: type(h) is codec.NodeHeartbeat),
    codec.NodeHeartbeatResp: raft_codec_tests.heartbeats.filter(
        lambda h: type(h) is codec.NodeHeartbeatResp),
}


def wire(req_id: int, message) -> tuple[int, object]:
    """What the receiving side gets back from the bytes ``encode`` produced."""
    return m.decode_body(msgpack.unpackb(m.encode(req_id, message), raw=False))


def test_every_message_type_has_a_strategy_and_a_unique_tag():
    assert set(STRATEGIES) == set(m.MESSAGE_TYPES)
    tags = [cls.TAG for cls in m.MESSAGE_TYPES]
    assert len(set(tags)) == len(tags)


@pytest.mark.parametrize("cls", m.MESSAGE_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=40)
@given(data=st.data(), req_id=req_ids)
def test_roundtrip(cls, data, req_id):
    message = data.draw(STRATEGIES[cls], label="message")
    got_id, got = wire(req_id, message)
    assert got_id == req_id
    assert type(got) is cls
    assert got == message


def test_a_body_is_req_id_tag_then_fields_in_order():
    v = Version(7, "n1", False, 0, b"v")
    body = msgpack.unpackb(m.encode(5, m.Put("ks", b"k", v, 3, 2)), raw=False)
    assert body == [5, m.Put.TAG, "ks", b"k", [7, "n1", False, 0, b"v"], 3, 2]
    assert msgpack.unpackb(m.encode(-5, m.PutAck()), raw=False) == [-5, m.PutAck.TAG]
    truncate = msgpack.unpackb(m.encode(6, m.Truncate("ks", 2**60, True)), raw=False)
    assert truncate == [6, 19, "ks", 2**60, True]
    reply = msgpack.unpackb(m.encode(-6, m.TruncationsReply((("ks", 9),))), raw=False)
    assert reply == [-6, 21, [["ks", 9]]]
    tree = msgpack.unpackb(m.encode(7, m.TreeRequest("ks", b"", b"", 10, b"r", 9, 4, 5)),
                           raw=False)
    assert tree == [7, m.TreeRequest.TAG, "ks", b"", b"", 10, b"r", 9, 4, 5]


GARBAGE = [
    pytest.param(None, id="not-a-list-none"),
    pytest.param(5, id="not-a-list-int"),
    pytest.param([], id="empty"),
    pytest.param([1], id="no-tag"),
    pytest.param([1, 99], id="unknown-tag"),
    pytest.param([1, "Put"], id="tag-is-a-string"),
    pytest.param([1, [1]], id="tag-is-unhashable"),
    pytest.param([1, m.Get.TAG, "ks"], id="get-missing-field"),
    pytest.param([1, m.Get.TAG, "ks", b"k", b"extra"], id="get-extra-field"),
    pytest.param([1, m.Put.TAG, "ks", b"k"], id="put-missing-version"),
    pytest.param([1, m.Put.TAG, "ks", b"k", None], id="put-version-none"),
    pytest.param([1, m.Put.TAG, "ks", b"k", ["x", "n1", False, 0, b""]], id="put-ts-not-int"),
    pytest.param([1, m.GetReply.TAG], id="getreply-missing-version"),
    pytest.param([1, m.ScanReply.TAG, [[b"k"]], False, b""], id="scanreply-item-short"),
    pytest.param([1, m.ScanReply.TAG, 5, False, b""], id="scanreply-items-not-list"),
    pytest.param([1, m.Truncate.TAG, "ks"], id="truncate-missing-ts"),
    pytest.param([1, m.Truncate.TAG, "ks", 5, 1], id="truncate-sync-not-bool"),
    pytest.param([1, m.Truncate.TAG, "ks", True, False], id="truncate-ts-bool"),
    pytest.param([1, m.TruncationsReply.TAG, [["ks"]]], id="truncations-item-short"),
    pytest.param([1, m.TruncationsReply.TAG, [[b"ks", 5]]], id="truncations-keyspace-bytes"),
    pytest.param([1, m.TreeReply.TAG, b"r", b"", "5"], id="treereply-truncated-str"),
]


@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_bodies_raise_decode_error(body):
    with pytest.raises(m.DecodeError):
        m.decode_body(body)


# A version that is a list, but not a well-formed one. ``Version.from_tuple`` indexes
# and coerces without checking, so these escape as IndexError / OverflowError or are
# silently turned into a different value. (Core bug; see the report.)
MALFORMED_VERSIONS = [
    pytest.param([1], id="too-short"),
    pytest.param([1, "n1", False, 0], id="value-missing"),
    pytest.param([1, "n1", False, 0, 2**63], id="value-huge-int"),
    pytest.param([1, "n1", False, 0, 3], id="value-int-becomes-zero-bytes"),
    pytest.param([1, "n1", False, 0, [104, 105]], id="value-list-becomes-bytes"),
    pytest.param([1, "n1", False, 0, b"v", "extra"], id="too-long"),
]


@pytest.mark.parametrize("version", MALFORMED_VERSIONS)
def test_malformed_versions_in_put_raise_decode_error(version):
    with pytest.raises(m.DecodeError):
        m.decode_body([1, m.Put.TAG, "ks", b"k", version])


@pytest.mark.parametrize("body", [
    pytest.param([1, m.Get.TAG, 5, None], id="get-keyspace-int-key-none"),
    pytest.param([1, m.Put.TAG, "ks", "key-as-str", [1, "n1", False, 0, b""]], id="put-key-str"),
    pytest.param([1, m.Scan.TAG, "ks", b"", b"", "ten"], id="scan-limit-str"),
    pytest.param([1, m.ScanReply.TAG, [], "yes", b""], id="scanreply-truncated-str"),
])
def test_wrongly_typed_fields_raise_decode_error(body):
    # A field of the wrong type would otherwise surface later, deep in a handler or
    # the storage engine, as an unrelated TypeError.
    with pytest.raises(m.DecodeError):
        m.decode_body(body)


# Small msgpack-able values only: ints stay small so that a coerced ``bytes(n)``
# cannot try to allocate gigabytes.
msgpack_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.text(max_size=4),
              st.binary(max_size=4)),
    lambda children: st.lists(children, max_size=6),
    max_leaves=12,
)


# Lists of scalars are what versions and scan items look like on the wire; the
# fields are drawn mostly from them so that the version decoding gets fuzzed too.
scalar_lists = st.lists(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.text(max_size=3),
              st.binary(max_size=3)),
    max_size=7,
)
fields_ = st.one_of(scalar_lists, st.lists(scalar_lists, max_size=3), msgpack_values)


@settings(max_examples=300)
@given(st.one_of(
    msgpack_values,
    st.tuples(st.integers(-3, 3), st.sampled_from([c.TAG for c in m.MESSAGE_TYPES]),
              st.lists(fields_, max_size=5)).map(lambda t: [t[0], t[1], *t[2]]),
))
def test_decode_body_raises_only_decode_error(body):
    try:
        m.decode_body(body)
    except m.DecodeError:
        pass


@given(st.lists(st.tuples(req_ids, STRATEGIES[m.Put]), min_size=1, max_size=5), st.data())
def test_a_put_sent_to_several_replicas_encodes_as_each_one_alone(sends, data):
    """Encoding reuses the body of the Put it encoded last (a write goes to every
    replica): each encoding must still be the plain msgpack of its own body."""
    for req_id, put in sends:
        for rid in (req_id, data.draw(req_ids)):  # the same Put again, another id
            expected = msgpack.packb([rid, m.Put.TAG, put.keyspace, put.key,
                                      list(put.version), put.range_id, put.generation],
                                     use_bin_type=True)
            assert m.encode(rid, put) == expected
