"""The linearizability checker on small hand-made histories that are and are not
linearizable, on large random ones that are by construction (and the same with
one read corrupted), and its step budget.

Times are plain numbers: ``done(h, "c1", "write", 1, 0, 2)`` is a write of 1 by
client c1, invoked at 0 and acknowledged at 2.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.sim.history import UNKNOWN, History
from quorumkv.sim.linearizability import (
    ERROR, LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN_VERDICT, Model, Register, check,
    check_final_values, check_incr_totals, redis_value)

K = b"x"


def done(h, process, f, value, start, end, output=None, key=K, status="ok"):
    """Record one operation from invoke to completion."""
    op = h.invoke(process, key, f, value, start)
    if status == "ok":
        h.ok(op, output, end)
    elif status == "fail":
        h.fail(op, end)
    else:
        h.info(op, end)
    return op


def only_failure(result):
    assert result.verdict == NOT_LINEARIZABLE, result.explain()
    assert len(result.failures) == 1, result.explain()
    return result.failures[0]


# --- the recorder -----------------------------------------------------------------

def test_a_process_has_at_most_one_operation_outstanding():
    h = History()
    op = h.invoke("c1", K, "write", 1, 0)
    with pytest.raises(AssertionError, match="outstanding"):
        h.invoke("c1", K, "read", None, 1)
    h.info(op, 2)
    h.invoke("c1", K, "read", None, 3)   # after an info the process goes on


def test_an_operation_completes_once_and_not_before_its_invoke():
    h = History()
    op = h.invoke("c1", K, "write", 1, 5)
    with pytest.raises(AssertionError, match="before its invoke"):
        h.ok(op, None, 4)
    h.ok(op, None, 6)
    with pytest.raises(AssertionError, match="not outstanding"):
        h.ok(op, None, 7)
    with pytest.raises(AssertionError, match="unknown function"):
        h.invoke("c1", K, "frobnicate", None, 8)
    History(functions=None).invoke("c1", K, "txn", [("read", K)], 9)  # another model's


# --- sequential and concurrent ----------------------------------------------------

def test_empty_and_sequential_histories_are_linearizable():
    assert check(History()).verdict == LINEARIZABLE
    h = History()
    done(h, "c1", "read", None, 0, 1, None)
    done(h, "c1", "write", 1, 2, 3)
    done(h, "c2", "read", None, 4, 5, 1)
    done(h, "c1", "delete", None, 6, 7)
    done(h, "c2", "read", None, 8, 9, None)
    result = check(h)
    assert result.ok and result.keys == 1, result.explain()


def test_a_sequential_read_of_the_wrong_value_is_not_linearizable():
    h = History()
    done(h, "c1", "write", 1, 0, 1)
    done(h, "c1", "read", None, 2, 3, 2)
    failure = only_failure(check(h))
    assert failure.key == K
    assert [op.f for op in failure.prefix] == ["write"]
    assert failure.state == "1"
    assert [(op.f, op.output, allowed) for op, allowed in failure.stuck] == [("read", 2, False)]


def test_concurrent_writes_with_reads_seeing_either_order():
    for first, second in ((1, 2), (2, 1)):
        h = History()
        done(h, "c1", "write", 1, 0, 10)
        done(h, "c2", "write", 2, 1, 9)
        done(h, "c3", "read", None, 11, 12, second)
        done(h, "c3", "read", None, 13, 14, second)
        assert check(h).ok, (first, second)
    # both orders at once, each read concurrent with both writes
    h = History()
    done(h, "c1", "write", 1, 0, 10)
    done(h, "c2", "write", 2, 0, 10)
    done(h, "c3", "read", None, 1, 2, 1)
    done(h, "c4", "read", None, 3, 4, 2)
    assert check(h).ok


def test_reads_cannot_flip_back_after_both_writes_are_seen():
    h = History()
    done(h, "c1", "write", 1, 0, 10)
    done(h, "c2", "write", 2, 0, 10)
    done(h, "c3", "read", None, 1, 2, 1)
    done(h, "c3", "read", None, 3, 4, 2)
    done(h, "c3", "read", None, 5, 6, 1)   # 1 again: a register cannot do that
    failure = only_failure(check(h))
    assert any(op.output == 1 and op.invoke == 5 for op, _ in failure.stuck), failure.explain()


def test_a_stale_read_after_a_completed_write_is_not_linearizable():
    h = History()
    done(h, "c1", "write", 1, 0, 1)
    done(h, "c1", "write", 2, 2, 3)
    done(h, "c2", "read", None, 4, 5, 1)   # starts after write 2 was acknowledged
    failure = only_failure(check(h))
    text = failure.explain()
    assert "c2 read -> 1  [4, 5]" in text and "impossible in this state" in text, text
    assert failure.state == "2"


def test_a_read_that_sees_a_write_before_it_was_invoked_is_not_linearizable():
    h = History()
    done(h, "c2", "read", None, 0, 1, 7)
    done(h, "c1", "write", 7, 2, 3)
    failure = only_failure(check(h))
    assert failure.prefix == []
    assert failure.state == "absent"
    assert [op.f for op, _ in failure.stuck] == ["read"]


def test_touching_intervals_count_as_concurrent():
    """A read invoked at the instant a write completes may be ordered first."""
    h = History()
    done(h, "c1", "write", 1, 0, 5)
    done(h, "c2", "read", None, 5, 6, None)
    assert check(h).ok


# --- compare-and-set and increments -----------------------------------------------

def test_cas_success_and_failure_interleavings():
    h = History()
    done(h, "c1", "cas", (None, b"a"), 0, 1, True)     # if absent
    done(h, "c2", "cas", (None, b"b"), 2, 3, False)    # no longer absent
    done(h, "c1", "cas", (b"a", b"c"), 4, 8, True)     # concurrent with the next two
    done(h, "c2", "cas", (b"a", b"d"), 5, 9, False)    # lost the race to c1
    done(h, "c3", "read", None, 6, 7, b"c")
    done(h, "c3", "read", None, 10, 11, b"c")
    assert check(h).ok


def test_two_cas_from_the_same_value_cannot_both_succeed():
    h = History()
    done(h, "c1", "write", b"a", 0, 1)
    done(h, "c1", "cas", (b"a", b"b"), 2, 5, True)
    done(h, "c2", "cas", (b"a", b"c"), 3, 6, True)
    failure = only_failure(check(h))
    assert {op.process for op, _ in failure.stuck} >= {"c2"}, failure.explain()


def test_a_cas_reported_false_when_the_value_matched_is_not_linearizable():
    h = History()
    done(h, "c1", "write", b"a", 0, 1)
    done(h, "c1", "cas", (b"a", b"b"), 2, 3, False)
    only_failure(check(h))


def test_consistent_increments_are_linearizable():
    h = History()
    done(h, "c1", "incr", 1, 0, 4, 2)    # concurrent: either may go first
    done(h, "c2", "incr", 1, 1, 3, 1)
    done(h, "c3", "incr", 5, 5, 6, 7)
    done(h, "c3", "read", None, 7, 8, b"7")   # a counter reads back as a string
    assert check(h).ok


def test_two_increments_both_returning_one_are_not_linearizable():
    h = History()
    done(h, "c1", "incr", 1, 0, 4, 1)
    done(h, "c2", "incr", 1, 1, 3, 1)
    failure = only_failure(check(h))
    assert len(failure.prefix) == 1
    assert failure.state == "1"


def test_incr_on_a_value_that_is_not_an_integer_answers_error_and_changes_nothing():
    h = History()
    done(h, "c1", "write", b"abc", 0, 1)
    done(h, "c1", "incr", 1, 2, 3, ERROR)
    done(h, "c1", "read", None, 4, 5, b"abc")
    done(h, "c1", "write", b"9223372036854775807", 6, 7)
    done(h, "c1", "incr", 1, 8, 9, ERROR)       # would overflow 64 bits
    done(h, "c1", "write", b"41", 10, 11)
    done(h, "c1", "incr", 1, 12, 13, 42)
    assert check(h).ok
    h = History()
    done(h, "c1", "write", b"abc", 0, 1)
    done(h, "c1", "incr", 1, 2, 3, 1)          # as if the string counted as 0
    only_failure(check(h))


def test_values_compare_as_redis_compares_them():
    assert redis_value(b"5") == redis_value("5") == redis_value(5) == 5
    assert redis_value(b"-12") == -12
    for not_an_int in (b"05", b"-0", b"+5", b" 5", b"9223372036854775808", b"5.0"):
        assert redis_value(not_an_int) == not_an_int
    assert redis_value("abc") == b"abc"


# --- indeterminate and failed operations ------------------------------------------

def test_an_info_write_that_took_effect_is_linearizable():
    h = History()
    done(h, "c1", "write", 1, 0, 1)
    done(h, "c2", "write", 2, 2, 3, status="info")   # timed out
    done(h, "c3", "read", None, 10, 11, 1)
    done(h, "c3", "read", None, 20, 21, 2)           # ... but it landed, late
    done(h, "c3", "read", None, 30, 31, 2)
    assert check(h).ok


def test_an_info_write_that_never_took_effect_is_linearizable():
    h = History()
    done(h, "c1", "write", 1, 0, 1)
    done(h, "c2", "write", 2, 2, 3, status="info")
    done(h, "c3", "read", None, 10, 11, 1)
    done(h, "c3", "read", None, 20, 21, 1)
    assert check(h).ok


def test_an_op_never_completed_counts_as_info():
    h = History()
    done(h, "c1", "write", 1, 0, 1)
    h.invoke("c2", K, "incr", 5, 2)                  # still outstanding at the end
    done(h, "c3", "read", None, 10, 11, 1)
    done(h, "c3", "read", None, 12, 13, 6)
    assert check(h).ok


def test_an_info_write_cannot_land_before_its_invoke():
    h = History()
    done(h, "c3", "read", None, 0, 1, 2)
    done(h, "c2", "write", 2, 2, 3, status="info")
    failure = only_failure(check(h))
    assert failure.prefix == []
    # the write is no candidate: it was invoked after the read returned
    assert [str(op) for op, _ in failure.stuck] == ["c3 read -> 2  [0, 1]"]
    assert str(h.ops[1]) == "c2 write 2 -> info (indeterminate)  [2, ...] (gave up at 3)"


def test_an_info_write_lands_once():
    h = History()
    done(h, "c2", "write", 2, 0, 1, status="info")
    done(h, "c1", "write", 1, 2, 3)
    done(h, "c3", "read", None, 4, 5, 2)     # the info write landed after write 1
    done(h, "c3", "read", None, 6, 7, 1)     # it cannot be undone, nor land twice
    only_failure(check(h))


def test_an_info_delete_that_changes_nothing_at_first_may_land_later():
    """Deleting an absent key changes nothing then, but not after the write: the
    search must not treat it as a read (which could always go first)."""
    h = History()
    done(h, "c1", "read", None, 0, 0, None)
    done(h, "c2", "delete", None, 0, 0, status="info")
    done(h, "c1", "write", 0, 1, 1)
    done(h, "c1", "read", None, 2, 2, None)
    assert check(h).ok


def test_a_failed_write_whose_value_is_read_is_not_linearizable():
    h = History()
    done(h, "c1", "write", 1, 0, 1)
    done(h, "c2", "write", 2, 2, 3, status="fail")
    done(h, "c3", "read", None, 4, 5, 2)
    failure = only_failure(check(h))
    assert all(op.status != "fail" for op in failure.ops), "fail ops are left out"
    assert "c3 read -> 2" in failure.explain()


def test_info_reads_are_left_out():
    h = History()
    done(h, "c1", "write", 1, 0, 1)
    done(h, "c2", "read", None, 2, 3, status="info")
    result = check(h)
    assert result.ok and result.steps <= 4, result.explain()


# --- many keys --------------------------------------------------------------------

def test_many_keys_where_only_one_is_bad_names_that_key():
    h = History()
    for i in range(20):
        key = b"k%d" % i
        done(h, "c1", "write", i, 10 * i, 10 * i + 1, key=key)
        done(h, "c2", "read", None, 10 * i + 2, 10 * i + 3, i, key=key)
    done(h, "c3", "read", None, 1000, 1001, 99, key=b"k13")
    result = check(h)
    failure = only_failure(result)
    assert failure.key == b"k13" and result.keys == 20
    assert result.explain().splitlines()[1].startswith("key k13: not linearizable")


def test_operations_on_other_keys_do_not_explain_a_read():
    h = History()
    done(h, "c1", "write", 1, 0, 1, key=b"a")
    done(h, "c2", "read", None, 2, 3, 1, key=b"b")
    assert only_failure(check(h)).key == b"b"


# --- large random histories -------------------------------------------------------

def simulated_history(seed, ops=2000, processes=10, keys=(K,), p_info=0.02, p_fail=0.02):
    """A history of a real register (an independent implementation: a dict of
    Redis-like bytes) under random overlapping calls: each operation takes effect
    at a random instant inside its interval, so the history is linearizable by
    construction. Some operations fail (no effect) and some are indeterminate
    (took effect or not, at random)."""
    rnd = random.Random(seed)
    planned = []
    clock = {p: rnd.random() for p in range(processes)}
    for n in range(ops):
        p = rnd.randrange(processes)
        start = clock[p]
        end = start + rnd.expovariate(1.0)
        clock[p] = end + rnd.expovariate(4.0)
        f = rnd.choice(["read", "read", "write", "cas", "incr", "delete"])
        value = {"read": None, "delete": None, "write": b"%d" % rnd.randrange(5),
                 "cas": (rnd.choice([None, b"0", b"1", b"2"]), b"%d" % rnd.randrange(5)),
                 "incr": rnd.randrange(1, 4)}[f]
        fate = rnd.random()
        status = "fail" if fate < p_fail else "info" if fate < p_fail + p_info else "ok"
        applies = status == "ok" or (status == "info" and rnd.random() < 0.5)
        planned.append([start, end, rnd.uniform(start, end), p, rnd.choice(keys), f,
                        value, status, applies, None])
    store = {}
    for plan in sorted(planned, key=lambda plan: plan[2]):
        if plan[8]:
            plan[9] = _apply(store, plan[4], plan[5], plan[6])
    events = sorted([(plan[0], 0, n) for n, plan in enumerate(planned)]
                    + [(plan[1], 1, n) for n, plan in enumerate(planned)])
    h, live = History(), {}
    for t, kind, n in events:
        start, end, _, p, key, f, value, status, _, output = planned[n]
        if kind == 0:
            live[n] = h.invoke(p, key, f, value, t)
        elif status == "ok":
            h.ok(live[n], output, t)
        elif status == "fail":
            h.fail(live[n], t)
        else:
            h.info(live[n], t)
    return h


def _apply(store, key, f, value):
    current = store.get(key)
    if f == "read":
        return current
    if f == "write":
        store[key] = value
    elif f == "delete":
        store.pop(key, None)
    elif f == "cas":
        if current != value[0]:
            return False
        store[key] = value[1]
        return True
    elif f == "incr":
        try:
            new = int(current or b"0") + value
        except ValueError:
            return ERROR
        store[key] = b"%d" % new
        return new
    return None


@pytest.mark.parametrize("seed, p_info", [(0, 0.02), (1, 0.02), (2, 0.02), (3, 0.2)])
def test_a_large_random_linearizable_history_passes_within_budget(seed, p_info):
    h = simulated_history(seed, ops=2000, processes=10, p_info=p_info)
    assert any(op.status == "info" for op in h) and any(op.status == "fail" for op in h)
    result = check(h, max_steps=400_000)
    assert result.verdict == LINEARIZABLE, result.explain()


@pytest.mark.parametrize("seed, ops, p_info", [(1, 2000, 0.0), (0, 600, 0.02)])
def test_the_same_with_one_read_corrupted_is_caught(seed, ops, p_info):
    """Proving a violation means exhausting every linearization of what comes
    before it; indeterminate operations multiply those (each may or may not have
    landed at each point), hence the shorter history with them."""
    h = simulated_history(seed, ops=ops, processes=10, p_info=p_info)
    assert check(h).ok
    reads = [op for op in h if op.f == "read" and op.status == "ok"]
    victim = reads[len(reads) // 2]
    victim.output = b"never written"
    failure = only_failure(check(h))
    assert victim in [op for op, _ in failure.stuck], failure.explain()
    assert len(failure.prefix) > ops // 4     # the search got well into the history
    assert len(failure.explain().splitlines()) < 40


def test_many_keys_at_once():
    h = simulated_history(4, ops=3000, processes=10, keys=[b"a", b"b", b"c"])
    result = check(h, max_steps=300_000)
    assert result.ok and result.keys == 3, result.explain()


# --- the step budget --------------------------------------------------------------

def _hard_history(writers=14):
    """Many concurrent writes of distinct values, and a read during them that no
    order explains: every subset of the writes, with each last, has to be tried."""
    h = History()
    for p in range(writers):
        done(h, f"w{p}", "write", p, 0, 10)
    done(h, "r", "read", None, 1, 9, 100)
    return h


def test_the_step_budget_returns_unknown_instead_of_searching_on():
    h = _hard_history()
    result = check(h, max_steps=5_000)
    assert result.verdict == UNKNOWN_VERDICT, result.explain()
    assert result.steps <= 5_000
    assert "unknown, the step budget ran out" in result.explain()
    small = _hard_history(writers=3)
    assert check(small).verdict == NOT_LINEARIZABLE, "with budget enough, it decides"


def test_keys_left_when_the_budget_runs_out_are_listed_as_not_checked():
    """Keys are checked smallest first; after the one that exhausts the budget,
    the larger ones are listed as not checked."""
    h = _hard_history()                                  # 15 operations on x
    for key, pairs in ((b"small", 1), (b"large1", 10), (b"large2", 10)):
        for t in range(0, 10 * pairs, 10):
            done(h, "c", "write", t, t, t + 1, key=key)
            done(h, "c", "read", None, t + 2, t + 3, t, key=key)
    result = check(h, max_steps=2_000)
    assert result.verdict == UNKNOWN_VERDICT and result.keys == 4
    assert [r.key for r in result.unknown] == [K]
    assert result.unchecked == [b"large1", b"large2"]
    assert result.explain().splitlines()[-1] == "not checked (no budget left): large1, large2"
    result = check(_hard_history(), max_steps=10)
    assert result.unknown and result.steps == 10


def test_a_bad_key_is_reported_even_when_another_runs_out_of_budget():
    h = _hard_history()
    done(h, "c", "read", None, 0, 1, 5, key=b"bad")
    result = check(h, max_steps=5_000)
    assert result.verdict == NOT_LINEARIZABLE
    assert result.failures[0].key == b"bad" and result.unknown[0].key == K


# --- a pluggable model ------------------------------------------------------------

class GrowOnlySet(Model):
    """A set per key: add x -> ok; read -> the members. Shows the model interface."""

    def init(self):
        return frozenset()

    def step(self, state, f, value, output):
        if f == "write":
            return True, state | {value}
        return output is UNKNOWN or frozenset(output) == state, state

    def changes_nothing(self, f, value, output):
        return f == "read"


def test_another_model_plugs_in():
    h = History()
    done(h, "c1", "write", 1, 0, 3)
    done(h, "c2", "write", 2, 1, 2)
    done(h, "c3", "read", None, 4, 5, {1, 2})
    assert check(h, GrowOnlySet()).ok
    done(h, "c3", "read", None, 6, 7, {1})
    assert check(h, GrowOnlySet()).verdict == NOT_LINEARIZABLE
    assert check(h, Register()).verdict == NOT_LINEARIZABLE


# --- the simpler checks for the fault tests ----------------------------------------

def test_final_values_must_keep_the_last_acknowledged_write():
    h = History()
    done(h, "c1", "write", 1, 0, 1, key=b"a")
    done(h, "c1", "write", 2, 2, 3, key=b"a")
    done(h, "c2", "write", 3, 0, 1, key=b"b", status="info")
    assert check_final_values(h, {b"a": b"2", b"b": None}).ok
    assert check_final_values(h, {b"a": b"2", b"b": b"3"}).ok   # the info write landed
    result = check_final_values(h, {b"a": b"1", b"b": None})      # write 2 was lost
    failure = only_failure(result)
    assert failure.key == b"a" and "final a read -> 1" in failure.explain()


def test_incr_totals_between_acknowledged_and_acknowledged_plus_indeterminate():
    h = History()
    done(h, "c1", "incr", 1, 0, 1, 1, key=b"n")
    done(h, "c2", "incr", 2, 0, 1, 3, key=b"n")
    done(h, "c3", "incr", 5, 2, 3, key=b"n", status="info")
    done(h, "c4", "incr", 7, 2, 3, key=b"n", status="fail")
    done(h, "c1", "read", None, 4, 5, b"3", key=b"n")
    assert check_incr_totals(h, {b"n": b"3"}) == []
    assert check_incr_totals(h, {b"n": b"8"}) == []
    for wrong in (b"2", b"9", b"10", None):
        [line] = check_incr_totals(h, {b"n": wrong})
        assert line.startswith("key n: final value") and "[3, 8]" in line, line
    h.invoke("c5", b"n", "incr", -4, 6)   # never completed: may subtract 4
    assert check_incr_totals(h, {b"n": 0}) == []
    done(h, "c6", "write", b"1", 7, 8, key=b"n")
    with pytest.raises(ValueError, match="not a pure counter"):
        check_incr_totals(h, {b"n": 0})


# --- the asyncio recorder ---------------------------------------------------------

class Refused(Exception):
    pass


class Answered(Exception):
    pass


def test_the_recorder_records_each_call_by_its_outcome():
    import asyncio
    from quorumkv.sim.linearizability import Recorder

    ticks = iter(range(100))
    h = History()
    rec = Recorder(h, clock=lambda: next(ticks), refused=(Refused,), answered=(Answered,))

    async def returns(value):
        return value

    async def raises(exc):
        raise exc

    async def never():
        await asyncio.Event().wait()

    async def client():
        await rec.call("c1", K, "write", b"1", returns(True), output=lambda r: None)
        await rec.call("c1", K, "cas", (b"1", b"two"), returns(1), output=bool)
        await rec.call("c1", K, "write", b"3", raises(Refused("not the leader")))
        await rec.call("c1", K, "incr", 1, raises(Answered("value is not an integer")))
        await rec.call("c1", K, "write", b"4", raises(ConnectionResetError()))
        await rec.call("c1", K, "write", b"5", raises(TimeoutError()))
        rec.timeout = 0    # wait_for gives up at once: indeterminate
        await rec.call("c1", K, "write", b"6", never())
        rec.timeout = None
        with pytest.raises(ValueError):
            await rec.call("c1", K, "write", b"7", raises(ValueError("a bug")))

    asyncio.run(client())
    assert [(op.f, op.status, op.output) for op in h] == [
        ("write", "ok", None), ("cas", "ok", True), ("write", "fail", UNKNOWN),
        ("incr", "ok", ERROR), ("write", "info", UNKNOWN), ("write", "info", UNKNOWN),
        ("write", "info", UNKNOWN), ("write", "info", UNKNOWN)]
    assert [(op.invoke, op.complete) for op in h][:2] == [(0, 1), (2, 3)]
    # the history it recorded is checked like any other: the INCR's error says the
    # value was not an integer, and the indeterminate writes may not have landed
    done(h, "c2", "read", None, 100, 101, b"two")
    assert check(h).ok
    done(h, "c2", "read", None, 102, 103, b"3")    # the refused write cannot land
    assert only_failure(check(h)).stuck[-1][0].output == b"3"


# --- against a brute-force oracle ---------------------------------------------------

def brute_force(ops):
    """Linearizable by definition: some subset of the indeterminate operations and
    some order of those and the acknowledged ones that respects real time (a
    before b when a completed before b was invoked) replays on the register with
    the recorded outputs. Exponential: for a handful of operations only."""
    from itertools import combinations, permutations
    model = Register()
    det = [op for op in ops if op.status == "ok"]
    maybe = [op for op in ops if op.status not in ("ok", "fail")]
    for k in range(len(maybe) + 1):
        for landed in combinations(maybe, k):
            for order in permutations(det + list(landed)):
                if _respects_real_time(order) and _replays(model, order):
                    return True
    return False


def _respects_real_time(order):
    return all(not (b.status == "ok" and b.complete < a.invoke)
               for n, a in enumerate(order) for b in order[n + 1:])


def _replays(model, order):
    state = model.init()
    for op in order:
        value, output = model.prepare(op.f, op.input,
                                      op.output if op.status == "ok" else UNKNOWN)
        fits, state = model.step(state, op.f, value, output)
        if not fits:
            return False
    return True


VALUES = [None, b"0", b"1", b"x"]
_op = st.tuples(
    st.sampled_from(["read", "write", "delete", "cas", "incr"]),
    st.sampled_from(VALUES[1:]), st.sampled_from(VALUES),      # input parts
    st.integers(0, 6), st.integers(0, 3),                      # invoke, duration
    st.sampled_from(["ok", "ok", "ok", "fail", "info"]),
    st.sampled_from(VALUES + [True, False, 1, 2, ERROR]))      # output when ok


@settings(max_examples=600, deadline=None)
@given(st.lists(_op, min_size=1, max_size=6))
def test_the_checker_agrees_with_brute_force(specs):
    h = History()
    for n, (f, a, b, start, length, status, output) in enumerate(specs):
        value = {"read": None, "delete": None, "write": a, "cas": (b, a), "incr": 1}[f]
        done(h, n, f, value, start, start + length, output, status=status)
    result = check(h)
    assert result.verdict != UNKNOWN_VERDICT
    assert result.ok == brute_force(list(h)), result.explain()
