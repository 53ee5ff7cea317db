"""The RESP request parser and reply encoders.

The central property: however the bytes of a pipeline are cut into ``feed`` calls
(down to one byte at a time), the parser hands out the same commands as the oracle,
which is simply the list of commands that were encoded. Arguments over
``max_arg_bytes`` come out as ``Oversized(length)`` and the commands after them are
untouched.
"""

from __future__ import annotations

import re
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core import resp
from quorumkv.core.resp import MAX_INLINE, Oversized, ProtocolError, RequestParser


def multibulk(*args: bytes) -> bytes:
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def parse(*chunks: bytes, max_arg_bytes: int | None = None) -> list:
    p = RequestParser() if max_arg_bytes is None else RequestParser(max_arg_bytes)
    out = []
    for chunk in chunks:
        p.feed(chunk)
        out += p.commands()
    return out


def parse_bytewise(data: bytes, **kw) -> list:
    return parse(*(data[i:i + 1] for i in range(len(data))), **kw)


# ---- well-formed input -----------------------------------------------------------

def test_multibulk_command():
    assert parse(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") == [[b"GET", b"k"]]


def test_bulk_arguments_are_binary_safe():
    value = b"a\r\nb\x00*$\r\n"
    assert parse(multibulk(b"SET", b"k", value)) == [[b"SET", b"k", value]]
    assert parse(multibulk(b"SET", b"k", b"")) == [[b"SET", b"k", b""]]


def test_pipelined_commands_in_one_feed():
    data = multibulk(b"SET", b"a", b"1") + multibulk(b"GET", b"a") + b"PING\r\n"
    assert parse(data) == [[b"SET", b"a", b"1"], [b"GET", b"a"], [b"PING"]]


def test_byte_at_a_time_gives_the_same_commands():
    data = multibulk(b"SET", b"key", b"value") + b"GET key\r\n" + multibulk(b"DEL", b"key")
    assert parse_bytewise(data) == parse(data) == [
        [b"SET", b"key", b"value"], [b"GET", b"key"], [b"DEL", b"key"]]


def test_incomplete_command_waits_for_more():
    p = RequestParser()
    p.feed(b"*2\r\n$3\r\nGET\r\n$5\r\nab")
    assert p.commands() == []
    p.feed(b"cde\r")
    assert p.commands() == []
    p.feed(b"\n")
    assert p.commands() == [[b"GET", b"abcde"]]


def test_inline_commands():
    assert parse(b"SET k v\r\n") == [[b"SET", b"k", b"v"]]
    assert parse(b"  GET   k  \r\n") == [[b"GET", b"k"]]


# Each expected answer is what redis-server 7.0.15 does with the same line (its
# sdssplitargs): None for "Protocol error: unbalanced quotes in request".
@pytest.mark.parametrize("line, argv", [
    (b'SET "a b', None),
    (b"SET 'a b", None),
    (b'ECHO "a"x', None),               # a closing quote must be followed by a blank
    (b"ECHO 'a'x", None),
    (b'ECHO ""x', None),
    (b'ECHO "a\\"', None),              # \" does not close
    (b"ECHO 'a\\'", None),
    (b'ECHO "\\x41\\n\\t\\"q"', [b"ECHO", b'A\n\t"q']),
    (b'ECHO "\\r\\b\\a\\\\"', [b"ECHO", b"\r\b\a\\"]),
    (b'ECHO "\\xZZ" "\\x4"', [b"ECHO", b"xZZ", b"x4"]),  # not two hex digits: \x is x
    (b'ECHO "a\\qb"', [b"ECHO", b"aqb"]),
    (b"ECHO 'it\\'s'", [b"ECHO", b"it's"]),
    (b"ECHO '\\x41\\n'", [b"ECHO", b"\\x41\\n"]),  # single quotes: only \' escapes
    (b'ECHO a"b c"', [b"ECHO", b"ab c"]),  # a quote may open inside an argument
    (b"ECHO a'b'", [b"ECHO", b"ab"]),
    (b'ECHO "a"\tb', [b"ECHO", b"a", b"b"]),
    (b'ECHO "a"\x0bb', [b"ECHO", b"a", b"b"]),  # any isspace() may follow a quote
    (b"SET k\x0bx \x0cy", [b"SET", b"k\x0bx", b"y"]),  # only " \t\r\n" end a plain one
    (b"ECHO a\rb", [b"ECHO", b"a", b"b"]),
])
def test_inline_arguments_split_as_redis_sdssplitargs(line, argv):
    if argv is None:
        with pytest.raises(ProtocolError, match="unbalanced quotes in request"):
            parse(line + b"\r\n")
    else:
        assert parse(line + b"\r\n") == [argv]
        assert parse(line + b"\n") == [argv]


def test_only_one_carriage_return_ends_an_inline_line():
    assert parse(b'ECHO "a\r"\r\n') == [[b"ECHO", b"a\r"]]
    assert parse(b"ECHO a\r\r\n") == [[b"ECHO", b"a"]]


def test_inline_commands_with_quotes():
    assert parse(b'SET k "hello world"\r\n') == [[b"SET", b"k", b"hello world"]]
    assert parse(b"SET 'a b' \"c d\" e\r\n") == [[b"SET", b"a b", b"c d", b"e"]]
    assert parse(b'SET k ""\r\n') == [[b"SET", b"k", b""]]
    assert parse(b"SET k \"it's\"\r\n") == [[b"SET", b"k", b"it's"]]


def test_empty_lines_are_ignored():
    assert parse(b"\r\n\r\n   \r\nPING\r\n\r\n") == [[b"PING"]]


def test_empty_multibulk_is_ignored():
    assert parse(b"*0\r\n*-1\r\n" + multibulk(b"PING")) == [[b"PING"]]


# ---- errors ----------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    pytest.param(b"*abc\r\n", id="multibulk-length-not-a-number"),
    pytest.param(b"*%d\r\n" % (1024 * 1024 + 1), id="multibulk-length-too-big"),
    pytest.param(b"*1\r\n$abc\r\n", id="bulk-length-not-a-number"),
    pytest.param(b"*1\r\n$-1\r\n", id="bulk-length-negative"),
    pytest.param(b"*1\r\n$%d\r\n" % (512 * 1024 * 1024 + 1), id="bulk-length-too-big"),
    pytest.param(b"*1\r\n+GET\r\n", id="dollar-expected-got-plus"),
    pytest.param(b"*1\r\n\r\n", id="dollar-expected-got-empty-line"),
    pytest.param(b"*1\r\n$3\r\nGETX\r\n", id="bulk-not-terminated-by-crlf"),
    pytest.param(b'SET k "unbalanced\r\n', id="unbalanced-double-quote"),
    pytest.param(b"SET k 'unbalanced\r\n", id="unbalanced-single-quote"),
])
def test_protocol_errors(data):
    with pytest.raises(ProtocolError):
        parse(data)


def test_dollar_expected_names_what_it_got():
    with pytest.raises(ProtocolError, match=r"expected '\$', got '\+'"):
        parse(b"*1\r\n+GET\r\n")


def test_huge_bulk_length_is_rejected_before_any_data_arrives():
    # The parser must not wait for (or buffer) 1 GiB to decide this is bad.
    p = RequestParser()
    p.feed(b"*1\r\n$1073741824\r\n")
    with pytest.raises(ProtocolError):
        p.commands()


# ---- lengths are refused before anything is allocated, on both paths --------------

both_paths = pytest.mark.parametrize("fast", [True, False], ids=["hiredis-path", "python-path"])


def peak_bytes_while(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@both_paths
@pytest.mark.parametrize("data, message", [
    (b"*3000000000\r\n", "invalid multibulk length"),
    (b"*%d\r\n" % (1024 * 1024 + 1), "invalid multibulk length"),
    (b"*9223372036854775808\r\n", "invalid multibulk length"),
    (b"*" + b"9" * 5000 + b"\r\n", "invalid multibulk length"),
    (b"*1\r\n$3000000000\r\n", "invalid bulk length"),
    (b"*1\r\n$%d\r\n" % (512 * 1024 * 1024 + 1), "invalid bulk length"),
    (b"*2\r\n$3000000000\r\nGET\r\n", "invalid bulk length"),  # the command name's header
    (b"*1\r\n$-2\r\n", "invalid bulk length"),
    # hiredis reads nested aggregates, which a request may not hold: it must not
    # get to allocate them either
    (b"*1\r\n*3000000000\r\n", "expected '$', got '*'"),
    (b"*2\r\n$3\r\nGET\r\n>3000000000\r\n", "expected '$', got '>'"),
    (b"*2\r\n$3\r\nGET\r\n~3000000000\r\n", "expected '$', got '~'"),
    (b"*1\r\n" + b"*60000\r\n" * 5000, "expected '$', got '*'"),
])
def test_huge_counts_and_lengths_are_refused_without_allocating(fast, data, message):
    # The hiredis path used to allocate a list of 3,000,000,000 slots (4.4 s, 24 GB
    # of address space) before the Python parser gave this answer.
    def run():
        with pytest.raises(ProtocolError, match=re.escape(message)):
            parse_with(data, fast=fast)
    assert peak_bytes_while(run) < 4 * 1024 * 1024


def parse_with(data: bytes, fast: bool) -> list:
    p = RequestParser(fast=fast)
    p.feed(data)
    return p.commands()


@both_paths
@pytest.mark.parametrize("data", [
    pytest.param(b"*01\r\n$4\r\nPING\r\n", id="count-with-leading-zero"),
    pytest.param(b"*-0\r\n", id="count-minus-zero"),
    pytest.param(b"*+1\r\n$4\r\nPING\r\n", id="count-with-plus"),
    pytest.param(b"*-9223372036854775809\r\n", id="count-below-int64"),
])
def test_counts_are_read_as_redis_string2ll_reads_them(fast, data):
    with pytest.raises(ProtocolError, match="invalid multibulk length"):
        parse_with(data, fast)


@both_paths
@pytest.mark.parametrize("data", [
    pytest.param(b"*1\r\n$04\r\nPING\r\n", id="length-with-leading-zero"),
    pytest.param(b"*1\r\n$+4\r\nPING\r\n", id="length-with-plus"),
    pytest.param(b"*1\r\n$ 4\r\nPING\r\n", id="length-with-space"),
])
def test_lengths_are_read_as_redis_string2ll_reads_them(fast, data):
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parse_with(data, fast)


@both_paths
def test_negative_counts_are_ignored_as_in_redis(fast):
    # Redis skips a multibulk header of zero or fewer arguments, whatever its value
    assert parse_with(b"*-10\r\n*-9223372036854775808\r\n" + multibulk(b"PING"), fast) \
        == [[b"PING"]]


@both_paths
def test_count_and_length_lines_without_an_end(fast):
    with pytest.raises(ProtocolError, match="too big mbulk count string"):
        parse_with(b"*" + b"1" * (MAX_INLINE + 1), fast)
    with pytest.raises(ProtocolError, match="too big bulk count string"):
        parse_with(b"*1\r\n$" + b"1" * (MAX_INLINE + 1), fast)
    assert parse_with(b"*" + b"1" * (MAX_INLINE - 1), fast) == [], "at the limit: waiting"


def test_too_big_inline_request():
    p = RequestParser()
    p.feed(b"A" * MAX_INLINE)
    assert p.commands() == [], "exactly the limit without CRLF: still waiting"
    p.feed(b"A")
    with pytest.raises(ProtocolError, match="too big inline"):
        p.commands()


def test_too_big_inline_request_fed_in_pieces():
    p = RequestParser()
    with pytest.raises(ProtocolError):
        for _ in range(100):
            p.feed(b"B" * 1024)
            p.commands()


# ---- oversized arguments ---------------------------------------------------------

def test_oversized_argument_is_replaced_and_the_next_command_is_intact():
    data = multibulk(b"SET", b"k", b"0123456789") + multibulk(b"GET", b"k")
    assert parse(data, max_arg_bytes=4) == [[b"SET", b"k", Oversized(10)], [b"GET", b"k"]]


def test_oversized_argument_arriving_in_many_chunks():
    value = bytes(range(256)) * 40  # 10240 bytes, with CR and LF bytes inside
    head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % len(value)
    p = RequestParser(max_arg_bytes=100)
    p.feed(head)
    assert p.commands() == []
    for i in range(0, len(value), 333):
        p.feed(value[i:i + 333])
        assert p.commands() == []
    p.feed(b"\r")
    assert p.commands() == []
    p.feed(b"\n" + multibulk(b"PING") + b"ECHO hi\r\n")
    assert p.commands() == [[b"SET", b"k", Oversized(len(value))], [b"PING"], [b"ECHO", b"hi"]]


def test_oversized_argument_in_the_middle_of_a_command():
    data = multibulk(b"SET", b"0123456789", b"v")
    assert parse(data, max_arg_bytes=4) == [[b"SET", Oversized(10), b"v"]]
    assert parse_bytewise(data, max_arg_bytes=4) == [[b"SET", Oversized(10), b"v"]]


def test_argument_exactly_at_the_limit_is_kept():
    assert parse(multibulk(b"SET", b"k", b"1234"), max_arg_bytes=4) == [[b"SET", b"k", b"1234"]]


# ---- property: any split of any pipeline -----------------------------------------

words = st.text(alphabet="abcXYZ019:_-", min_size=1, max_size=6).map(str.encode)
args = st.binary(max_size=24)  # anything, CR, LF and '*' included
commands = st.one_of(
    st.tuples(st.just("multibulk"), st.lists(args, min_size=1, max_size=4)),
    st.tuples(st.just("inline"), st.lists(words, min_size=1, max_size=4)),
)


def encode(kind: str, argv: list[bytes]) -> bytes:
    return multibulk(*argv) if kind == "multibulk" else b" ".join(argv) + b"\r\n"


def expected(argv: list[bytes], max_arg: int) -> list:
    return [a if len(a) <= max_arg else Oversized(len(a)) for a in argv]


@settings(max_examples=150)
@given(
    st.lists(commands, min_size=1, max_size=6),
    st.sets(st.integers(0, 400), max_size=12),
    st.sampled_from([8, 64, 512 * 1024 * 1024]),
)
def test_any_split_gives_the_same_commands(cmds, cuts, max_arg):
    data = b"".join(encode(kind, argv) for kind, argv in cmds)
    bounds = [0] + sorted(c for c in cuts if 0 < c < len(data)) + [len(data)]
    chunks = [data[a:b] for a, b in zip(bounds, bounds[1:])]
    want = [expected(argv, max_arg) if kind == "multibulk" else argv for kind, argv in cmds]
    assert parse(*chunks, max_arg_bytes=max_arg) == want


@settings(max_examples=40)
@given(st.lists(st.lists(args, min_size=1, max_size=3), min_size=1, max_size=3))
def test_byte_at_a_time_equals_all_at_once(cmds):
    data = b"".join(multibulk(*argv) for argv in cmds)
    assert parse_bytewise(data) == parse(data) == cmds


@given(st.lists(args, min_size=1, max_size=5))
def test_the_parser_reads_what_bulk_array_writes(argv):
    # A reply encoder and the request parser agree on the multibulk format.
    assert parse(resp.bulk_array(argv)) == [argv]


# ---- reply encoders --------------------------------------------------------------

def test_simple_replies():
    assert resp.OK == b"+OK\r\n"
    assert resp.simple("QUEUED") == b"+QUEUED\r\n"
    assert resp.integer(-42) == b":-42\r\n"


def test_error_reply_cannot_break_the_framing():
    assert resp.error("ERR bad\r\nthing") == b"-ERR bad  thing\r\n"


def test_bulk():
    assert resp.bulk(b"hello") == b"$5\r\nhello\r\n"
    assert resp.bulk(b"") == b"$0\r\n\r\n"
    assert resp.bulk(b"a\r\nb") == b"$4\r\na\r\nb\r\n"


def test_null_differs_between_resp2_and_resp3():
    assert resp.null(resp3=False) == b"$-1\r\n"
    assert resp.null(resp3=True) == b"_\r\n"


def test_array_of_encoded_replies():
    assert resp.array([]) == b"*0\r\n"
    assert resp.array([resp.integer(1), resp.bulk(b"a"), resp.null(False)]) == \
        b"*3\r\n:1\r\n$1\r\na\r\n$-1\r\n"


def test_bulk_array_with_nulls():
    assert resp.bulk_array([b"a", None]) == b"*2\r\n$1\r\na\r\n$-1\r\n"
    assert resp.bulk_array([b"a", None], resp3=True) == b"*2\r\n$1\r\na\r\n_\r\n"


def test_mapping_is_flat_in_resp2_and_a_map_in_resp3():
    pairs = [(resp.bulk(b"a"), resp.integer(1)), (resp.bulk(b"b"), resp.integer(2))]
    body = b"$1\r\na\r\n:1\r\n$1\r\nb\r\n:2\r\n"
    assert resp.mapping(pairs, resp3=False) == b"*4\r\n" + body
    assert resp.mapping(pairs, resp3=True) == b"%2\r\n" + body
    assert resp.mapping([], resp3=True) == b"%0\r\n"


def test_verbatim_string():
    assert resp.verbatim("hi", resp3=True) == b"=6\r\ntxt:hi\r\n"
    assert resp.verbatim("hi", resp3=False) == b"$2\r\nhi\r\n"


# ---- the hiredis fast path agrees with the Python parser ---------------------------

def run_parser(data: bytes, fast: bool, max_arg: int) -> list:
    """Commands, then the error if one was raised (what the connection would see)."""
    p = RequestParser(max_arg, fast=fast)
    p.feed(data)
    try:
        return p.commands()
    except ProtocolError as exc:
        return ["error", str(exc)]


# RESP fragments a hostile or sloppy client might send, including reply-only types
# (simple strings, integers, RESP3 sets and pushes, nulls) and non-canonical lengths
fragments = st.sampled_from([
    b"*1\r\n", b"*2\r\n", b"*3\r\n", b"*0\r\n", b"*-1\r\n", b"*02\r\n", b"~2\r\n", b">2\r\n",
    b"$3\r\nGET\r\n", b"$1\r\nk\r\n", b"$03\r\nGET\r\n", b"$-1\r\n", b"$0\r\n\r\n",
    b"+OK\r\n", b":5\r\n", b"_\r\n", b"#t\r\n", b",1.5\r\n", b"%1\r\n", b"PING\r\n",
    b"$5\r\nhello\r\n", b"$2\r\nab", b"\r\n", b"$4\r\nabcdef\r\n", b"$300\r\n" + b"v" * 300 + b"\r\n",
])


@settings(max_examples=400)
@given(st.lists(fragments, min_size=1, max_size=8), st.sampled_from([8, 256, 1 << 20]))
def test_fast_path_matches_the_python_parser_on_any_input(parts, max_arg):
    data = b"".join(parts)
    assert run_parser(data, True, max_arg) == run_parser(data, False, max_arg)


@settings(max_examples=100)
@given(st.lists(st.lists(args, min_size=1, max_size=4), min_size=1, max_size=5),
       st.sampled_from([8, 1 << 20]))
def test_fast_path_matches_the_python_parser_on_valid_pipelines(cmds, max_arg):
    data = b"".join(multibulk(*argv) for argv in cmds)
    assert run_parser(data, True, max_arg) == run_parser(data, False, max_arg) \
        == [expected(argv, max_arg) for argv in cmds]
