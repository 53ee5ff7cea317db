"""The Redis protocol, sans I/O: a request parser and reply encoders.

``RequestParser.feed(data)`` takes bytes as they arrive and ``commands()`` returns
every complete command so far as a list of argument byte strings. It speaks the
multibulk form every client library sends (``*2\r\n$3\r\nGET\r\n$1\r\nk\r\n``) and
the inline form people type (``GET k\r\n``).

Bad input is bounded: lengths over the hard limits raise :class:`ProtocolError`
(the connection answers it and closes, as Redis does) as soon as the header that
states them is read, before anything is allocated for them, on both parser paths. A
single argument larger than ``max_arg_bytes`` but within the hard limit is skipped
without being buffered and stands in the command as :class:`Oversized`, so the
command layer can answer a clear limit error and keep the connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import hiredis

HARD_MAX_BULK = 512 * 1024 * 1024      # Redis proto-max-bulk-len
HARD_MAX_MULTIBULK = 1024 * 1024
MAX_INLINE = 64 * 1024                 # Redis PROTO_INLINE_MAX_SIZE
FAST_PATH_MAX_BYTES = 64 * 1024        # larger buffers take the Python parser (it skips
                                       # oversized arguments without buffering them)
READER_KEEP_BYTES = 4096               # the fast path's reader is replaced after more
INT64_MAX = 2**63 - 1

# What could be an aggregate header to hiredis (array, map, set, push, attribute):
# hiredis allocates a list of that many slots as soon as it reads one, before any
# element arrives (``*3000000000`` took 4.4 s and 24 GB), so the fast path only
# runs when these counts together cannot exceed the buffer's size. A match inside
# a bulk payload only makes the check more cautious.
_AGGREGATE_COUNT = re.compile(rb"[*%~>|]([0-9]+)\r")
# Counts of one or two digits (every command a client sends but the longest MSETs)
# need no sum: at most 99 slots per header of 4 bytes or more keeps what hiredis
# allocates within 25 times the buffer. Finding them takes bytes.find, which is far
# cheaper per byte than a regular expression's character class.
_OTHER_AGGREGATES = (b"%", b"~", b">", b"|")   # map, set, push, attribute
_RESP_INT = re.compile(rb"0|-?[1-9][0-9]{0,18}")  # Redis's string2ll: no '+', no leading 0


class ProtocolError(Exception):
    """The peer broke the protocol; answer ``-ERR Protocol error: ...`` and close.

    ``parsed`` holds the complete commands that came before the bad bytes in the
    same call of ``RequestParser.commands()``: they run first, as in Redis."""

    parsed: list = []


@dataclass(frozen=True, slots=True)
class Oversized:
    length: int


class OversizedArgs(list):
    """A command with at least one :class:`Oversized` argument."""


class RequestParser:
    def __init__(self, max_arg_bytes: int = HARD_MAX_BULK, fast: bool = True) -> None:
        self._fast = fast  # False: the Python parser only (the tests' reference)
        self._buf = bytearray()
        self._pos = 0
        self._max_arg = max_arg_bytes
        # state of a multibulk command being read
        self._want = 0            # arguments still to read
        self._args: list = []
        self._skip = 0            # bytes of an oversized argument still to discard
        self._reader = hiredis.Reader()  # the fast path's, while what it parses is small

    def feed(self, data: bytes) -> None:
        self._buf += data

    def commands(self) -> list[list]:
        if (self._fast and not self._want and not self._args and not self._skip
                and 0 < len(self._buf) - self._pos <= FAST_PATH_MAX_BYTES
                and self._buf[self._pos] == 0x2A):  # '*'
            fast = self._complete_commands_fast()
            if fast is not None:
                return fast
        out = []
        while True:
            try:
                command = self._next()
            except ProtocolError as exc:
                exc.parsed = out
                raise
            if command is None:
                break
            if command:
                out.append(command)
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        return out

    def _complete_commands_fast(self) -> list[list] | None:
        """Parse the buffer with hiredis (C) when it holds only complete, canonically
        encoded multibulk commands, which is what clients send; None means "use the
        Python parser", which also gives exact Redis errors for anything odd.

        hiredis parses replies, so it accepts things a request may not hold (``+OK``
        for ``$2 OK``, ``$03`` lengths, nested arrays): requiring every element to
        be bytes, every command to start with ``*`` and the canonical encoding of
        the result to be exactly the bytes given rules out nearly all of them. What
        slips through is input whose miscounted bytes happen to add up. A ``+``
        element counts 4 bytes more than it takes, a ``=`` (verbatim) element 4
        fewer and a ``$03``-style length 1 fewer, so they can cancel out: both
        ``*2\r\n+0123456789\r\n=7\r\ntxt:abc\r\n`` and ``*1\r\n+0123456789\r\n``
        followed by exactly 4 more bytes of a next command pass. Such a command runs
        as the arguments it plainly holds where Redis would answer "expected '$'"
        (in the second case the 4 bytes are dropped)."""
        buf, pos = self._buf, self._pos
        n = len(buf) - pos
        if not _counts_fit(buf, pos, n):
            return None
        reader = self._reader
        reader.feed(buf, pos, n)
        out, size = [], 0
        try:
            while True:
                command = reader.gets()
                if command is False:
                    break
                if type(command) is not list or size >= n or buf[pos + size] != 0x2A:
                    size = -1
                    break
                encoded = _canonical_size(command)
                if encoded < 0:
                    size = -1
                    break
                size += encoded
                if command:
                    out.append(command)
        except Exception:  # ProtocolError, TypeError building RESP3 maps: the Python
            size = -1      # parser has the last word on bad input
        rejected = size != n or reader.has_data()
        if rejected or n > READER_KEEP_BYTES:
            # a rejected buffer must leave no state behind, and hiredis keeps the last
            # buffer it was fed until the next feed: an idle connection would hold it
            self._reader = hiredis.Reader()
        if rejected:
            return None
        max_arg = self._max_arg
        for i, command in enumerate(out):
            if max(map(len, command)) > max_arg:
                out[i] = OversizedArgs(a if len(a) <= max_arg else Oversized(len(a))
                                       for a in command)
        del buf[:]
        self._pos = 0
        return out

    def _line(self, too_long: str) -> bytes | None:
        end = self._buf.find(b"\r\n", self._pos)
        if end < 0:
            if len(self._buf) - self._pos > MAX_INLINE:
                raise ProtocolError(too_long)
            return None
        line = bytes(self._buf[self._pos:end])
        self._pos = end + 2
        return line

    def _next(self):
        """One command, ``[]`` for an empty inline line, ``None`` if incomplete."""
        if self._skip and not self._discard():
            return None
        if not self._want and self._args:  # an oversized last argument just ended
            args, self._args = self._args, []
            return args
        if not self._want:
            if self._pos >= len(self._buf):
                return None
            if self._buf[self._pos] != 0x2A:  # '*'
                return self._inline()
            line = self._line("too big mbulk count string")
            if line is None:
                return None
            count = _parse_int(line[1:], "invalid multibulk length")
            if count > HARD_MAX_MULTIBULK:
                raise ProtocolError("invalid multibulk length")
            if count <= 0:
                return []
            self._want, self._args = count, []
        while self._want:
            if self._skip and not self._discard():
                return None
            mark = self._pos
            line = self._line("too big bulk count string")
            if line is None:
                return None
            if not line.startswith(b"$"):
                got = chr(line[0]) if line else " "
                raise ProtocolError(f"expected '$', got '{got}'")
            length = _parse_int(line[1:], "invalid bulk length")
            if length < 0 or length > HARD_MAX_BULK:
                raise ProtocolError("invalid bulk length")
            if length > self._max_arg:
                self._args = OversizedArgs(self._args)
                self._args.append(Oversized(length))
                self._want -= 1
                self._skip = length + 2
                continue
            if len(self._buf) - self._pos < length + 2:
                self._pos = mark  # wait for the whole argument
                return None
            end = self._pos + length
            if self._buf[end:end + 2] != b"\r\n":
                raise ProtocolError("invalid bulk terminator")
            self._args.append(bytes(self._buf[self._pos:end]))
            self._pos = end + 2
            self._want -= 1
        if self._skip and not self._discard():
            return None  # the top of the next call hands the command out
        args, self._args = self._args, []
        return args

    def _discard(self) -> bool:
        take = min(self._skip, len(self._buf) - self._pos)
        self._pos += take
        self._skip -= take
        if self._skip == 0:
            return True
        del self._buf[: self._pos]
        self._pos = 0
        return False

    def _inline(self):
        # inline commands end at "\n" ("\r\n" from most tools, bare "\n" from nc)
        end = self._buf.find(b"\n", self._pos)
        if end < 0:
            if len(self._buf) - self._pos > MAX_INLINE:
                raise ProtocolError("too big inline request")
            return None
        line = bytes(self._buf[self._pos:end])
        if line.endswith(b"\r"):
            line = line[:-1]
        self._pos = end + 1
        return split_args(line)


def _canonical_size(command: list) -> int:
    """Bytes of ``command`` as ``*<n>\r\n`` then ``$<len>\r\n<arg>\r\n`` each;
    -1 if an element is not bytes. (Counts and lengths fit ``_DIGITS``: they come
    from a buffer of at most ``FAST_PATH_MAX_BYTES``.)"""
    size = 3 + _DIGITS[len(command)]
    for arg in command:
        if type(arg) is not bytes:
            return -1
        length = len(arg)
        size += 5 + _DIGITS[length] + length
    return size


# decimal digits of every length up to the fast path's buffer size (a table lookup
# per argument instead of a str() each)
_DIGITS = bytes(len(str(i)) for i in range(FAST_PATH_MAX_BYTES + 1))


def _counts_fit(buf: bytearray, pos: int, n: int) -> bool:
    """Whether what hiredis could allocate for the aggregate counts in ``buf[pos:]``
    is bounded by the buffer: every count under 100 (at most 25 slots per byte), or
    all of them adding up to at most ``n``."""
    if _small_counts_only(buf, pos):
        return True
    try:
        return sum(map(int, _AGGREGATE_COUNT.findall(buf, pos))) <= n
    except ValueError:  # more digits than int() takes: certainly too big
        return False


def _small_counts_only(buf: bytearray, pos: int) -> bool:
    """True if every ``*`` in ``buf[pos:]`` is followed by fewer than three digits
    and no other aggregate type byte occurs (False just means: sum the counts)."""
    for marker in _OTHER_AGGREGATES:
        if buf.find(marker, pos) >= 0:
            return False
    last = len(buf) - 3
    i = buf.find(b"*", pos)
    while i >= 0:
        if i < last and 48 <= buf[i + 1] <= 57 and 48 <= buf[i + 2] <= 57 \
                and 48 <= buf[i + 3] <= 57:
            return False
        i = buf.find(b"*", i + 1)
    return True


def _parse_int(raw: bytes, message: str) -> int:
    """A RESP length as Redis's string2ll reads it: '0', or an optional '-' and
    digits without a leading zero, within a signed 64-bit integer."""
    if _RESP_INT.fullmatch(raw) is None:
        raise ProtocolError(message)
    value = int(raw)
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise ProtocolError(message)
    return value


_BLANKS = b" \t\n\r\x0b\x0c"   # C's isspace: skipped between inline arguments
_ENDS_ARG = b" \t\n\r"         # what ends an unquoted argument (\v and \f do not)
_PLAIN_SPLIT_UNSAFE = re.compile(rb"[\"'\x0b\x0c]")
_HEX = b"0123456789abcdefABCDEF"
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
UNBALANCED = "unbalanced quotes in request"


def split_args(line: bytes) -> list[bytes]:
    """Inline arguments as Redis's sdssplitargs splits them: blanks separate them;
    ``"..."`` takes ``\\xHH``, ``\\n``, ``\\r``, ``\\t``, ``\\b``, ``\\a`` and ``\\<any>``
    escapes, ``'...'`` only ``\\'``; a quote may open in the middle of an argument,
    and a closing quote must be followed by a blank or the end of the line.
    Anything else is ``unbalanced quotes in request``."""
    if _PLAIN_SPLIT_UNSAFE.search(line) is None:
        return line.split()  # the common case, where bytes.split() is the same
    args, i, n = [], 0, len(line)
    while True:
        while i < n and line[i] in _BLANKS:
            i += 1
        if i >= n:
            return args
        arg = bytearray()
        while i < n and line[i] not in _ENDS_ARG:
            c = line[i]
            if c == 0x22:    # '"'
                i = _double_quoted(line, i + 1, arg)
                break
            if c == 0x27:    # "'"
                i = _single_quoted(line, i + 1, arg)
                break
            arg.append(c)
            i += 1
        args.append(bytes(arg))


def _closing_quote(line: bytes, i: int) -> int:
    """The index after the closing quote at ``line[i]``."""
    if i + 1 < len(line) and line[i + 1] not in _BLANKS:
        raise ProtocolError(UNBALANCED)
    return i + 1


def _double_quoted(line: bytes, i: int, arg: bytearray) -> int:
    n = len(line)
    while i < n:
        c = line[i]
        if (c == 0x5C and i + 3 < n and line[i + 1] == 0x78  # \xHH
                and line[i + 2] in _HEX and line[i + 3] in _HEX):
            arg.append(int(line[i + 2:i + 4], 16))
            i += 4
        elif c == 0x5C and i + 1 < n:
            arg.append(_ESCAPES.get(line[i + 1], line[i + 1]))
            i += 2
        elif c == 0x22:
            return _closing_quote(line, i)
        else:
            arg.append(c)
            i += 1
    raise ProtocolError(UNBALANCED)


def _single_quoted(line: bytes, i: int, arg: bytearray) -> int:
    n = len(line)
    while i < n:
        c = line[i]
        if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:  # \'
            arg.append(0x27)
            i += 2
        elif c == 0x27:
            return _closing_quote(line, i)
        else:
            arg.append(c)
            i += 1
    raise ProtocolError(UNBALANCED)


# ---- replies -------------------------------------------------------------------

OK = b"+OK\r\n"
PONG = b"+PONG\r\n"
NULL2 = b"$-1\r\n"
NULL3 = b"_\r\n"


def simple(text: str) -> bytes:
    return b"+" + text.replace("\r", " ").replace("\n", " ").encode() + b"\r\n"


def error(message: str) -> bytes:
    return b"-" + message.replace("\r", " ").replace("\n", " ").encode() + b"\r\n"


def integer(n: int) -> bytes:
    return b":%d\r\n" % n


def bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def null(resp3: bool) -> bytes:
    return NULL3 if resp3 else NULL2


def array(items: list[bytes]) -> bytes:
    """An array of already-encoded replies."""
    return b"*%d\r\n" % len(items) + b"".join(items)


def bulk_array(values, resp3: bool = False) -> bytes:
    """An array of bulk strings, ``None`` entries as nulls."""
    parts = [b"*%d\r\n" % len(values)]
    for v in values:
        parts.append(null(resp3) if v is None else b"$%d\r\n%s\r\n" % (len(v), v))
    return b"".join(parts)


def mapping(pairs: list[tuple[bytes, bytes]], resp3: bool) -> bytes:
    """A map of encoded keys to encoded values; a flat array in RESP2."""
    head = b"%%%d\r\n" % len(pairs) if resp3 else b"*%d\r\n" % (2 * len(pairs))
    return head + b"".join(k + v for k, v in pairs)


def verbatim(text: str, resp3: bool) -> bytes:
    data = text.encode()
    if resp3:
        return b"=%d\r\ntxt:%s\r\n" % (len(data) + 4, data)
    return bulk(data)
