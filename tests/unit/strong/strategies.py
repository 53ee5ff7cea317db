"""Hypothesis strategies for strong-range commands."""

from __future__ import annotations

from hypothesis import strategies as st

from quorumkv.core.strong import commands as c

INT64 = st.integers(-2**63, 2**63 - 1)
UINT = st.integers(0, 2**63 - 1)
KEYS = st.sampled_from([b"a", b"b", b"{t}c", b""]) | st.binary(max_size=8)
VALUES = st.binary(max_size=12) | st.sampled_from(
    [b"0", b"-3", b"12", b"1.5", b"9223372036854775807"])
KEY_LIST = st.lists(KEYS, min_size=1, max_size=4).map(tuple)
PAIRS = st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=4).map(tuple)
CONDITIONS = st.lists(st.sampled_from(c.EXPIRE_CONDITIONS), max_size=2).map(tuple)

SIMPLE_COMMANDS = st.one_of(
    st.builds(c.Get, KEYS), st.builds(c.MGet, KEY_LIST), st.builds(c.Exists, KEY_LIST),
    st.builds(c.StrLen, KEYS), st.builds(c.GetRange, KEYS, INT64, INT64),
    st.builds(c.Ttl, KEYS, st.booleans(), st.booleans()),
    st.builds(c.Set, KEYS, VALUES, UINT, *[st.booleans()] * 4),
    st.builds(c.SetNX, KEYS, VALUES), st.builds(c.GetSet, KEYS, VALUES), st.builds(c.GetDel, KEYS),
    st.builds(c.GetEx, KEYS, UINT, st.booleans()), st.builds(c.Delete, KEY_LIST),
    st.builds(c.MSet, PAIRS), st.builds(c.MSetNX, PAIRS), st.builds(c.Incr, KEYS, INT64),
    st.builds(c.IncrByFloat, KEYS, VALUES), st.builds(c.Append, KEYS, VALUES),
    st.builds(c.SetRange, KEYS, INT64, VALUES),
    st.builds(c.Cas, KEYS, st.none() | VALUES, VALUES, st.none() | UINT),
    st.builds(c.Expire, KEYS, INT64, CONDITIONS), st.builds(c.Persist, KEYS),
    st.builds(c.Sweep, KEY_LIST), st.builds(c.Refused, st.text(max_size=20)),
)
COMMANDS = SIMPLE_COMMANDS | st.builds(
    c.Txn, st.lists(SIMPLE_COMMANDS, max_size=4).map(tuple),
    st.lists(st.tuples(KEYS, UINT), max_size=3).map(tuple))
CLIENT_IDS = st.none() | st.binary(max_size=c.MAX_CLIENT_ID_BYTES)
PROPOSALS = st.builds(c.Proposal, COMMANDS, UINT, CLIENT_IDS, UINT)
