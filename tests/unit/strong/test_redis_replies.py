"""Every command of a strong range against Redis: the replies and errors here are
what redis-server 7.0.15 (Debian, x86-64) answered to the same commands through
redis-cli, in the same order, each script on an empty database.

Where QuorumKV's command differs from Redis's argument form, the proposer's
translation is written out: DECRBY 3 is ``Incr(key, -3)``, ``SET ... EX 10`` an
absolute ``expiry_ms``.
"""

from __future__ import annotations

import pytest

from quorumkv.core.strong import commands as c
from quorumkv.core.strong.replies import (
    NAN_OR_INFINITY, NOT_FLOAT, NOT_INTEGER, OFFSET_OUT_OF_RANGE, OVERFLOW, STRING_TOO_LONG,
)

from .harness import NOW_MS, Err, Harness, plain

NOT_INT, OVER = Err(NOT_INTEGER), Err(OVERFLOW)
BAD_FLOAT, NAN_INF = Err(NOT_FLOAT), Err(NAN_OR_INFINITY)
MAX = 2**63 - 1
MIN = -2**63
LATER = NOW_MS + 100_000  # EX 100

SCRIPTS = {
    "incr family": [
        (c.Set(b"n", b"10"), "OK"), (c.Incr(b"n"), 11), (c.Incr(b"n", -5), 6),
        (c.Incr(b"n", -1), 5), (c.Incr(b"n", -3), 2), (c.Incr(b"newkey"), 1),
    ],
    "incr overflow edges": [
        (c.Set(b"big", b"9223372036854775807"), "OK"), (c.Incr(b"big"), OVER),
        (c.Get(b"big"), b"9223372036854775807"),
        (c.Set(b"small", b"-9223372036854775808"), "OK"), (c.Incr(b"small", -1), OVER),
        (c.Incr(b"small", MAX), -1), (c.Set(b"m", b"-1"), "OK"), (c.Incr(b"m", MIN), OVER),
        (c.Set(b"z", b"0"), "OK"), (c.Incr(b"z", MIN), MIN), (c.Incr(b"z", MAX), -1),
    ],
    "incr of what is not a canonical integer": [
        (c.Set(b"s", b"abc"), "OK"), (c.Incr(b"s"), NOT_INT),
        (c.Set(b"sp", b" 1"), "OK"), (c.Incr(b"sp"), NOT_INT),
        (c.Set(b"lz", b"01"), "OK"), (c.Incr(b"lz"), NOT_INT),
        (c.Set(b"plus", b"+1"), "OK"), (c.Incr(b"plus"), NOT_INT),
        (c.Set(b"z", b"-0"), "OK"), (c.Incr(b"z"), NOT_INT),
        (c.Set(b"f", b"1.0"), "OK"), (c.Incr(b"f"), NOT_INT),
        (c.Set(b"o", b"9223372036854775808"), "OK"), (c.Incr(b"o", -1), NOT_INT),
        (c.Get(b"s"), b"abc"),
    ],
    "incrbyfloat": [
        (c.Set(b"f", b"10.5"), "OK"), (c.IncrByFloat(b"f", b"0.1"), b"10.6"),
        (c.Set(b"g", b"3.0e3"), "OK"), (c.IncrByFloat(b"g", b"0"), b"3000"),
        (c.IncrByFloat(b"y", b"0.1"), b"0.1"), (c.IncrByFloat(b"y", b"0.2"), b"0.3"),
        (c.Set(b"x", b"0"), "OK"),
        (c.IncrByFloat(b"x", b"0.000003814697265625"), b"0.00000381469726562"),  # a tie: to even
        (c.Set(b"f2", b"5"), "OK"), (c.IncrByFloat(b"f2", b"0x10"), b"21"),
        (c.IncrByFloat(b"f2", b"1e-5"), b"21.00001"), (c.IncrByFloat(b"f2", b"-1e-5"), b"21"),
        (c.Set(b"f3", b"1.5e2"), "OK"), (c.IncrByFloat(b"f3", b"0"), b"150"),
        (c.IncrByFloat(b"f5", b"0.30000000000000004"), b"0.30000000000000004"),
        (c.IncrByFloat(b"f6", b"1e17"), b"100000000000000000"),
        (c.IncrByFloat(b"f7", b"1.0e20"), b"100000000000000000000"),
        (c.IncrByFloat(b"f8", b"123456789012345678901234567890"),
         b"123456789012345678899921813504"),
        (c.IncrByFloat(b"f9", b"-0.0"), b"0"), (c.IncrByFloat(b"f9", b"-0"), b"0"),
        (c.IncrByFloat(b"h", b"0x1.8p1"), b"3"), (c.IncrByFloat(b"h2", b".5"), b"0.5"),
        (c.IncrByFloat(b"h3", b"5."), b"5"), (c.IncrByFloat(b"h10", b"-1e-18"), b"0"),
        (c.IncrByFloat(b"h11", b"1e-4940"), b"0"),
        (c.Set(b"z", b"-0"), "OK"), (c.IncrByFloat(b"z", b"0"), b"0"),
    ],
    "incrbyfloat errors": [
        (c.Set(b"g", b"1"), "OK"), (c.IncrByFloat(b"g", b"inf"), NAN_INF),
        (c.IncrByFloat(b"g", b"-inf"), NAN_INF), (c.IncrByFloat(b"g", b"INFINITY"), NAN_INF),
        (c.IncrByFloat(b"g", b"nan"), BAD_FLOAT), (c.IncrByFloat(b"g", b"abc"), BAD_FLOAT),
        (c.IncrByFloat(b"g", b" 1"), BAD_FLOAT), (c.IncrByFloat(b"g", b"1 "), BAD_FLOAT),
        (c.IncrByFloat(b"g", b"1e5000"), BAD_FLOAT), (c.IncrByFloat(b"g", b"1e-5000"), BAD_FLOAT),
        (c.IncrByFloat(b"g", b""), BAD_FLOAT), (c.IncrByFloat(b"g", b"1e"), BAD_FLOAT),
        (c.IncrByFloat(b"g", b"0x"), BAD_FLOAT), (c.IncrByFloat(b"g", b"1\x002"), BAD_FLOAT),
        (c.Set(b"s", b"abc"), "OK"), (c.IncrByFloat(b"s", b"1"), BAD_FLOAT),
        (c.Set(b"sp", b" 1"), "OK"), (c.IncrByFloat(b"sp", b"1"), BAD_FLOAT),
        (c.Get(b"g"), b"1"),
    ],
    "incrbyfloat beyond double: long double range": [
        (c.Set(b"g", b"3000"), "OK"),
        (c.IncrByFloat(b"g", b"1e308"),
         b"99999999999999999996685879655845645660560099847415567207797047994921734868838061872"
         b"100126921888539320446747225054013223152134749593960583597420814430196418767959100019"
         b"603190778663109604507106667939153395788938914560543563061268364901618630217086589253"
         b"444881623791300855757318142424510452728255046343928578048"),
        (c.IncrByFloat(b"g", b"1e308"),
         b"19999999999999999999337175931169129132112019969483113441559409598984346973767612374"
         b"420025384377707864089349445010802644630426949918792116719484162886039283753591820003"
         b"920638155732621920901421333587830679157787782912108712612253672980323726043417317850"
         b"6889763247582601711514636284849020905456510092687857156096"),
    ],
    "append, strlen, getrange": [
        (c.Append(b"a", b"hello"), 5), (c.Append(b"a", b" world"), 11),
        (c.Get(b"a"), b"hello world"), (c.StrLen(b"a"), 11), (c.StrLen(b"nope"), 0),
        (c.GetRange(b"nope", 0, -1), b""), (c.GetRange(b"a", 0, -1), b"hello world"),
        (c.GetRange(b"a", -3, -1), b"rld"),
    ],
    "setrange": [
        (c.SetRange(b"sr", 5, b"hi"), 7), (c.Get(b"sr"), b"\0\0\0\0\0hi"),
        (c.SetRange(b"sr2", 0, b""), 0), (c.Exists((b"sr2",)), 0),
        (c.SetRange(b"sr2", 3, b""), 0), (c.Exists((b"sr2",)), 0),
        (c.Set(b"a", b"hello world"), "OK"), (c.SetRange(b"a", -1, b"x"), Err(OFFSET_OUT_OF_RANGE)),
        (c.SetRange(b"a", 1, b""), 11), (c.SetRange(b"a", 6, b"redis"), 11),
        (c.Get(b"a"), b"hello redis"), (c.SetRange(b"a", 9, b"xyz"), 12),
        (c.Get(b"a"), b"hello redxyz"),
    ],
    "set options": [
        (c.Set(b"k", b"v"), "OK"), (c.Set(b"k", b"v2", nx=True, get=True), b"v"),
        (c.Set(b"k2", b"v", xx=True, get=True), None), (c.Exists((b"k2",)), 0),
        (c.Set(b"k2", b"v", nx=True, get=True), None),
        (c.Set(b"k", b"v3", xx=True, get=True), b"v"),
        (c.Set(b"k", b"v", get=True), b"v3"), (c.Set(b"k", b"w", nx=True), None),
        (c.Set(b"k", b"v", expiry_ms=1), "OK"), (c.Exists((b"k",)), 0),  # PXAT 1: deleted
        (c.Set(b"k", b"v", expiry_ms=1, get=True), None),
    ],
    "setnx, getset, getdel": [
        (c.SetNX(b"sn", b"1"), 1), (c.SetNX(b"sn", b"2"), 0), (c.GetDel(b"sn"), b"1"),
        (c.GetDel(b"sn"), None), (c.GetSet(b"gs", b"1"), None), (c.GetSet(b"gs", b"2"), b"1"),
    ],
    "multi-key": [
        (c.MSetNX(((b"m1", b"a"), (b"m2", b"b"))), 1),
        (c.MSetNX(((b"m2", b"c"), (b"m3", b"d"))), 0), (c.Exists((b"m3",)), 0),
        (c.MSetNX(((b"m4", b"a"), (b"m4", b"b"))), 1), (c.Get(b"m4"), b"b"),
        (c.MSet(((b"x", b"1"), (b"x", b"2"))), "OK"), (c.Get(b"x"), b"2"),
        (c.Delete((b"m1", b"m1", b"m2", b"nope")), 2), (c.Exists((b"x", b"x", b"nope")), 2),
        (c.MGet((b"x", b"nope", b"m4")), [b"2", None, b"b"]),
    ],
    "ttl kept by read-modify-write, cleared by set and getset": [
        (c.Set(b"e", b"1", expiry_ms=LATER), "OK"), (c.IncrByFloat(b"e", b"1"), b"2"),
        (c.Ttl(b"e", seconds=True), 100), (c.Incr(b"e"), 3), (c.Ttl(b"e", True), 100),
        (c.Append(b"e", b"x"), 2), (c.Ttl(b"e", True), 100), (c.SetRange(b"e", 0, b"9"), 2),
        (c.Ttl(b"e", True), 100), (c.GetSet(b"e", b"5"), b"9x"), (c.Ttl(b"e", True), -1),
        (c.Set(b"e", b"1", expiry_ms=LATER), "OK"), (c.Set(b"e", b"2", keep_ttl=True), "OK"),
        (c.Ttl(b"e", True), 100), (c.Set(b"e", b"3", keep_ttl=True, get=True, xx=True), b"2"),
        (c.Ttl(b"e", True), 100), (c.Ttl(b"e"), 100_000), (c.Ttl(b"nope"), -2),
        (c.Ttl(b"nope", True), -2), (c.Set(b"p", b"1"), "OK"), (c.Ttl(b"p", True), -1),
    ],
    "expiretime": [
        (c.Set(b"et", b"1", expiry_ms=4102444800499), "OK"), (c.Ttl(b"et", True, True), 4102444800),
        (c.Ttl(b"et", absolute=True), 4102444800499),
        (c.Set(b"et", b"1", expiry_ms=4102444800500), "OK"), (c.Ttl(b"et", True, True), 4102444801),
        (c.Set(b"et2", b"1"), "OK"), (c.Ttl(b"et2", True, True), -1),
        (c.Ttl(b"nope", True, True), -2), (c.Ttl(b"et2", absolute=True), -1),
    ],
    "getex": [
        (c.Set(b"x", b"2"), "OK"), (c.GetEx(b"x"), b"2"), (c.GetEx(b"x", expiry_ms=LATER), b"2"),
        (c.Ttl(b"x", True), 100), (c.GetEx(b"x", persist=True), b"2"), (c.Ttl(b"x", True), -1),
        (c.GetEx(b"nope", expiry_ms=LATER), None), (c.GetEx(b"x", expiry_ms=1), b"2"),
        (c.Exists((b"x",)), 0),
    ],
    "expire and persist": [
        (c.Set(b"x", b"1"), "OK"), (c.Expire(b"x", LATER), 1),
        (c.Expire(b"x", NOW_MS + 50_000, ("GT",)), 0),
        (c.Expire(b"x", NOW_MS + 200_000, ("GT",)), 1),
        (c.Ttl(b"x", True), 200), (c.Expire(b"x", NOW_MS + 10_000, ("NX",)), 0),
        (c.Persist(b"x"), 1), (c.Persist(b"x"), 0), (c.Expire(b"x", NOW_MS + 10_000, ("XX",)), 0),
        (c.Expire(b"nope", LATER), 0), (c.Expire(b"x", NOW_MS - 1000), 1), (c.Exists((b"x",)), 0),
    ],
}


@pytest.mark.parametrize("name", SCRIPTS)
def test_replies_are_redis_replies(name):
    h = Harness()
    got = [(command, plain(h.apply(command))) for command, _ in SCRIPTS[name]]
    assert got == SCRIPTS[name]


def test_append_and_setrange_past_the_value_limit_are_refused_and_write_nothing():
    """Redis: "string exceeds maximum allowed size (proto-max-bulk-len)" at
    SETRANGE a 536870912 x; here the limit is node.max_value_bytes."""
    h = Harness(max_value_bytes=10)
    assert plain(h.apply(c.Set(b"a", b"hello"))) == "OK"
    assert plain(h.apply(c.Append(b"a", b"world!"))) == Err(STRING_TOO_LONG)
    assert plain(h.apply(c.SetRange(b"a", 10, b"x"))) == Err(STRING_TOO_LONG)
    assert plain(h.apply(c.SetRange(b"a", 9, b"x"))) == 10
    assert plain(h.apply(c.Append(b"a", b"y"))) == Err(STRING_TOO_LONG)
    assert plain(h.apply(c.Get(b"a"))) == b"hello\0\0\0\0x"
