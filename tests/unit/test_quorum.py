"""Quorum trackers decide exactly once.

The rules (``core/quorum.py``): success as soon as ``required`` replicas answered;
failure once success has become impossible *and* every replica has reported (so the
error can say how many answered), or on the deadline.

The property test compares the tracker with an oracle that looks at the whole event
list at once: success at the ``required``-th ack; otherwise failure at the last
report, if every replica reported; otherwise no decision yet.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core.consistency import Level
from quorumkv.core.quorum import Decision, ReadQuorum, WriteQuorum
from quorumkv.core.version import Version
from quorumkv.errors import SyntaxError_

R3 = ("n1", "n2", "n3")


# ---- consistency levels ----------------------------------------------------------

@pytest.mark.parametrize("replicas, one, two, quorum, all_", [
    (1, 1, 1, 1, 1),
    (2, 1, 2, 2, 2),
    (3, 1, 2, 2, 3),
    (4, 1, 2, 3, 4),
    (5, 1, 2, 3, 5),
])
def test_required_answers_per_level(replicas, one, two, quorum, all_):
    got = [level.required(replicas) for level in (Level.ONE, Level.TWO, Level.QUORUM, Level.ALL)]
    assert got == [one, two, quorum, all_]


@given(st.integers(1, 15))
def test_two_quorums_always_overlap(n):
    # A QUORUM read sees a QUORUM write: R + W > N.
    assert 2 * Level.QUORUM.required(n) > n
    for level in Level:
        assert 1 <= level.required(n) <= n


def test_level_parse():
    assert Level.parse("quorum") is Level.QUORUM
    assert Level.parse(b" all ") is Level.ALL
    with pytest.raises(SyntaxError_):
        Level.parse("MOST")


# ---- write quorum ----------------------------------------------------------------

def test_quorum_of_three_succeeds_at_the_second_ack():
    q = WriteQuorum(Level.QUORUM, R3)
    assert q.on_ack("n1") is None
    decision = q.on_ack("n2")
    assert decision == Decision(ok=True, level=Level.QUORUM, answered=2, required=2, total=3)
    assert q.decision is decision
    assert not q.complete
    assert q.on_ack("n3") is None, "a late ack is accepted but decides nothing"
    assert q.complete


def test_quorum_of_three_fails_when_two_fail():
    q = WriteQuorum(Level.QUORUM, R3)
    assert q.on_failure("n1") is None
    assert q.on_failure("n2") is None, "lost, but waits for n3 to count the answers"
    decision = q.on_ack("n3")
    assert decision == Decision(ok=False, level=Level.QUORUM, answered=1, required=2, total=3)
    assert q.complete


def test_quorum_of_three_fails_when_all_fail():
    q = WriteQuorum(Level.QUORUM, R3)
    q.on_failure("n1")
    q.on_failure("n2")
    decision = q.on_failure("n3")
    assert decision is not None and not decision.ok and not decision.timed_out
    assert (decision.answered, decision.required, decision.total) == (0, 2, 3)


def test_all_fails_on_one_failure_and_reports_how_many_answered():
    q = WriteQuorum(Level.ALL, R3)
    assert q.on_ack("n1") is None
    assert q.on_ack("n2") is None
    decision = q.on_failure("n3")
    assert decision == Decision(ok=False, level=Level.ALL, answered=2, required=3, total=3)


def test_all_with_an_early_failure_reports_once_the_others_answered():
    q = WriteQuorum(Level.ALL, R3)
    assert q.on_failure("n2") is None
    assert q.on_ack("n1") is None
    decision = q.on_ack("n3")
    assert decision == Decision(ok=False, level=Level.ALL, answered=2, required=3, total=3)


def test_a_lost_request_with_a_silent_replica_ends_on_the_deadline():
    q = WriteQuorum(Level.ALL, R3)
    q.on_failure("n1")
    q.on_ack("n2")  # n3 never answers
    assert q.decision is None
    decision = q.on_timeout()
    assert decision == Decision(False, Level.ALL, answered=1, required=3, total=3,
                                timed_out=True)


def test_a_tracker_decides_only_once():
    q = WriteQuorum(Level.ONE, R3)
    first = q.on_ack("n1")
    assert first is not None and first.ok
    assert q.on_failure("n2") is None
    assert q.on_failure("n3") is None
    assert q.on_timeout() is None
    assert q.decision is first


def test_timeout_decides_failure_with_what_answered_so_far():
    q = WriteQuorum(Level.QUORUM, R3)
    q.on_ack("n1")
    decision = q.on_timeout()
    assert decision == Decision(False, Level.QUORUM, answered=1, required=2, total=3,
                                timed_out=True)
    assert q.on_ack("n2") is None, "too late: the client already has its answer"
    assert q.decision is decision


def test_duplicate_acks_count_once():
    q = WriteQuorum(Level.QUORUM, R3)
    assert q.on_ack("n1") is None
    assert q.on_ack("n1") is None
    assert q.on_ack("n2").ok


def test_a_failure_after_an_ack_of_the_same_node_is_ignored():
    q = WriteQuorum(Level.ALL, ("n1", "n2"))
    q.on_ack("n1")
    assert q.on_failure("n1") is None
    assert q.on_ack("n2").ok


def test_answers_from_non_replicas_are_a_bug():
    q = WriteQuorum(Level.ONE, R3)
    with pytest.raises(AssertionError):
        q.on_ack("n9")
    with pytest.raises(AssertionError):
        q.on_failure("n9")


# ---- read quorum -----------------------------------------------------------------

def v(ts: int, value: bytes = b"x") -> Version:
    return Version(ts=ts, node_id="n1", value=value)


def test_read_quorum_resolves_the_newest_and_names_stale_replicas_once():
    q = ReadQuorum(Level.QUORUM, R3)
    assert q.on_answer("n1", v(2)) is None
    decision = q.on_answer("n2", v(1))
    assert decision.ok
    assert q.newest == v(2)
    assert q.take_repairs() == ["n2"]
    assert q.take_repairs() == [], "each stale replica is named once"
    # n3 never had the key: it is stale too.
    q.on_answer("n3", None)
    assert q.take_repairs() == ["n3"]
    assert q.take_repairs() == []


def test_a_later_newer_version_names_replicas_again():
    q = ReadQuorum(Level.QUORUM, R3)
    q.on_answer("n1", v(2))
    q.on_answer("n2", v(1))
    assert q.take_repairs() == ["n2"]  # repaired to v(2)
    q.on_answer("n3", v(3))            # a late answer with something newer still
    assert q.newest == v(3)
    assert sorted(q.take_repairs()) == ["n1", "n2"], "both now lag behind v(3)"
    assert q.take_repairs() == []


def test_no_repairs_when_every_replica_agrees_or_nothing_exists():
    agree = ReadQuorum(Level.ALL, R3)
    for node in R3:
        agree.on_answer(node, v(5))
    assert agree.decision.ok and agree.take_repairs() == []
    empty = ReadQuorum(Level.ALL, R3)
    for node in R3:
        empty.on_answer(node, None)
    assert empty.newest is None and empty.take_repairs() == []


def test_failed_replicas_are_not_repaired():
    q = ReadQuorum(Level.QUORUM, R3)
    q.on_answer("n1", v(2))
    q.on_failure("n2")
    q.on_answer("n3", v(2))
    assert q.decision.ok
    assert q.take_repairs() == []


# ---- property: tracker vs oracle -------------------------------------------------

def oracle(required: int, total: int, events: list[tuple[str, bool]]):
    """(ok, index of the deciding event), or None if the events decide nothing.

    Each replica reports at most once, so "every replica reported" happens at the
    last event exactly when there are ``total`` events.
    """
    acks = 0
    for i, (_, ok) in enumerate(events):
        acks += ok
        if acks == required:
            return True, i
    if len(events) == total:
        return False, total - 1
    return None


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 7))
    replicas = tuple(f"n{i}" for i in range(1, n + 1))
    kind = draw(st.sampled_from(["write", "read"]))
    levels = list(Level) if kind == "write" else [lv for lv in Level if lv is not Level.ANY]
    level = draw(st.sampled_from(levels))
    # Each replica reports at most once, in any order.
    order = draw(st.permutations(replicas))
    reporting = order[: draw(st.integers(0, n))]
    events = [(node, draw(st.booleans())) for node in reporting]
    return level, replicas, events, kind


@settings(max_examples=200)
@given(scenarios())
def test_tracker_decides_like_the_oracle(scenario):
    level, replicas, events, kind = scenario
    q = WriteQuorum(level, replicas) if kind == "write" else ReadQuorum(level, replicas)
    decisions = []
    for i, (node, ok) in enumerate(events):
        if ok:
            d = q.on_ack(node) if kind == "write" else q.on_answer(node, v(i))
        else:
            d = q.on_failure(node)
        if d is not None:
            decisions.append((i, d))

    expected = oracle(level.required(len(replicas)), len(replicas), events)
    if expected is None:
        assert decisions == [] and q.decision is None
        assert not q.complete, "all replicas reported, yet no decision"
        return
    ok, at = expected
    assert len(decisions) == 1, f"decided {len(decisions)} times"
    index, decision = decisions[0]
    assert (decision.ok, index) == (ok, at)
    assert q.decision is decision
    assert decision.answered == sum(1 for _, good in events[: at + 1] if good)
    assert decision.required == level.required(len(replicas))
    assert decision.total == len(replicas) and not decision.timed_out


# ---- hints ------------------------------------------------------------------------

def test_any_counts_a_stored_hint_as_the_acknowledgement():
    q = WriteQuorum(Level.ANY, R3)
    assert q.on_failure("n1") is None
    decision = q.on_hint("n2")
    assert decision == Decision(ok=True, level=Level.ANY, answered=1, required=1, total=3)


def test_hints_do_not_count_at_quorum_unless_the_keyspace_says_so():
    q = WriteQuorum(Level.QUORUM, R3)
    q.on_ack("n1")
    q.on_hint("n2")
    decision = q.on_hint("n3")
    assert decision is not None and not decision.ok and decision.answered == 1
    counting = WriteQuorum(Level.QUORUM, R3, hints_count=True)
    counting.on_ack("n1")
    assert counting.on_hint("n2").ok


def test_any_is_for_writes_only():
    with pytest.raises(SyntaxError_):
        ReadQuorum(Level.ANY, R3)


def test_a_digest_newer_than_the_data_asks_for_the_value():
    from quorumkv.core.version import Version

    q = ReadQuorum(Level.QUORUM, R3)
    old, new = Version(1, "n1", value=b"old"), Version(2, "n2", value=b"new")
    q.on_answer("n1", old)
    decision = q.on_answer("n2", new._replace(value=b""), digest=True)
    assert decision.ok and q.needs_data and q.data_holders == ["n2"]
    assert q.take_repairs() == []  # nothing to repair with until the value is in
    q.on_answer("n2", new)
    assert not q.needs_data and q.newest == new and q.take_repairs() == ["n1"]


def test_a_matching_digest_needs_no_data_and_no_repair():
    from quorumkv.core.version import Version

    q = ReadQuorum(Level.QUORUM, R3)
    v = Version(5, "n3", value=b"v")
    q.on_answer("n1", v)
    q.on_answer("n2", v._replace(value=b""), digest=True)
    assert not q.needs_data and q.newest == v and q.take_repairs() == []
