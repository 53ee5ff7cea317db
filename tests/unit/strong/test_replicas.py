"""Replicas agree: the same committed entries give the same replies and the same
state on a replica that applied them all and on one rebuilt half-way from a
snapshot of the range (the spans ``snapshot_spans`` names, and nothing else);
and a client's retries never apply twice, however they interleave."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from quorumkv.core.strong import (
    OverlayReader, Proposal, RangeMachine, applied_index_record, commands as c, encode_proposal,
    parse_applied_index, snapshot_spans,
)
from quorumkv.core import keys

from .harness import KEYSPACE_ID, NOW_MS, RANGE_ID, Store

CLIENTS = [b"c1", b"c2", b"c3"]
SETTINGS = {"range_id": RANGE_ID, "session_idle_ms": 500, "max_sessions": 2}


class Replica:
    def __init__(self, **settings) -> None:
        self.store = Store()
        self.machine = RangeMachine(KEYSPACE_ID, (b"", b""), **(SETTINGS | settings))

    def apply(self, index: int, data: bytes):
        applied = self.machine.apply(index, data, OverlayReader(self.store))
        self.store.write(applied.writes + [applied_index_record(RANGE_ID, index)])
        return applied.reply

    def snapshot(self) -> dict:
        spans = snapshot_spans(KEYSPACE_ID, RANGE_ID, b"", b"")
        return {k: v for k, v in self.store.items() if any(lo <= k < hi for lo, hi in spans)}

    @classmethod
    def from_snapshot(cls, records: dict) -> "Replica":
        r = cls()
        r.store.update(records)
        lo, hi = keys.prefix_span(keys.session_prefix(RANGE_ID))
        r.machine.restore([(k, v) for k, v in records.items() if lo <= k < hi])
        return r


@st.composite
def entries(draw):
    """Proposals from three clients that retry the current request, resend stale
    ones and move on, at clocks that jump (so sessions expire) and sometimes go back."""
    out, seqs, now = [], dict.fromkeys(CLIENTS, 0), NOW_MS
    for _ in range(draw(st.integers(1, 40))):
        client = draw(st.sampled_from(CLIENTS + [None]))
        now += draw(st.sampled_from([0, 10, 200, 700, -50]))
        command = draw(st.sampled_from([c.Incr(b"n"), c.Incr(b"m", 2), c.Append(b"s", b"x"),
                                        c.Get(b"n"), c.GetDel(b"m")]))
        if client is not None:
            seqs[client] += draw(st.sampled_from([1, 0, 0, -1])) if seqs[client] else 1
            seqs[client] = max(seqs[client], 1)
        out.append(Proposal(command, now, client, seqs[client] if client else 0))
    return out


@given(entries(), st.data())
@settings(max_examples=150, deadline=None)
def test_a_replica_rebuilt_from_a_snapshot_answers_and_stores_as_the_others(props, data):
    cut = data.draw(st.integers(0, len(props)))
    a, b = Replica(), Replica()
    replies_a, replies_b = [], []
    for index, p in enumerate(props, 1):
        if index == cut + 1:
            snap = b.snapshot()
            assert snap == dict(b.store)  # the spans hold all of the range's state
            assert parse_applied_index(snap.get(keys.applied_index_key(RANGE_ID))) == cut
            b = Replica.from_snapshot(snap)
        data_bytes = encode_proposal(p)
        replies_a.append(a.apply(index, data_bytes))
        replies_b.append(b.apply(index, data_bytes))
    assert replies_a == replies_b
    assert a.store == b.store
    assert list(a.machine.sessions) == list(b.machine.sessions)


@given(st.lists(st.tuples(st.sampled_from(CLIENTS), st.integers(0, 2)), max_size=60))
@settings(max_examples=150, deadline=None)
def test_retries_never_apply_twice(steps):
    """Each client counts its requests in its own key; a step sends the next
    request (0) or resends the current (1) or an older one (2): every counter
    ends at exactly the number of distinct requests its client sent (with room
    for every client's session: one dropped makes its client new again)."""
    r = Replica(max_sessions=len(CLIENTS))
    seqs = dict.fromkeys(CLIENTS, 0)
    for index, (client, kind) in enumerate(steps, 1):
        if kind == 0 or seqs[client] == 0:
            seqs[client] += 1
            seq = seqs[client]
        else:
            seq = seqs[client] - (kind - 1)
        r.apply(index, encode_proposal(Proposal(c.Incr(client), NOW_MS, client, max(seq, 1))))
    for client in CLIENTS:
        expected = str(seqs[client]).encode() if seqs[client] else None
        stored = r.store.get(keys.storage_key(KEYSPACE_ID, client))
        assert (stored[17:] if stored else None) == expected
