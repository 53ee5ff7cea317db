"""Redis glob patterns (KEYS, SCAN MATCH) on bytes, in time linear in key x pattern.

A pattern is read as Redis's ``stringmatchlen`` reads it, as a run of tokens:

* ``*`` matches any run of bytes (several stars in a row are one);
* ``?`` matches any one byte;
* ``[...]`` matches one byte of a set and ``[^...]`` one byte outside it. Inside,
  ``\\x`` is the byte x, ``a-z`` is a range whose ends may come in either order,
  ``]`` closes (so ``[]`` matches nothing and ``[^]`` any byte), and an unclosed
  class runs to the end of the pattern;
* ``\\x`` is the byte x (a final lone ``\\`` is itself), any other byte is itself.

How it matches without backtracking: every token but ``*`` takes exactly one byte,
so the stars cut the pattern into star-free *segments* of fixed width. A key
matches when the first segment matches at its start, the last at its end, and each
segment between is found, in order, at the leftmost place it fits after the one
before: a later place would only leave less room for the rest. Each segment is one
fixed-width regular expression (or plain bytes), which has nothing to backtrack
over, so a key costs at most O(len(key) x len(pattern)) byte comparisons, whatever
the stars. (A backtracking translation took minutes for ``a*`` twenty times then
``b`` against forty ``a``.)

Redis's quirks are kept: ranges compare bytes as C's signed ``char`` (so ``[a-\\xff]``
means -1..97); a key of zero bytes matches only the empty pattern (KEYS and SCAN
answer a lone ``*`` without matching, so ``*`` selects it and ``**`` does not); and
a pattern whose 1001st run of stars is followed by anything never matches (Redis's
guard against abusive patterns, which gives up at that depth).

Compiling a pattern costs time in its length (about 0.5 µs a byte), so a pattern
over ``MAX_PATTERN_BYTES`` is refused (``LimitError``) rather than let one command
hold the node for seconds; Redis has no such limit.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..errors import LimitError

STAR, QUESTION, OPEN, CLOSE, CARET, DASH, BACKSLASH = b"*?[]^-\\"
MAX_STAR_RUNS = 1000                 # Redis stringmatchlen's nesting limit
CACHE_PATTERN_BYTES = 4096           # longer patterns get a cache of their own, of 2
MAX_PATTERN_BYTES = 64 * 1024        # compiling one takes about 30 ms
_LITERAL_RUN = re.compile(rb"[^*?\[\\]+")


def glob_match(pattern: bytes, key: bytes) -> bool:
    """Whether KEYS / SCAN MATCH ``pattern`` selects ``key``."""
    if pattern == b"*":
        return True
    return compile_glob(pattern).match(key)


def compile_glob(pattern: bytes) -> "Glob":
    if len(pattern) > MAX_PATTERN_BYTES:
        raise LimitError(f"pattern too long: {len(pattern)} bytes, limit is "
                         f"{MAX_PATTERN_BYTES} bytes")
    if len(pattern) <= CACHE_PATTERN_BYTES:
        return _compile_small(pattern)
    return _compile_large(pattern)  # a few huge patterns must not fill memory


class _Segment:
    """A star-free run of tokens: plain bytes, or a fixed-width regex."""

    __slots__ = ("width", "literal", "regex")

    def __init__(self, parts: list) -> None:
        self.width = sum(width for _, width, _ in parts)
        if all(literal for literal, _, _ in parts):
            self.literal, self.regex = b"".join(text for _, _, text in parts), None
        else:
            text = b"".join(re.escape(t) if literal else t for literal, _, t in parts)
            self.literal, self.regex = None, re.compile(text, re.DOTALL)

    def matches_at(self, key: bytes, i: int) -> bool:
        if self.literal is not None:
            return key.startswith(self.literal, i)
        return self.regex.match(key, i) is not None

    def find(self, key: bytes, start: int, end: int) -> int:
        """The leftmost place in ``key[start:end]`` where the segment fits, or -1."""
        if self.literal is not None:
            return key.find(self.literal, start, end)
        found = self.regex.search(key, start, end)
        return -1 if found is None else found.start()


class Glob:
    """A compiled pattern: its segments, and whether stars separate them."""

    __slots__ = ("pattern", "segments", "width", "never")

    def __init__(self, pattern: bytes, segments: list[_Segment], never: bool) -> None:
        self.pattern = pattern
        self.segments = segments          # len(segments) - 1 runs of stars between
        self.width = sum(s.width for s in segments)
        self.never = never

    def match(self, key: bytes) -> bool:
        if not key:
            return not self.pattern
        if self.never or self.width > len(key):
            return False
        first, last = self.segments[0], self.segments[-1]
        if len(self.segments) == 1:
            return self.width == len(key) and first.matches_at(key, 0)
        end = len(key) - last.width
        if not (first.matches_at(key, 0) and last.matches_at(key, end)):
            return False
        position = first.width
        for segment in self.segments[1:-1]:
            found = segment.find(key, position, end)
            if found < 0:
                return False
            position = found + segment.width
        return True


@lru_cache(maxsize=256)
def _compile_small(pattern: bytes) -> Glob:
    return _compile(pattern)


@lru_cache(maxsize=2)
def _compile_large(pattern: bytes) -> Glob:
    return _compile(pattern)


def _compile(pattern: bytes) -> Glob:
    segments: list[_Segment] = []
    parts: list = []    # (is literal, width, bytes or regex text) of the open segment
    i, n, star_runs, never = 0, len(pattern), 0, False
    while i < n:
        c = pattern[i]
        if c == STAR:
            while i < n and pattern[i] == STAR:
                i += 1
            star_runs += 1
            if star_runs > MAX_STAR_RUNS and i < n:
                never = True
            segments.append(_Segment(parts))
            parts = []
            continue
        if c == QUESTION:
            parts.append((False, 1, b"."))
            i += 1
        elif c == OPEN:
            regex, i = _class(pattern, i + 1)
            parts.append((False, 1, regex))
        elif c == BACKSLASH:
            if i + 1 < n:
                i += 1
            parts.append((True, 1, pattern[i:i + 1]))
            i += 1
        else:
            run = _LITERAL_RUN.match(pattern, i).group()
            parts.append((True, len(run), run))
            i += len(run)
    segments.append(_Segment(parts))
    return Glob(pattern, segments, never)


def _class(pattern: bytes, i: int) -> tuple[bytes, int]:
    """The regex for the class whose body starts at ``pattern[i]``, and the index
    after it."""
    n = len(pattern)
    negate = i < n and pattern[i] == CARET
    if negate:
        i += 1
    ranges: list[tuple[int, int]] = []
    while i < n:
        c = pattern[i]
        if c == BACKSLASH and i + 1 < n:       # \x: the byte x, even ] or -
            ranges.append((pattern[i + 1], pattern[i + 1]))
            i += 2
        elif c == CLOSE:
            i += 1
            break
        elif i + 2 < n and pattern[i + 1] == DASH:  # x-y; y may even be ]
            ranges += _signed_range(c, pattern[i + 2])
            i += 3
        else:
            ranges.append((c, c))
            i += 1
    if not ranges:
        return (b"." if negate else b"(?!)"), i
    items = b"".join(b"\\x%02x" % lo if lo == hi else b"\\x%02x-\\x%02x" % (lo, hi)
                     for lo, hi in ranges)
    return b"[" + (b"^" if negate else b"") + items + b"]", i


def _signed_range(a: int, b: int) -> list[tuple[int, int]]:
    """The bytes between ``a`` and ``b`` compared as signed chars, as Redis does:
    one or two ranges of unsigned bytes."""
    lo, hi = sorted((a - 256 if a > 127 else a, b - 256 if b > 127 else b))
    if lo >= 0 or hi < 0:
        return [(lo & 0xFF, hi & 0xFF)]
    return [(0, hi), (lo + 256, 0xFF)]
