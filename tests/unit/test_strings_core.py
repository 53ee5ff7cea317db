"""core/strings.py: Redis's GETRANGE clamping and its choice of string encoding."""

from hypothesis import given, strategies as st

from quorumkv.core.strings import encoding, getrange, is_canonical_int64

INT64 = st.integers(-2**63, 2**63 - 1)


@given(INT64)
def test_every_int64_as_redis_writes_it_is_canonical(n):
    assert is_canonical_int64(str(n).encode()) and encoding(str(n).encode()) == "int"


@given(st.binary(max_size=22) | st.text("-+0123456789 _", max_size=22).map(str.encode))
def test_canonical_means_it_reads_back_as_itself(value):
    """The oracle: Python's own reading, kept only when it writes back the same bytes."""
    try:
        n = int(value.decode("ascii"))
        expected = str(n).encode() == value and -2**63 <= n < 2**63
    except (UnicodeDecodeError, ValueError):
        expected = False
    assert is_canonical_int64(value) == expected


def test_encoding_by_length():
    assert encoding(b"x" * 44) == "embstr" and encoding(b"x" * 45) == "raw"
    assert encoding(b"") == "embstr" and encoding(b"9223372036854775808") == "embstr"


@given(st.binary(max_size=12), st.integers(-20, 20), st.integers(-20, 20))
def test_getrange_is_a_slice_of_the_value(value, start, end):
    """Whatever the indexes, the answer is a contiguous piece of the value, and for
    indexes inside the value it is Python's inclusive slice."""
    part = getrange(value, start, end)
    assert part in value
    n = len(value)
    if 0 <= start <= end < n:
        assert part == value[start:end + 1]
    if -n <= start < 0 and -n <= end < 0 and start <= end:
        assert part == value[n + start:n + end + 1]
