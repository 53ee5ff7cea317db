"""Range reads of range keyspaces, the pure parts: SCAN cursors that resume at a
key (core.scan.range_cursor), the merge of reverse pages against an oracle, the
cut to LIMIT, the range a reverse read starts in, the QKV.RANGE options, the
reverse page of one range (core.eventual.scan.SpanScan), and the storage's
reverse scan on both engines."""

from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.api.resp.ranges import parse_options
from quorumkv.core import messages as m
from quorumkv.core.consistency import Level
from quorumkv.core.eventual.actions import LocalScan, Reply, Send
from quorumkv.core.eventual.context import Context
from quorumkv.core.eventual.scan import SpanScan
from quorumkv.core.placement import VOTER, RangeDescriptor
from quorumkv.core.hlc import HLC
from quorumkv.core.placement import Keyspace, RangeDescriptor
from quorumkv.core.scan import (CURSOR_KEY_BYTES, RANGE_LIMIT_DEFAULT, RANGE_LIMIT_MAX,
                                clip, merge_span, parse_range_cursor, range_below,
                                range_cursor, range_limit)
from quorumkv.core.version import Version, merge
from quorumkv.errors import SyntaxError_

from .test_storage_engine import make_engine, make_storage, run, write  # noqa: F401

RANGE = Keyspace("users", 2, partitioner="range")

# ---- SCAN cursors of a range keyspace ---------------------------------------------------


@given(st.binary(min_size=1, max_size=CURSOR_KEY_BYTES))
def test_a_cursor_resumes_at_its_key(key):
    cursor = range_cursor(key)
    assert cursor > 0
    assert parse_range_cursor(str(cursor).encode()) == key


@given(st.binary(min_size=1, max_size=40), st.binary(min_size=1, max_size=40))
def test_cursors_order_as_their_keys_by_length_then_bytes(a, b):
    assert (range_cursor(a) < range_cursor(b)) == ((len(a), a) < (len(b), b))


def test_zero_starts_and_ends_and_leading_zero_bytes_survive():
    assert range_cursor(None) == 0
    assert parse_range_cursor(b"0") == b"" and parse_range_cursor(b"000") == b""
    assert parse_range_cursor(str(range_cursor(b"\x00\x00a")).encode()) == b"\x00\x00a"


def test_a_long_resume_key_is_cut_to_a_prefix_that_sorts_before_it():
    key = b"k" * (CURSOR_KEY_BYTES + 50)
    resumed = parse_range_cursor(str(range_cursor(key)).encode())
    assert resumed == key[:CURSOR_KEY_BYTES] and resumed < key  # repeats, never skips
    assert len(str(range_cursor(b"\xff" * CURSOR_KEY_BYTES))) < 4300  # redis-py's int()


@pytest.mark.parametrize("raw", [b"", b"-1", b"+5", b" 5", b"12a", b"255", b"513",
                                 str(1 << (8 * (CURSOR_KEY_BYTES + 2))).encode(),
                                 b"9" * 5000])
def test_what_is_not_a_cursor_of_a_range_keyspace_is_refused(raw):
    # 255: no marker byte; 513 = 0x0201: a wrong marker; then too long
    with pytest.raises(SyntaxError_, match="invalid cursor"):
        parse_range_cursor(raw)


# ---- merging reverse pages ------------------------------------------------------------


def reverse_page(stored: dict, end: bytes | None, limit: int) -> m.ScanReply:
    """A replica's reverse page as storage.scan(reverse=True) makes it."""
    items = sorted(((k, v) for k, v in stored.items() if end is None or k < end),
                   reverse=True)
    if len(items) > limit:
        return m.ScanReply(tuple(items[:limit]), True, items[limit - 1][0])
    return m.ScanReply(tuple(items), False, items[-1][0] if items else b"")


replica_contents = st.lists(st.dictionaries(
    st.binary(min_size=1, max_size=3),
    st.builds(lambda ts, tomb, expiry: Version(ts, "n1", tomb, expiry,
                                               b"" if tomb else b"v%d" % ts),
              st.integers(1, 5), st.booleans(), st.sampled_from([0, 0, 5])),
    max_size=12), min_size=1, max_size=3)


@settings(max_examples=300, deadline=None)
@given(replica_contents, st.integers(1, 4))
def test_reverse_pages_return_each_live_newest_key_once_descending(replicas, limit):
    everything: dict[bytes, Version] = {}
    for stored in replicas:
        for key, version in stored.items():
            everything[key] = merge(everything.get(key), version)
    now = 10  # versions with expiry 5 have expired: left out like tombstones
    expected = sorted(((k, v) for k, v in everything.items() if v.is_live(now)),
                      reverse=True)
    got, end = [], None
    for _ in range(100):  # bounded: every page makes progress
        span = merge_span([reverse_page(s, end, limit) for s in replicas], RANGE, now,
                          reverse=True)
        assert [k for k, _ in span.items] == sorted((k for k, _ in span.items),
                                                    reverse=True)
        got.extend(span.items)
        if span.resume is None:
            break
        assert end is None or span.resume < end
        end = span.resume
    assert got == expected


def test_a_key_missing_on_the_truncated_replica_is_still_returned():
    """The cut is where the truncated page ends: keys above it from any replica."""
    v = Version(1, "n1", value=b"x")
    short = m.ScanReply(((b"z", v), (b"y", v)), True, b"y")
    full = m.ScanReply(((b"z", v), (b"yy", v), (b"y", v), (b"b", v)), False, b"b")
    span = merge_span([short, full], RANGE, 0, reverse=True)
    assert [k for k, _ in span.items] == [b"z", b"yy", b"y"] and span.resume == b"y"


# ---- LIMIT, the continuation, and where a reverse read starts ---------------------------


def test_clip_cuts_to_limit_and_resumes_at_the_first_key_left_out():
    v = Version(1, "n1", value=b"x")
    items = [(b"a", v), (b"b", v), (b"c", v)]
    assert clip(items, b"d", 3, False) == (items, b"d")
    assert clip(items, b"d", 2, False) == (items[:2], b"b\x00")  # the key after b
    down = items[::-1]
    assert clip(down, None, 2, True) == (down[:2], b"b")  # the next end: b, exclusive


def test_a_reverse_read_starts_in_the_range_below_its_end():
    ranges = [RangeDescriptor.of(i + 1, "users", s, e, ("n1",)) for i, (s, e) in
              enumerate([(b"", b"l"), (b"l", b"r"), (b"r", b"")])]
    assert range_below(ranges, b"").range_id == 3
    assert range_below(ranges, b"r").range_id == 2  # r itself is not read
    assert range_below(ranges, b"r\x00").range_id == 3
    assert range_below(ranges, b"a").range_id == 1
    assert range_below(ranges, b"l").range_id == 1


def test_qkv_range_options_and_their_errors():
    assert parse_options([]) == (RANGE_LIMIT_DEFAULT, False)
    assert parse_options([b"rev", b"LIMIT", b"5"]) == (5, True)
    assert parse_options([b"LIMIT", b"10000"]) == (RANGE_LIMIT_MAX, False)
    for args, text in [([b"LIMIT"], "syntax error"), ([b"REVERSE"], "syntax error"),
                       ([b"LIMIT", b"0"], "LIMIT must be between 1 and 10000"),
                       ([b"LIMIT", b"10001"], "LIMIT must be between 1 and 10000"),
                       ([b"LIMIT", b"-1"], "value is not an integer or out of range"),
                       ([b"LIMIT", b"1x"], "value is not an integer or out of range")]:
        with pytest.raises(SyntaxError_, match=text):
            parse_options(args)
    assert range_limit(None) == RANGE_LIMIT_DEFAULT


# ---- the reverse page of one range ---------------------------------------------------------


def voters(range_id: int, start: bytes, end: bytes, *nodes: str) -> RangeDescriptor:
    return RangeDescriptor(range_id, RANGE.name, start, end,
                           tuple((node, VOTER) for node in nodes))


def test_a_reverse_span_scan_asks_below_end_and_goes_on_in_the_range_before():
    ctx = Context("n1", HLC(), 1000, 1000)
    scan = SpanScan(ctx, Level.QUORUM, RANGE, voters(18, b"l", b"r", "n1", "n2", "n3"),
                    b"c", b"p", b"r", 2, reverse=True, range_start=b"l")
    actions = scan.start()
    assert isinstance(actions[0], LocalScan) and isinstance(actions[1], Send)
    assert actions[0].message == m.Scan("users", b"l", b"p", 2, 18, 1, True)  # [max(c, l), p)
    v = Version(1, "n2", value=b"x")
    assert scan.on_reply("n1", 0, m.ScanReply(((b"n", v),), False, b"n"), 0) is None
    done = scan.on_reply("n2", 0, m.ScanReply(((b"o", v), (b"m", v)), False, b"m"), 0)
    reply = done[-1]
    assert isinstance(reply, Reply) and reply.error is None
    assert [k for k, _ in reply.result.items] == [b"o", b"n", b"m"]
    assert reply.result.resume == b"l"  # the span goes on below this range


def test_a_reverse_span_scan_inside_its_range_ends_when_its_pages_do():
    ctx = Context("n1", HLC(), 1000, 1000)
    scan = SpanScan(ctx, Level.ONE, RANGE, voters(18, b"l", b"r", "n1"), b"m", b"p", b"r",
                    2, reverse=True, range_start=b"l")
    scan.start()
    v = Version(1, "n1", value=b"x")
    done = scan.on_reply("n1", 0, m.ScanReply(((b"o", v),), False, b"o"), 0)
    assert done[-1].result.resume is None


# ---- the storage's reverse scan ----------------------------------------------------------


def test_the_storage_scans_a_span_backwards_and_truncates_after_limit(make_storage):
    async def main():
        s = make_storage()
        v = Version(3, "n1", value=b"x")
        await write(s, [(1, p, v) for p in (b"a", b"b", b"c", b"d")] + [(2, b"a", v)])
        items, truncated, last = s.scan(1, b"b", b"", 10, reverse=True)
        assert [p for p, _ in items] == [b"d", b"c", b"b"] and not truncated
        items, truncated, last = s.scan(1, b"", b"d", 2, reverse=True)
        assert [p for p, _ in items] == [b"c", b"b"] and truncated and last == b"b"
        items, truncated, last = s.scan(1, b"", b"c\x00", 10, reverse=True)
        assert [p for p, _ in items] == [b"c", b"b", b"a"]  # never into keyspace 0
    run(main())


def test_every_engine_iterates_a_span_backwards(make_engine):
    engine = make_engine()
    batch = engine.batch()
    for key in (b"\x00\x01a", b"\x00\x01b", b"\x00\x01c", b"\x00\x02a"):
        batch.put(key, b"v")
    engine.write(batch)
    assert [k for k, _ in engine.iter_span_reverse(b"\x00\x01", b"\x00\x01c")] == [
        b"\x00\x01b", b"\x00\x01a"]
    assert [k for k, _ in engine.iter_span_reverse(b"\x00\x01b", b"\x00\x02")] == [
        b"\x00\x01c", b"\x00\x01b"]
    assert list(engine.iter_span_reverse(b"\x00\x03", b"\x00\x04")) == []
