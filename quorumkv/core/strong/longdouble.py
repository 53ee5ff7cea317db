"""INCRBYFLOAT's arithmetic as Redis does it: x86 80-bit ``long double``, exactly.

Redis parses the stored value and the increment with ``strtold``, adds them in
``long double`` (a 64-bit significand on x86-64 Linux) and stores the sum printed
with ``%.17Lf``, trailing zeros (and a bare ``.``) removed, ``-0`` written ``0``.
That is why ``10.5 + 0.1`` is ``10.6`` and ``0.1 + 0.2`` is ``0.3`` in Redis, where a
``double`` would give ``0.30000000000000004``. A replicated state machine must
also compute the same bytes on every replica whatever its platform, so the
arithmetic here is exact rational arithmetic (``Fraction``) rounded the way the
hardware rounds: to 64 significant bits, ties to even, with the format's exponent
range (subnormals down to 2**-16445, overflow at 2**16384).

A value is a ``Fraction`` (finite) or ``INF`` / ``-INF``; NaN never is one (a NaN
input is refused, a NaN sum is an error).
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

INF = float("inf")

SIGNIFICAND_BITS = 64
MIN_QUANTUM_EXP = -16445   # the smallest subnormal is 2**-16445
OVERFLOW = Fraction(2) ** 16384
MAX_CHARS = 5 * 1024       # Redis's MAX_LONG_DOUBLE_CHARS: longer input is refused
FRACTION_DIGITS = 17       # %.17Lf

_DECIMAL = re.compile(rb"([+-]?)(\d+\.?\d*|\.\d+)(?:[eE]([+-]?\d+))?")
_HEX = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP]([+-]?\d+))?")
_INFINITY = re.compile(rb"([+-]?)(?:inf|infinity)", re.IGNORECASE)
_HUGE_EXPONENT_DIGITS = 7  # an exponent this long over- or underflows any mantissa


class NotAFloat(ValueError):
    """Not what Redis's string2ld accepts (Redis: "value is not a valid float")."""


def parse(raw: bytes) -> Fraction | float:
    """``raw`` as ``strtold`` reads it, with Redis's extra refusals: nothing before
    or after the number (no spaces), no NaN, nothing that over- or underflows to
    infinity or zero. Infinity written as ``inf`` is accepted, as in Redis."""
    if not 0 < len(raw) < MAX_CHARS:
        raise NotAFloat(raw)
    if m := _INFINITY.fullmatch(raw):
        return -INF if m[1] == b"-" else INF
    if m := _DECIMAL.fullmatch(raw):
        value = _decimal_value(m[2], m[3] or b"0")
    elif m := _HEX.fullmatch(raw):
        value = _hex_value(m[2], m[3] or b"0")
    else:
        raise NotAFloat(raw)
    if value is None or value == INF:
        raise NotAFloat(raw)  # ERANGE: over- or underflow
    return -value if m[1] == b"-" else value


def _exponent(digits: bytes) -> int | None:
    """The exponent, or None when it has so many digits that the value is out of
    range whatever the mantissa (the sign decides which way)."""
    sign = -1 if digits[:1] == b"-" else 1
    body = digits.lstrip(b"+-").lstrip(b"0") or b"0"
    if len(body) > _HUGE_EXPONENT_DIGITS:
        return None if sign > 0 else -(10 ** _HUGE_EXPONENT_DIGITS)
    return sign * int(body)


def _decimal_value(mantissa: bytes, exp_digits: bytes) -> Fraction | float | None:
    """A decimal mantissa times 10**exponent, rounded: INF on overflow, None on
    underflow to zero (a zero mantissa is a plain zero)."""
    d = Decimal(mantissa.decode())  # exact, any length (int() caps digit counts)
    if d == 0:
        return Fraction(0)
    exponent = _exponent(exp_digits)
    if exponent is None:
        return INF
    magnitude = d.adjusted() + exponent  # the decimal exponent of its first digit
    if magnitude > 4933:
        return INF
    if magnitude < -4952:
        return None
    return round_to_long_double(Fraction(d) * Fraction(10) ** exponent) or None


def _hex_value(mantissa: bytes, exp_digits: bytes) -> Fraction | float | None:
    whole, _, frac = mantissa.partition(b".")
    m = int((whole + frac) or b"0", 16)  # base 16: no digit-count cap
    if m == 0:
        return Fraction(0)
    exponent = _exponent(exp_digits)
    if exponent is None:
        return INF
    exponent -= 4 * len(frac)
    magnitude = m.bit_length() + exponent
    if magnitude > 16385:
        return INF
    if magnitude < MIN_QUANTUM_EXP - 1:
        return None
    return round_to_long_double(Fraction(m) * Fraction(2) ** exponent) or None


def round_to_long_double(x: Fraction) -> Fraction | float:
    """The ``long double`` nearest ``x`` (ties to even); +-INF past the largest."""
    if x == 0:
        return Fraction(0)
    a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length()  # 2**e <= a < 2**(e+2)
    if a < Fraction(2) ** e:
        e -= 1
    elif a >= Fraction(2) ** (e + 1):
        e += 1
    quantum = Fraction(2) ** max(e - (SIGNIFICAND_BITS - 1), MIN_QUANTUM_EXP)
    rounded = round(a / quantum) * quantum  # Fraction.__round__: ties to even
    if rounded >= OVERFLOW:
        return INF if x > 0 else -INF
    return rounded if x > 0 else -rounded


def add(a: Fraction | float, b: Fraction | float) -> Fraction | None:
    """``a + b`` in ``long double``; None for an infinite or NaN sum (Redis's
    "increment would produce NaN or Infinity")."""
    if a in (INF, -INF) or b in (INF, -INF):
        return None
    total = round_to_long_double(a + b)
    return None if total in (INF, -INF) else total


def format_human(value: Fraction) -> bytes:
    """``%.17Lf`` with the trailing zeros and a bare point removed, ``-0`` as ``0``
    (Redis's ld2string in LD_STR_HUMAN mode)."""
    scaled = round(abs(value) * 10 ** FRACTION_DIGITS)  # ties to even, as glibc
    digits = str(Decimal(scaled)).rjust(FRACTION_DIGITS + 1, "0")  # no digit cap
    whole, frac = digits[:-FRACTION_DIGITS], digits[-FRACTION_DIGITS:].rstrip("0")
    text = whole + ("." + frac if frac else "")
    if value < 0 and text != "0":
        text = "-" + text
    return text.encode()
