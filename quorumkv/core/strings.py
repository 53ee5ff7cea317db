"""What Redis computes from a string value alone: GETRANGE's index arithmetic and
the encoding OBJECT ENCODING reports."""

from __future__ import annotations

INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
EMBSTR_SIZE_LIMIT = 44  # Redis's OBJ_ENCODING_EMBSTR_SIZE_LIMIT


def getrange(value: bytes, start: int, end: int) -> bytes:
    """``value[start..end]``, both inclusive, negative from the end, as Redis clamps them."""
    n = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(0, n + start)
    if end < 0:
        end = max(0, n + end)
    end = min(end, n - 1)
    if start > end or n == 0:
        return b""
    return value[start:end + 1]


def is_canonical_int64(value: bytes) -> bool:
    """A signed 64-bit integer written as Redis writes it (Redis's string2ll):
    ASCII digits, an optional ``-``, no leading zeros, no ``+``, ``-0`` or spaces."""
    if not 0 < len(value) <= 20:
        return False
    digits = value[1:] if value[:1] == b"-" else value
    if not digits.isdigit():  # bytes.isdigit: ASCII digits only
        return False
    if digits[:1] == b"0" and value != b"0":
        return False
    return INT64_MIN <= int(value) <= INT64_MAX


def encoding(value: bytes) -> str:
    """OBJECT ENCODING of a string Redis stored from a client's SET: ``int`` for a
    canonical 64-bit integer, ``embstr`` up to 44 bytes, ``raw`` beyond."""
    if is_canonical_int64(value):
        return "int"
    return "embstr" if len(value) <= EMBSTR_SIZE_LIMIT else "raw"
