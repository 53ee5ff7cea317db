"""Redis-style glob patterns (``*``, ``?``, ``[abc]``, ``[^a-z]``, ``\\x``) on bytes."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=256)
def compile_glob(pattern: bytes) -> "re.Pattern[bytes]":
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i:i + 1]
        if c == b"*":
            out.append(b".*")
        elif c == b"?":
            out.append(b".")
        elif c == b"\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i:i + 1]))
        elif c == b"[":
            regex, i = _bracket(pattern, i)
            out.append(regex)
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile(b"".join(out) + b"\\Z", re.DOTALL)


def glob_match(pattern: bytes, key: bytes) -> bool:
    if pattern == b"*":
        return True
    return compile_glob(pattern).match(key) is not None


def _bracket(pattern: bytes, i: int) -> tuple[bytes, int]:
    """A ``[...]`` class starting at ``pattern[i]``, as Redis reads it: ``\\x`` is a
    literal x, ranges may run either way, ``[]`` matches nothing, ``[^]`` any byte,
    and an unclosed class runs to the end of the pattern."""
    n = len(pattern)
    i += 1
    negate = pattern[i:i + 1] == b"^"
    if negate:
        i += 1
    items = []
    while i < n and pattern[i] != 0x5D:  # ']'
        c = pattern[i]
        if c == 0x5C and i + 1 < n:  # backslash escapes the next byte
            items.append(b"\\x%02x" % pattern[i + 1])
            i += 2
        elif i + 2 < n and pattern[i + 1] == 0x2D:  # x-y, either order
            lo, hi = sorted((c, pattern[i + 2]))
            items.append(b"\\x%02x-\\x%02x" % (lo, hi))
            i += 3
        else:
            items.append(b"\\x%02x" % c)
            i += 1
    if not items:
        return (b"." if negate else b"(?!)"), i + 1
    return b"[" + (b"^" if negate else b"") + b"".join(items) + b"]", i + 1
