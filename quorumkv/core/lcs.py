"""The longest common subsequence of two byte strings, exactly as Redis's LCS answers.

Redis fills the whole table of LCS lengths, ``LCS(i, j)`` for every prefix
``a[:i]`` and ``b[:j]``, then walks back from ``(len(a), len(b))``: on equal bytes
it steps diagonally (the byte is part of the answer), otherwise to the neighbour
with the longer LCS, ``(i - 1, j)`` only if strictly longer than ``(i, j - 1)``.
The diagonal runs of that walk are the ``matches`` of ``LCS ... IDX``, last first.

This module gives the same walk without the table of integers. Along one row of
the table the length grows by 0 or 1 from one column to the next, so a row is a
bit vector of its increments (bit ``y - 1`` set: the length grows at column ``y``)
and ``LCS`` at a column is the number of increments before it. Each row follows
from the previous one in a few big-integer operations (Hyyrö's bit-parallel LCS),
so the rows cost ``len(a) * len(b)`` bits, not integers. The rows run along the
shorter string, and the walk jumps over a whole run of steps in one bit operation,
so the work done in Python grows with the shorter string only; everything else is
big-integer arithmetic.

``MAX_CELLS`` bounds ``len(a) * len(b)``: callers refuse larger inputs, so one
command cannot take a node's memory or time.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_CELLS = 16 * 1024 * 1024

_ZEROS = b"0" * 256


class Match(NamedTuple):
    """One diagonal run of the walk: ``a[a_start:a_end + 1] == b[b_start:b_end + 1]``."""
    a_start: int
    a_end: int
    b_start: int
    b_end: int

    @property
    def length(self) -> int:
        return self.a_end - self.a_start + 1


class LCS(NamedTuple):
    length: int
    string: bytes | None         # None when only the length was asked for
    matches: list[Match] | None  # last first, as Redis lists them


def cells(a: bytes, b: bytes) -> int:
    """The size of Redis's table for ``a`` and ``b``, the measure ``MAX_CELLS`` bounds."""
    return len(a) * len(b)


def lcs(a: bytes, b: bytes, walk: bool = True) -> LCS:
    """The LCS of ``a`` and ``b``: only its length unless ``walk``."""
    if not a or not b:
        return LCS(0, b"" if walk else None, [] if walk else None)
    by_rows = len(a) <= len(b)  # rows along a (bits over b), else columns along b
    outer, inner = (a, b) if by_rows else (b, a)
    masks = _masks(inner, set(outer))
    vectors = _increments(outer, len(inner), masks, keep=walk)
    length = vectors[-1].bit_count()
    if not walk:
        return LCS(length, None, None)
    walk_fn = _walk_rows if by_rows else _walk_columns
    string, matches = walk_fn(a, b, vectors, masks)
    return LCS(length, string, matches)


def _masks(inner: bytes, chars: set[int]) -> dict[int, int]:
    """For each byte value in ``chars``, the bits of the positions of ``inner`` holding it."""
    masks = {}
    for c in chars:
        table = _ZEROS[:c] + b"1" + _ZEROS[c + 1:]
        masks[c] = int(inner.translate(table)[::-1], 2)  # position k -> bit k
    return masks


def _increments(outer: bytes, width: int, masks: dict[int, int], keep: bool) -> list[int]:
    """The increment vectors of rows 0..len(outer) (only the last unless ``keep``).

    Hyyrö's recurrence works on the complement ``v`` (bit set: no increment):
    ``u = v & match; v = (v + u) | (v - u)``, truncated to ``width`` bits."""
    full = (1 << width) - 1
    v = full
    rows = [0]
    for c in outer:
        u = v & masks[c]
        v = ((v + u) | (v - u)) & full
        if keep:
            rows.append(full ^ v)
    return rows if keep else [full ^ v]


def _prefix_mask(n: int) -> int:
    return (1 << n) - 1


def _walk_rows(a: bytes, b: bytes, rows: list[int], masks: dict[int, int]):
    """Redis's walk over rows along ``a`` (``rows[i]``: increments of ``LCS(i, .)``).

    On unequal bytes: ``LCS(i, j - 1)`` is one less exactly where row ``i``
    increments at ``j``, and then ``LCS(i - 1, j)`` is the longer: step up.
    Otherwise step left, and keep going left to the next column that either
    matches ``a[i - 1]`` or is an increment: one bit operation for the run."""
    walk = _Walk(a, b)
    i, j = len(a), len(b)
    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1]:
            i, j = walk.diagonal(i, j)
            continue
        walk.close()
        row = rows[i]
        if row >> (j - 1) & 1:
            i -= 1
        else:
            j = ((row | masks[a[i - 1]]) & _prefix_mask(j - 1)).bit_length()
    return walk.result()


def _walk_columns(a: bytes, b: bytes, columns: list[int], masks: dict[int, int]):
    """The same walk over columns along ``b`` (``columns[j]``: increments of
    ``LCS(., j)`` as ``i`` grows), for when ``b`` is the shorter string.

    On unequal bytes: if column ``j`` increments at ``i``, ``LCS(i - 1, j)`` is the
    shorter: step left. Otherwise step up only if ``LCS(i, j - 1)`` is one less
    (a tie steps left). Once stepping up, that stays so (``LCS(i - 1, j - 1) <=
    LCS(i, j - 1)``), so the walk runs up to the next row that either matches
    ``b[j - 1]`` or is an increment of column ``j``."""
    walk = _Walk(a, b)
    i, j = len(a), len(b)
    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1]:
            i, j = walk.diagonal(i, j)
            continue
        walk.close()
        column = columns[j]
        below = _prefix_mask(i)
        if (column >> (i - 1) & 1
                or (column & below).bit_count() == (columns[j - 1] & below).bit_count()):
            j -= 1
        else:
            i = ((column | masks[b[j - 1]]) & _prefix_mask(i - 1)).bit_length()
    return walk.result()


class _Walk:
    """What the walk collects: the LCS bytes (last first) and the diagonal runs."""

    def __init__(self, a: bytes, b: bytes) -> None:
        self.a = a
        self.out = bytearray()
        self.matches: list[Match] = []
        self.run: list[int] | None = None  # [a_start, a_end, b_start, b_end]

    def diagonal(self, i: int, j: int) -> tuple[int, int]:
        self.out.append(self.a[i - 1])
        if self.run is None:
            self.run = [i - 1, i - 1, j - 1, j - 1]
        else:  # the previous step was diagonal too: the run grows backwards
            self.run[0], self.run[2] = i - 1, j - 1
        if i == 1 or j == 1:  # the walk ends here: so does the run
            self.close()
        return i - 1, j - 1

    def close(self) -> None:
        if self.run is not None:
            self.matches.append(Match(*self.run))
            self.run = None

    def result(self) -> tuple[bytes, list[Match]]:
        self.out.reverse()
        return bytes(self.out), self.matches
