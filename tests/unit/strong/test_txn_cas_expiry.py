"""Transactions (Redis's EXEC semantics, WATCH by version), compare-and-set by
value, by version and if absent, versions in replies, expiry decided by the
proposal's clock, and linearizable reads without a log entry."""

from __future__ import annotations

import pytest

from quorumkv.core import keys
from quorumkv.core.strong import OverlayReader, RangeMachine, commands as c
from quorumkv.core.strong.replies import KEY_OUTSIDE_RANGE, NOT_INTEGER, Array, Error, Int, Nil, Ok

from .harness import KEYSPACE_ID, NOW_MS, Err, Harness, plain


# ---- Txn ----

def test_a_txn_applies_in_order_each_command_seeing_the_previous_ones():
    h = Harness()
    reply = h.apply(c.Txn((c.Set(b"{u}a", b"1"), c.Incr(b"{u}a"), c.Append(b"{u}a", b"0"),
                           c.Get(b"{u}a"))))
    assert plain(reply) == ["OK", 2, 2, b"20"]
    assert reply.version == 1


def test_an_error_inside_a_txn_is_that_commands_reply_and_the_others_still_apply():
    """redis-server 7.0.15, MULTI; SET a 1; INCR w (w = "abc"); INCR a; EXEC ->
    [OK, (error) ERR value is not an integer or out of range, 2]."""
    h = Harness()
    h.apply(c.Set(b"w", b"abc"))
    reply = h.apply(c.Txn((c.Set(b"a", b"1"), c.Incr(b"w"), c.Incr(b"a"))))
    assert plain(reply) == ["OK", Err(NOT_INTEGER), 2]
    assert plain(h.apply(c.Get(b"a"))) == b"2" and plain(h.apply(c.Get(b"w"))) == b"abc"


def test_a_command_refused_when_exec_runs_it_answers_its_error_in_place():
    h = Harness()
    reply = h.apply(c.Txn((c.Refused("ERR syntax error"), c.Set(b"q", b"1"))))
    assert plain(reply) == [Err("ERR syntax error"), "OK"]
    assert c.keys_of(c.Txn((c.Refused("ERR syntax error"),))) == ()


def test_a_txn_whose_watched_key_changed_aborts_whole():
    h = Harness()
    version = h.apply(c.Set(b"bal", b"10")).version
    h.apply(c.Incr(b"bal", 5))  # another client, between WATCH and EXEC
    reply = h.apply(c.Txn((c.Incr(b"bal", -10), c.Set(b"log", b"paid")), ((b"bal", version),)))
    assert reply == Nil(array=True)
    assert plain(h.apply(c.Get(b"bal"))) == b"15" and plain(h.apply(c.Get(b"log"))) is None


def test_a_txn_whose_watched_keys_are_unchanged_applies():
    h = Harness()
    version = h.apply(c.Set(b"bal", b"10")).version
    reply = h.apply(c.Txn((c.Incr(b"bal", -10),), ((b"bal", version), (b"absent", 0))))
    assert plain(reply) == [0]


@pytest.mark.parametrize("change", [
    c.Delete((b"k",)), c.Set(b"k", b"v"), c.Expire(b"k", NOW_MS + 10_000), c.Persist(b"k"),
    c.Append(b"k", b""), c.SetRange(b"k", 0, b"v"),
])
def test_any_write_of_a_watched_key_aborts_even_one_that_keeps_its_value(change):
    h = Harness()
    version = h.apply(c.Set(b"k", b"v", expiry_ms=NOW_MS + 50_000)).version
    h.apply(change)
    assert h.apply(c.Txn((c.Set(b"x", b"1"),), ((b"k", version),))) == Nil(array=True)
    assert plain(h.apply(c.Get(b"x"))) is None


def test_a_watched_key_that_expired_since_aborts():
    h = Harness()
    version = h.apply(c.Set(b"k", b"v", expiry_ms=NOW_MS + 10)).version
    txn = c.Txn((c.Set(b"x", b"1"),), ((b"k", version),))
    assert h.apply(txn, now_ms=NOW_MS + 10) == Nil(array=True)


# ---- CAS ----

def test_cas_by_value():
    h = Harness()
    h.apply(c.Set(b"k", b"a"))
    assert h.apply(c.Cas(b"k", b"b", b"c")) == Int(0, 1)   # the current version
    assert h.apply(c.Cas(b"k", b"a", b"c")) == Int(1, 3)   # the new version
    assert plain(h.apply(c.Get(b"k"))) == b"c"
    assert h.apply(c.Cas(b"nope", b"", b"c")) == Int(0, 0)  # absent is not empty


def test_cas_if_absent():
    h = Harness()
    assert h.apply(c.Cas(b"k", None, b"first")) == Int(1, 1)
    assert h.apply(c.Cas(b"k", None, b"second")) == Int(0, 1)
    assert plain(h.apply(c.Get(b"k"))) == b"first"


def test_cas_by_version():
    h = Harness()
    v1 = h.apply(c.Set(b"k", b"a")).version
    h.apply(c.Set(b"k", b"a"))  # same value, new version
    assert h.apply(c.Cas(b"k", None, b"x", if_version=v1)) == Int(0, 2)
    assert h.apply(c.Cas(b"k", None, b"x", if_version=2)) == Int(1, 4)
    assert h.apply(c.Cas(b"new", None, b"x", if_version=0)) == Int(1, 5)  # 0: absent
    assert plain(h.apply(c.Get(b"k"))) == b"x"


def test_cas_clears_the_expiry_like_set():
    h = Harness()
    h.apply(c.Set(b"k", b"a", expiry_ms=NOW_MS + 5000))
    h.apply(c.Cas(b"k", b"a", b"b"))
    assert plain(h.apply(c.Ttl(b"k"))) == -1


# ---- versions ----

def test_every_reply_carries_the_version_of_its_key_after_the_command():
    h = Harness()
    assert h.apply(c.Set(b"k", b"1")) == Ok(1)
    assert h.apply(c.Incr(b"k")).version == 2
    assert h.apply(c.Get(b"k")).version == 2            # a read: the value's version
    assert h.apply(c.Set(b"k", b"9", nx=True)).version == 2  # not set: unchanged
    assert h.apply(c.GetDel(b"k")).version == 0         # deleted: absent
    assert h.apply(c.Get(b"k")) == Nil()
    h.apply(c.MSet(((b"a", b"1"), (b"b", b"2"))))
    assert h.apply(c.MGet((b"a", b"b", b"zz"))).version == 7


# ---- expiry by the proposal's clock ----

def test_expiry_is_decided_by_the_proposals_now_ms_not_by_any_clock():
    h = Harness()
    h.apply(c.Set(b"k", b"v", expiry_ms=NOW_MS + 100))
    assert plain(h.apply(c.Get(b"k"), now_ms=NOW_MS + 99)) == b"v"
    assert plain(h.apply(c.Ttl(b"k"), now_ms=NOW_MS + 99)) == 1
    assert plain(h.apply(c.Get(b"k"), now_ms=NOW_MS + 100)) is None  # live iff expiry > now
    assert plain(h.apply(c.Incr(b"k"), now_ms=NOW_MS + 100)) == 1      # expired: absent
    assert plain(h.apply(c.Ttl(b"k"), now_ms=NOW_MS + 100)) == -1      # a new key, no ttl


def test_the_same_entries_give_the_same_replies_on_every_replica():
    entries = [(c.Set(b"k", b"v", expiry_ms=NOW_MS + 50), NOW_MS), (c.Get(b"k"), NOW_MS + 60),
               (c.SetNX(b"k", b"w"), NOW_MS + 40)]
    a, b = Harness(), Harness()
    assert ([a.apply(cmd, now) for cmd, now in entries]
            == [b.apply(cmd, now) for cmd, now in entries])
    assert a.store == b.store


# ---- reads, routing, the host's interface ----

def test_a_read_writes_nothing_and_sees_what_was_applied():
    h = Harness()
    h.apply(c.Set(b"k", b"hello"))
    before = dict(h.store)
    assert h.read(c.Get(b"k")) == h.apply(c.Get(b"k"))
    assert plain(h.read(c.GetRange(b"k", 1, 3))) == b"ell"
    assert plain(h.read(c.MGet((b"k", b"x")))) == [b"hello", None]
    assert plain(h.read(c.Exists((b"k", b"k")))) == 2
    assert plain(h.read(c.StrLen(b"k"))) == 5
    assert h.store == before


@pytest.mark.parametrize("command", [c.Set(b"k", b"v"), c.Incr(b"k"), c.Txn((c.Get(b"k"),))])
def test_read_refuses_a_command_that_writes(command):
    assert not c.is_read_only(command)
    with pytest.raises(ValueError):
        Harness().read(command)


def test_a_key_outside_the_range_is_refused_and_nothing_of_the_command_is_written():
    m = RangeMachine(KEYSPACE_ID, (b"b", b"m"), range_id=1)
    store = {}
    data = c.encode_proposal(c.Proposal(c.Txn((c.Set(b"c", b"1"), c.Set(b"x", b"2"))), NOW_MS))
    applied = m.apply(1, data, store)
    assert applied == type(applied)(Error(KEY_OUTSIDE_RANGE), [])
    assert m.read(c.Get(b"a"), store, NOW_MS) == Error(KEY_OUTSIDE_RANGE)


def test_keys_are_stored_under_the_placement_key_pkey_of_gives():
    m = RangeMachine(KEYSPACE_ID, (b"", b""), range_id=1, pkey_of=lambda k: b"P" + k)
    applied = m.apply(1, c.encode_proposal(c.Proposal(c.Set(b"k", b"v"), NOW_MS)), {})
    assert [k for k, _ in applied.writes] == [keys.storage_key(KEYSPACE_ID, b"Pk")]


def test_entries_of_one_batch_see_each_others_writes_through_an_overlay():
    m = RangeMachine(KEYSPACE_ID, (b"", b""), range_id=1)
    engine = {}
    batch = OverlayReader(engine)
    for index in (1, 2, 3):
        applied = m.apply(index, c.encode_proposal(c.Proposal(c.Incr(b"n"), NOW_MS)), batch)
        batch.add(applied.writes)
    assert applied.reply == Int(3, 3) and engine == {}


def test_the_empty_entry_of_a_new_leader_and_an_undecodable_one_write_nothing():
    m = RangeMachine(KEYSPACE_ID, (b"", b""), range_id=1)
    assert m.apply(1, b"", {}).writes == []
    garbage = m.apply(2, b"\xc1", {})
    assert isinstance(garbage.reply, Error) and garbage.writes == []


def test_keys_of_a_txn_covers_its_commands_and_watches():
    txn = c.Txn((c.MSet(((b"a", b"1"), (b"b", b"2"))), c.Get(b"c")), ((b"d", 3),))
    assert c.keys_of(txn) == (b"a", b"b", b"c", b"d")
    assert c.keys_of(c.Delete((b"x", b"y"))) == (b"x", b"y")
    assert c.keys_of(c.SetRange(b"k", 1, b"v")) == (b"k",)


def test_txn_replies_as_an_array_even_when_empty():
    assert Harness().apply(c.Txn(())) == Array((), 0)


# ---- sweeping expired records ----

def test_sweep_deletes_expired_records_only():
    h = Harness()
    h.apply(c.Set(b"old", b"v", expiry_ms=NOW_MS + 10))
    h.apply(c.Set(b"live", b"v", expiry_ms=NOW_MS + 1000))
    h.apply(c.Set(b"forever", b"v"))
    stored = {k for k in h.store if not keys.is_system_key(k)}
    assert len(stored) == 3  # the expired one is still stored: reads skip it
    reply = h.apply(c.Sweep((b"old", b"live", b"forever", b"nope", b"old")), now_ms=NOW_MS + 10)
    assert reply == Int(1)
    swept = {keys.storage_key(KEYSPACE_ID, b"old")}
    assert {k for k in h.store if not keys.is_system_key(k)} == stored - swept


def test_a_sweep_proposed_before_a_rewrite_leaves_the_new_value():
    h = Harness()
    h.apply(c.Set(b"k", b"v", expiry_ms=NOW_MS + 10))
    h.apply(c.Set(b"k", b"new"), now_ms=NOW_MS + 20)  # committed before the host's sweep
    assert h.apply(c.Sweep((b"k",)), now_ms=NOW_MS + 30) == Int(0)
    assert plain(h.apply(c.Get(b"k"), now_ms=NOW_MS + 30)) == b"new"
