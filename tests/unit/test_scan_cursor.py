"""SCAN cursors: a position in the hash space, shifted by one so 0 can mean "done"."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quorumkv.core.placement import HASH_SPACE, hash_placement_key, key_hash
from quorumkv.core.scan import hash_of_pkey, next_cursor, parse_cursor
from quorumkv.errors import SyntaxError_

positions = st.one_of(
    st.integers(0, HASH_SPACE - 1),
    st.sampled_from([0, 1, 2**32, 2**63, HASH_SPACE - 2, HASH_SPACE - 1]),
)


@given(positions)
def test_a_handed_out_cursor_resumes_at_the_same_position(p):
    cursor = next_cursor(p)
    assert cursor != 0, "a real position must never look like 'scan finished'"
    assert parse_cursor(str(cursor).encode()) == p


@given(positions, positions)
def test_cursors_preserve_the_order_of_positions(a, b):
    assert (next_cursor(a) < next_cursor(b)) == (a < b)


def test_the_end_of_the_hash_space_finishes_the_scan():
    assert next_cursor(HASH_SPACE) == 0
    assert next_cursor(HASH_SPACE + 5) == 0


def test_cursor_zero_starts_at_the_beginning():
    assert parse_cursor(b"0") == 0


def test_largest_valid_cursor():
    assert parse_cursor(str(HASH_SPACE).encode()) == HASH_SPACE - 1


@pytest.mark.parametrize("raw", [
    b"", b"abc", b"-1", b"-0", b"1.5", b"0x10", str(HASH_SPACE + 1).encode(), b"9" * 30,
    b"+5", b"1" + b"0" * 5000,
])
def test_invalid_cursors_raise(raw):
    with pytest.raises(SyntaxError_):
        parse_cursor(raw)


def test_leading_zeros_are_allowed_as_in_redis():
    assert parse_cursor(b"00") == 0
    assert parse_cursor(b"0" * 30 + b"2") == 1
    assert parse_cursor(b"0" * 30 + str(HASH_SPACE).encode()) == HASH_SPACE - 1


@pytest.mark.parametrize("raw", [b"1_0", b" 5", b"5 ", b"\t5\n"])
def test_cursors_are_plain_digits(raw):
    # Redis takes a cursor made of digits only; Python's int() also accepts
    # underscores and surrounding whitespace, which a cursor never contains.
    with pytest.raises(SyntaxError_):
        parse_cursor(raw)


@given(st.binary(max_size=32))
def test_hash_of_pkey_reads_back_the_key_hash(key):
    assert hash_of_pkey(hash_placement_key(key)) == key_hash(key)
