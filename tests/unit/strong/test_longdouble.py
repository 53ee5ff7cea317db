"""INCRBYFLOAT's long double: parsing, rounding and printing (against exact
arithmetic; the replies against redis-server are in test_redis_replies.py). The
inputs accepted and refused here are the ones redis-server 7.0.15 accepted and
refused as INCRBYFLOAT's increment."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from quorumkv.core.strong import longdouble as ld


@given(st.integers(-2**64 + 1, 2**64 - 1))
def test_integers_that_fit_64_bits_are_exact_and_print_as_integers(n):
    assert ld.parse(str(n).encode()) == n
    assert ld.format_human(Fraction(n)) == str(n).encode()


@given(st.fractions(max_denominator=10**30).filter(lambda x: x != 0))
def test_rounding_is_to_the_nearest_64_bit_significand(x):
    r = ld.round_to_long_double(x)
    d = r.denominator
    assert d & (d - 1) == 0  # a binary fraction
    e = 0  # 2**e <= |x| < 2**(e + 1), by search
    while Fraction(2) ** e > abs(x):
        e -= 1
    while Fraction(2) ** (e + 1) <= abs(x):
        e += 1
    assert abs(x - r) <= Fraction(2) ** (e - 63) / 2  # half a unit in the 64th bit
    assert ld.round_to_long_double(r) == r


def test_ties_round_to_even():
    one = Fraction(1)
    half_ulp = Fraction(1, 2**64)   # the ulp of [1, 2) is 2**-63
    assert ld.round_to_long_double(one + half_ulp) == one
    assert ld.round_to_long_double(one + 3 * half_ulp) == one + 4 * half_ulp


def test_the_range_ends():
    assert ld.parse(b"1e4932") > 0
    with pytest.raises(ld.NotAFloat):
        ld.parse(b"1.2e4932")  # past the largest long double
    assert ld.parse(b"4e-4951") > 0  # the smallest subnormal is about 3.6e-4951
    with pytest.raises(ld.NotAFloat):
        ld.parse(b"1e-4952")
    assert ld.add(ld.parse(b"1e4932"), ld.parse(b"1e4932")) is None  # overflows: an error


@pytest.mark.parametrize("raw", [b"1" * ld.MAX_CHARS, b"+", b"-", b".", b"e5", b"0x.p1",
                                 b"1_000", b"\xff", b"infinit", b"nan(1)", b"-nan", b"1e+",
                                 b"0x1p"])
def test_what_strtold_or_redis_refuse(raw):
    with pytest.raises(ld.NotAFloat):
        ld.parse(raw)


@pytest.mark.parametrize("raw, value", [
    (b"+1.5", Fraction(3, 2)), (b"1E2", 100), (b"0X1P-1", Fraction(1, 2)),
    (b"-0x.8", Fraction(-1, 2)), (b"00012", 12), (b"1e+2", 100)])
def test_what_strtold_accepts(raw, value):
    assert ld.parse(raw) == value


def test_printing_rounds_at_17_places_and_strips_zeros():
    assert ld.format_human(Fraction(1, 3)) == b"0.33333333333333333"
    assert ld.format_human(Fraction(-5, 2)) == b"-2.5"
    assert ld.format_human(Fraction(-1, 10**18)) == b"0"
    assert ld.format_human(Fraction(10**40)) == b"1" + b"0" * 40
