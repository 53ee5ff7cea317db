"""Stored forms: user records, session and applied-index keys, snapshot spans,
and the hash-tag placement that keeps a transaction's keys in one range."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from quorumkv.core import keys
from quorumkv.core.placement.partitioner import (
    hash_placement_key, hash_tag, key_hash, placement_key_with_tag,
)
from quorumkv.core.strong import applied_index_record, parse_applied_index, snapshot_spans
from quorumkv.core.strong.record import Record, RecordError, decode_record, encode_record


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.binary(max_size=40))
def test_a_user_record_round_trips(version, expiry_ms, value):
    raw = encode_record(version, expiry_ms, value)
    assert decode_record(raw) == Record(version, expiry_ms, value)


@pytest.mark.parametrize("raw", [b"", b"S" + b"\0" * 15, b"X" + b"\0" * 16])
def test_what_is_not_a_user_record_is_refused(raw):
    with pytest.raises(RecordError):
        decode_record(raw)


def test_the_record_layout_is_the_documented_one():
    header = b"S" + (7).to_bytes(8, "big") + (9).to_bytes(8, "big")
    assert encode_record(7, 9, b"v") == header + b"v"


def test_applied_index_record_round_trips_and_is_a_system_key():
    key, value = applied_index_record(5, 123)
    assert key == b"\xff\xffA" + (5).to_bytes(8, "big") and keys.is_system_key(key)
    assert parse_applied_index(value) == 123 and parse_applied_index(None) == 0
    with pytest.raises(RecordError):
        parse_applied_index(b"\x01")


def test_session_keys_of_a_range_are_one_span_that_no_other_range_shares():
    lo, hi = keys.prefix_span(keys.session_prefix(5))
    mine = keys.session_key(5, b"client")
    assert mine == b"\xff\xffC" + (5).to_bytes(8, "big") + b"client"
    assert lo <= mine < hi and keys.session_client(mine) == b"client"
    for other in (keys.session_key(4, b"\xff" * 8), keys.session_key(6, b""),
                  keys.applied_index_key(5)):
        assert not lo <= other < hi


def test_snapshot_spans_hold_user_records_sessions_and_applied_index_only():
    spans = snapshot_spans(3, 5, b"b", b"m")

    def covered(key):
        return any(lo <= key < hi for lo, hi in spans)
    assert covered(keys.storage_key(3, b"b")) and covered(keys.storage_key(3, b"lzz"))
    assert covered(keys.session_key(5, b"c")) and covered(keys.applied_index_key(5))
    for outside in (keys.storage_key(3, b"m"), keys.storage_key(3, b"a"), keys.storage_key(4, b"c"),
                    keys.session_key(6, b"c"), keys.applied_index_key(6), keys.WATERMARK_KEY):
        assert not covered(outside)


@pytest.mark.parametrize("key, tag", [
    (b"{user1000}.following", b"user1000"), (b"foo{}{bar}", b"foo{}{bar}"),
    (b"foo{{bar}}zap", b"{bar"), (b"foo{bar}{zap}", b"bar"), (b"{a", b"{a"), (b"a}b{", b"a}b{"),
    (b"plain", b"plain"), (b"", b""),
])
def test_hash_tag_is_redis_clusters_rule(key, tag):
    """The examples of the Redis Cluster specification's hash tags section."""
    assert hash_tag(key) == tag


def test_keys_sharing_a_tag_share_the_hash_prefix_and_untagged_keys_keep_theirs():
    a, b = placement_key_with_tag(b"{u1}.cart"), placement_key_with_tag(b"{u1}.orders")
    assert a[:8] == b[:8] == key_hash(b"u1").to_bytes(8, "big")
    assert a[8:] == b"{u1}.cart"
    assert placement_key_with_tag(b"plain") == hash_placement_key(b"plain")
