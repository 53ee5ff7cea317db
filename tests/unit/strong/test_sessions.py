"""Exactly-once: a client's retried request applies once and gets the first reply;
sessions are range state (records in the same writes), expire by the proposals'
clocks and are bounded, the same on every replica."""

from __future__ import annotations

from quorumkv.core import keys
from quorumkv.core.strong import commands as c
from quorumkv.core.strong.record import decode_session
from quorumkv.core.strong.replies import DUPLICATE_REQUEST, Error, Int

from .harness import NOW_MS, RANGE_ID, Harness, plain

HOUR = 60 * 60 * 1000


def sessions_in(h: Harness) -> dict:
    """client id -> seq, from the session records in the store."""
    lo, hi = keys.prefix_span(keys.session_prefix(RANGE_ID))
    return {keys.session_client(k): decode_session(v).seq for k, v in h.store.items()
            if lo <= k < hi}


def test_a_retry_of_the_same_seq_applies_once_and_gets_the_same_reply():
    h = Harness()
    first = h.apply(c.Incr(b"n", 5), client_id=b"alice", seq=1)
    retry = h.apply(c.Incr(b"n", 5), client_id=b"alice", seq=1)
    assert first == retry == Int(5, 1)  # the version too: the first apply's index
    assert plain(h.apply(c.Get(b"n"))) == b"5"


def test_a_retried_error_is_the_same_error_and_a_retried_nil_the_same_nil():
    h = Harness()
    h.apply(c.Set(b"s", b"abc"))
    first = h.apply(c.Incr(b"s"), client_id=b"c", seq=1)
    assert h.apply(c.Incr(b"s"), client_id=b"c", seq=1) == first
    h.apply(c.Set(b"s", b"7"))  # the retry must not see this
    assert plain(h.apply(c.Incr(b"s"), client_id=b"c", seq=1)).startswith("ERR value is not")


def test_an_older_seq_is_refused_and_applies_nothing():
    h = Harness()
    h.apply(c.Incr(b"n"), client_id=b"c", seq=1)
    h.apply(c.Incr(b"n"), client_id=b"c", seq=2)
    reply = h.apply(c.Incr(b"n"), client_id=b"c", seq=1)
    assert isinstance(reply, Error) and reply.message.startswith(DUPLICATE_REQUEST)
    assert plain(h.apply(c.Get(b"n"))) == b"2"


def test_a_newer_seq_applies_and_gaps_are_allowed():
    h = Harness()
    h.apply(c.Incr(b"n"), client_id=b"c", seq=1)
    assert plain(h.apply(c.Incr(b"n"), client_id=b"c", seq=5)) == 2
    assert sessions_in(h) == {b"c": 5}


def test_clients_are_independent_and_requests_without_a_session_always_apply():
    h = Harness()
    h.apply(c.Incr(b"n"), client_id=b"a", seq=1)
    h.apply(c.Incr(b"n"), client_id=b"b", seq=1)
    h.apply(c.Incr(b"n"))
    h.apply(c.Incr(b"n"))
    assert plain(h.apply(c.Get(b"n"))) == b"4"
    assert sessions_in(h) == {b"a": 1, b"b": 1}


def test_a_restored_replica_deduplicates_like_the_one_that_never_restarted():
    """A restart (or a snapshot install) rebuilds the sessions from their records."""
    h = Harness()
    h.apply(c.Incr(b"n"), client_id=b"c", seq=1)
    restarted = Harness()
    restarted.store.update(h.store)
    restarted.index = h.index
    lo, hi = keys.prefix_span(keys.session_prefix(RANGE_ID))
    restarted.machine.restore([(k, v) for k, v in h.store.items() if lo <= k < hi])
    for replica in (h, restarted):
        assert replica.apply(c.Incr(b"n"), client_id=b"c", seq=1) == Int(1, 1)
        assert plain(replica.apply(c.Get(b"n"))) == b"1"


def test_an_idle_session_expires_by_the_proposals_clock():
    h = Harness(session_idle_ms=HOUR)
    h.apply(c.Incr(b"n"), now_ms=NOW_MS, client_id=b"old", seq=1)
    h.apply(c.Get(b"n"), now_ms=NOW_MS + HOUR)  # idle exactly an hour: kept
    assert sessions_in(h) == {b"old": 1}
    h.apply(c.Get(b"n"), now_ms=NOW_MS + HOUR + 1)
    assert sessions_in(h) == {} and h.machine.sessions == {}
    # now the same seq is a new request: it applies
    assert plain(h.apply(c.Incr(b"n"), now_ms=NOW_MS + HOUR + 2, client_id=b"old", seq=1)) == 2


def test_sessions_are_bounded_the_least_recently_used_dropped_first():
    h = Harness(max_sessions=2)
    h.apply(c.Incr(b"n"), client_id=b"a", seq=1)
    h.apply(c.Incr(b"n"), client_id=b"b", seq=1)
    h.apply(c.Incr(b"n"), client_id=b"a", seq=2)  # a is now the most recent
    h.apply(c.Incr(b"n"), client_id=b"c", seq=1)
    assert sessions_in(h) == {b"a": 2, b"c": 1}


def test_expiry_is_the_same_on_every_replica_even_when_leaders_clocks_go_back():
    """Two replicas, one restored from records half-way, apply the same entries,
    stamped by leaders whose clocks disagree: same sessions, same replies."""
    entries = [(b"a", NOW_MS + 5000), (b"b", NOW_MS), (b"c", NOW_MS + 2000),
               (b"d", NOW_MS + 9000), (b"e", NOW_MS + 1000), (b"f", NOW_MS + 12_500)]
    live, restored = Harness(session_idle_ms=4000), Harness(session_idle_ms=4000)
    lo, hi = keys.prefix_span(keys.session_prefix(RANGE_ID))
    replies = {id(live): [], id(restored): []}
    for i, (client, now) in enumerate(entries):
        if i == 3:  # restored: a new machine from the store alone
            restored.machine = type(restored.machine)(
                3, (b"", b""), range_id=RANGE_ID, session_idle_ms=4000)
            restored.machine.restore([(k, v) for k, v in restored.store.items() if lo <= k < hi])
        for h in (live, restored):
            replies[id(h)].append(h.apply(c.Incr(b"n"), now_ms=now, client_id=client, seq=1))
    assert replies[id(live)] == replies[id(restored)]
    # at f (cutoff +8500): a, b, c dropped, oldest first; d (+9000) stops the
    # sweep, so e (+1000) stays behind it: order of application, not of clocks
    assert sessions_in(live) == sessions_in(restored) == {b"d": 1, b"e": 1, b"f": 1}
    assert list(live.machine.sessions) == list(restored.machine.sessions)


def test_the_session_record_is_written_with_the_command_writes():
    h = Harness()
    data = c.encode_proposal(c.Proposal(c.Set(b"k", b"v"), NOW_MS, b"cl", 3))
    applied = h.machine.apply(1, data, h.store)
    written = dict(applied.writes)
    assert keys.session_key(RANGE_ID, b"cl") in written
    assert decode_session(written[keys.session_key(RANGE_ID, b"cl")]).reply == applied.reply
