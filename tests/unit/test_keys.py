"""The storage key layout (core/keys.py): exact bytes, round trips, spans."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quorumkv.core import hints as h
from quorumkv.core import keys
from quorumkv.core import truncation as tr
from quorumkv.core.version import Version

user_ids = st.integers(0, keys.MAX_KEYSPACE_ID)
pkeys = st.binary(max_size=40)
targets = st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=1, max_size=20)


def test_the_bytes_are_those_existing_data_directories_hold():
    """The layout before core/keys.py existed, byte for byte: a change here needs
    a migration of every data directory."""
    assert keys.storage_key(1, b"pk") == b"\x00\x01pk"
    assert keys.WATERMARK_KEY == b"\xff\xffW"
    assert keys.truncation_key(1) == b"\xff\xffT\x00\x01"
    assert keys.owed_key("n3", 2) == b"\xff\xffU\x02n3\x00\x02"
    assert keys.hint_key("n2", Version(5, "n1"), 1, b"pk") == \
        b"\xff\xffH\x02n2" + b"\x00" * 7 + b"\x05" + b"\x00\x01pk"
    assert keys.keyspace_span(1) == (b"\x00\x01", b"\x00\x02")
    # the modules that owned these helpers hand out the same ones
    assert h.hint_key is keys.hint_key and tr.owed_key is keys.owed_key
    assert tr.truncation_key is keys.truncation_key


@given(user_ids, pkeys)
def test_a_user_key_round_trips_and_stays_in_its_keyspace(keyspace_id, pkey):
    skey = keys.storage_key(keyspace_id, pkey)
    assert keys.split_key(skey) == (keyspace_id, pkey)
    lo, hi = keys.keyspace_span(keyspace_id)
    assert lo <= skey < hi
    assert not keys.is_system_key(skey)
    assert skey < keys.SYSTEM_PREFIX  # every user record sorts below every system one


@given(user_ids, targets, st.integers(0, 2**63 - 1), pkeys)
def test_no_system_record_falls_in_a_user_keyspace(keyspace_id, target, ts, pkey):
    lo, hi = keys.keyspace_span(keyspace_id)
    sys_lo, sys_hi = keys.system_span()
    for skey in (keys.WATERMARK_KEY, keys.truncation_key(keyspace_id),
                 keys.owed_key(target, keyspace_id),
                 keys.hint_key(target, Version(ts, "n1"), keyspace_id, pkey)):
        assert keys.is_system_key(skey)
        assert not lo <= skey < hi
        assert sys_lo <= skey < sys_hi
        assert keys.span_keyspace(skey, sys_hi) == keys.SYSTEM_KEYSPACE_ID


@given(targets, user_ids, st.integers(0, 2**63 - 1), pkeys)
def test_system_keys_round_trip(target, keyspace_id, ts, pkey):
    assert keys.truncation_keyspace(keys.truncation_key(keyspace_id)) == keyspace_id
    assert keys.parse_owed_key(keys.owed_key(target, keyspace_id)) == (target, keyspace_id)
    hint = keys.hint_key(target, Version(ts, "n1"), keyspace_id, pkey)
    assert keys.hint_target(hint) == target
    lo, hi = keys.prefix_span(keys.hint_prefix(target))
    assert lo <= hint < hi
    lo, hi = keys.prefix_span(keys.all_hints_prefix())
    assert lo <= hint < hi and not lo <= keys.owed_key(target, keyspace_id) < hi


def test_the_highest_user_keyspace_ends_where_the_system_records_begin():
    assert keys.keyspace_span(keys.MAX_KEYSPACE_ID)[1] == keys.SYSTEM_PREFIX
    assert keys.check_keyspace_id(keys.MAX_KEYSPACE_ID) == 0xFFFE
    for bad in (keys.SYSTEM_KEYSPACE_ID, -1, 1 << 16):
        with pytest.raises(ValueError, match="outside 0..65534"):
            keys.check_keyspace_id(bad)


@given(user_ids, pkeys, pkeys)
def test_a_range_span_never_leaves_its_keyspace(keyspace_id, start, end):
    lo, hi = keys.range_span(keyspace_id, start, end)
    ks_lo, ks_hi = keys.keyspace_span(keyspace_id)
    assert ks_lo <= lo and hi <= ks_hi
    assert (hi == ks_hi) if not end else (hi == keys.storage_key(keyspace_id, end))
    if lo < hi:
        assert keys.span_keyspace(lo, hi) == keyspace_id


def test_a_span_across_a_keyspace_boundary_is_refused():
    with pytest.raises(ValueError, match="crosses the end of keyspace 0x0001"):
        keys.span_keyspace(b"\x00\x01a", b"\x00\x02a")
    with pytest.raises(ValueError, match="crosses"):
        keys.span_keyspace(keys.storage_key(keys.MAX_KEYSPACE_ID, b""), keys.SYSTEM_END)
    with pytest.raises(ValueError, match="not a span"):
        keys.span_keyspace(b"\x00\x01b", b"\x00\x01a")
    assert keys.span_keyspace(*keys.keyspace_span(7)) == 7  # up to the next one's start


def test_a_target_name_longer_than_its_length_byte_is_refused():
    with pytest.raises(ValueError, match="too long for a hint key"):
        keys.hint_prefix("x" * 256)
    with pytest.raises(ValueError, match="too long for a truncation record"):
        keys.owed_prefix("x" * 256)
