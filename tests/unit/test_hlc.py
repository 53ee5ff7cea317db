"""The hybrid logical clock never goes backwards and orders causes before effects.

The physical clock is an argument, so a test can make it jump backwards (NTP step,
VM migration) and check that timestamps keep increasing anyway.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core.hlc import HLC, LOGICAL_MASK, pack, wall_ms_of


def test_pack_and_wall_ms_of_are_inverse():
    assert wall_ms_of(pack(1234, 7)) == 1234
    assert pack(1234, 7) & LOGICAL_MASK == 7
    assert pack(1, 0) > pack(0, LOGICAL_MASK), "wall time dominates the logical part"


def test_now_follows_physical_time_when_it_advances():
    clock = HLC()
    assert clock.now(1_000) == pack(1_000, 0)
    assert clock.now(2_000) == pack(2_000, 0)


def test_now_keeps_increasing_when_the_physical_clock_goes_backwards():
    clock = HLC()
    first = clock.now(5_000)
    # The wall clock steps back by two seconds; the HLC must not.
    second = clock.now(3_000)
    third = clock.now(3_001)
    assert first < second < third
    assert wall_ms_of(second) == wall_ms_of(third) == 5_000, "logical counter absorbs it"
    # Once physical time catches up, the clock is back on it.
    assert clock.now(6_000) == pack(6_000, 0)


def test_now_within_one_millisecond_bumps_the_logical_counter():
    clock = HLC()
    stamps = [clock.now(100) for _ in range(5)]
    assert stamps == [pack(100, i) for i in range(5)]


def test_observe_a_remote_timestamp_from_the_future():
    clock = HLC()
    before = clock.now(1_000)
    remote = pack(9_000, 3)  # a peer whose clock runs ahead
    after = clock.observe(remote, physical_ms=1_001)
    assert after > remote and after > before
    assert wall_ms_of(after) == 9_000
    # A local event right after must still order after what was observed.
    assert clock.now(1_002) > after


def test_observe_an_old_remote_timestamp_still_advances():
    clock = HLC()
    before = clock.now(5_000)
    after = clock.observe(pack(10, 0), physical_ms=4_000)  # old message, clock stepped back
    assert after > before and after > pack(10, 0)


def test_observe_equal_to_physical_time():
    clock = HLC()
    remote = pack(500, 0)
    after = clock.observe(remote, physical_ms=500)
    assert after > remote


def test_a_restarted_clock_resumes_after_its_persisted_last():
    clock = HLC(last=pack(7_000, 9))
    assert clock.now(1_000) > pack(7_000, 9)


# An event is ("now", physical) or ("observe", physical, remote wall, remote logical).
# Remote logical parts stay far below 2**16 so that "+1" never carries into the wall
# part; the events are few enough that local logical counters cannot carry either.
physical = st.integers(0, 10_000)
events = st.lists(
    st.one_of(
        st.tuples(st.just("now"), physical),
        st.tuples(st.just("observe"), physical, st.integers(0, 10_000), st.integers(0, 1_000)),
    ),
    max_size=40,
)


@settings(max_examples=150)
@given(st.integers(0, 10_000), events)
def test_any_sequence_of_events_is_strictly_monotonic(start_wall, script):
    clock = HLC(last=pack(start_wall, 0))
    previous = clock.last
    highest_wall = start_wall
    for event in script:
        if event[0] == "now":
            ts = clock.now(event[1])
            assert ts >= pack(event[1], 0), "never behind physical time"
            highest_wall = max(highest_wall, event[1])
        else:
            _, phys, remote_wall, remote_logical = event
            remote = pack(remote_wall, remote_logical)
            ts = clock.observe(remote, phys)
            assert ts > remote, "an effect orders after its cause"
            assert ts >= pack(phys, 0)
            highest_wall = max(highest_wall, phys, remote_wall)
        assert ts > previous, f"clock went from {previous} to {ts} on {event}"
        assert clock.last == ts
        # Close to physical time: the wall part is never ahead of anything seen.
        assert wall_ms_of(ts) <= highest_wall
        previous = ts


def test_ahead_by_ms_measures_a_remote_clock_against_ours():
    from quorumkv.core.hlc import ahead_by_ms, pack
    assert ahead_by_ms(pack(10_500, 7), 10_000) == 500
    assert ahead_by_ms(pack(9_000, 0), 10_000) == -1000


def test_session_tokens_only_move_forward_and_round_trip():
    import pytest

    from quorumkv.core.session import Session
    from quorumkv.errors import SyntaxError_

    s = Session()
    assert not s.enforced and s.encode() == "0"
    s.observe(0x1234, 2)
    s.observe(0x10, 3)
    assert (s.token, s.acks) == (0x1234, 2) and Session.parse(s.encode()) == (0x1234, 2)
    s.present("99.1")
    assert s.enforced and (s.token, s.acks) == (0x1234, 1)
    assert Session.parse("ff") == (0xFF, 1)  # acks unknown: the most cautious
    for bad in ("", "xyz", "-1", "1" * 17, "10.x", "10.99"):
        with pytest.raises(SyntaxError_):
            Session.parse(bad)


def test_a_session_read_is_safe_when_it_overlaps_every_write_or_sees_the_token():
    from quorumkv.core.session import Session

    quorum = Session(token=100, acks=2, enforced=True)   # wrote at QUORUM of 3
    assert quorum.satisfied(newest_ts=50, answered=2, replicas=3)    # 2 + 2 > 3
    assert not quorum.satisfied(newest_ts=50, answered=1, replicas=3)
    assert quorum.satisfied(newest_ts=100, answered=1, replicas=3)   # saw the token
    one = Session(token=100, acks=1, enforced=True)       # wrote at ONE
    assert not one.satisfied(newest_ts=50, answered=2, replicas=3)
    assert one.satisfied(newest_ts=50, answered=3, replicas=3)
    hinted = Session(token=100, acks=0, enforced=True)    # only a hint holds it
    assert not hinted.satisfied(newest_ts=50, answered=3, replicas=3)
