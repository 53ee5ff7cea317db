"""Properties of the quorum math and of membership changes, against naive oracles.

- ``committed_index``: the highest index acknowledged by a majority, found by
  counting (and by sorting); joint: the smaller of the two sides.
- ``vote_result``: by enumerating every way the missing voters could still vote.
- ``restore(to_conf_state(c)) == c``, and ConfChange bytes round-trip; random bytes
  never raise anything but ConfChangeError.
- Random sequences of steps never leave a config without incoming voters or with a
  node in two roles, whatever is refused along the way.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core.raft import confchange as cc
from quorumkv.core.raft.quorum import INFINITE, JointConfig, MajorityConfig, VoteResult
from quorumkv.core.raft.types import (ConfChange, ConfChangeSingle, ConfChangeTransition,
                                      ConfChangeType, ConfState)

NODES = [f"n{i}" for i in range(1, 8)]
node_sets = st.frozensets(st.sampled_from(NODES), max_size=len(NODES))


# ---- quorum math -----------------------------------------------------------------------

def majority_by_counting(voters, acked) -> int:
    """The largest index that more than half of ``voters`` acknowledged."""
    if not voters:
        return INFINITE
    candidates = {0} | {acked.get(v, 0) for v in voters}
    return max(i for i in candidates
               if sum(acked.get(v, 0) >= i for v in voters) > len(voters) // 2)


def majority_by_sorting(voters, acked) -> int:
    if not voters:
        return INFINITE
    ascending = sorted(acked.get(v, 0) for v in voters)
    return ascending[(len(voters) - 1) // 2]


acks = st.dictionaries(st.sampled_from(NODES), st.integers(0, 20), max_size=len(NODES))


@given(node_sets, node_sets, acks)
def test_joint_committed_index_is_the_smaller_majority_index(incoming, outgoing, acked):
    joint = JointConfig(incoming, outgoing)
    expected = min(majority_by_counting(incoming, acked),
                   majority_by_counting(outgoing, acked))
    assert expected == min(majority_by_sorting(incoming, acked),
                           majority_by_sorting(outgoing, acked))
    assert joint.committed_index(acked) == expected
    assert MajorityConfig(incoming).committed_index(acked) == majority_by_counting(
        incoming, acked)


def wins(voters, yes) -> bool:
    return not voters or len(voters & yes) > len(voters) // 2


def vote_by_enumeration(incoming, outgoing, votes) -> VoteResult:
    """WON if every way the missing voters could vote wins, LOST if none does."""
    voters = incoming | outgoing
    missing = sorted(voters - set(votes))
    yes = {v for v in voters if votes.get(v) is True}
    outcomes = set()
    for answers in itertools.product((True, False), repeat=len(missing)):
        final = yes | {v for v, a in zip(missing, answers) if a}
        outcomes.add(wins(incoming, final) and wins(outgoing, final))
    if outcomes == {True}:
        return VoteResult.WON
    if outcomes == {False}:
        return VoteResult.LOST
    return VoteResult.PENDING


votes = st.dictionaries(st.sampled_from(NODES), st.booleans(), max_size=len(NODES))


@given(node_sets, node_sets, votes)
def test_joint_vote_result_matches_every_possible_outcome(incoming, outgoing, answers):
    assert (JointConfig(incoming, outgoing).vote_result(answers)
            == vote_by_enumeration(incoming, outgoing, answers))


def test_the_enumeration_oracle_can_tell_the_three_results_apart():
    three = frozenset({"n1", "n2", "n3"})
    assert vote_by_enumeration(three, frozenset(), {"n1": True, "n2": True}) is VoteResult.WON
    assert vote_by_enumeration(three, frozenset(), {"n1": False, "n2": False}) is VoteResult.LOST
    assert vote_by_enumeration(three, frozenset(), {"n1": True}) is VoteResult.PENDING


# ---- conf states ------------------------------------------------------------------------

@st.composite
def conf_states(draw) -> ConfState:
    """Any valid ConfState: voters, maybe a joint outgoing side with learners_next
    among its voters, learners apart from all of them."""
    voters = draw(st.frozensets(st.sampled_from(NODES), min_size=1))
    joint = draw(st.booleans())
    outgoing = draw(st.frozensets(st.sampled_from(NODES), min_size=1)) if joint else frozenset()
    learners_next = (draw(st.frozensets(st.sampled_from(sorted(outgoing - voters))))
                     if outgoing - voters else frozenset())
    rest = sorted(set(NODES) - voters - outgoing)
    learners = draw(st.frozensets(st.sampled_from(rest))) if rest else frozenset()
    return ConfState(voters, learners, outgoing, learners_next,
                     joint and draw(st.booleans()))


def assert_valid(config, progress) -> None:
    voters = config.voters
    assert voters.incoming, "no incoming voters"
    assert not config.learners & voters.ids(), "a node both voter and learner"
    assert config.learners_next <= voters.outgoing - voters.incoming
    assert set(progress) == voters.ids() | config.learners
    assert {n for n, learner in progress.items() if learner} == config.learners
    if not voters.is_joint():
        assert not config.learners_next and not config.auto_leave


@given(conf_states())
def test_restore_then_to_conf_state_gives_the_conf_state_back(cs):
    config, progress = cc.restore(cs)
    assert_valid(config, progress)
    assert cc.to_conf_state(config) == cs
    assert cc.restore(cc.to_conf_state(config)) == (config, progress)


# ---- the encoding ------------------------------------------------------------------------

conf_changes = st.builds(
    ConfChange,
    changes=st.lists(st.builds(ConfChangeSingle, st.sampled_from(ConfChangeType),
                               st.text(max_size=8)), max_size=5).map(tuple),
    transition=st.sampled_from(ConfChangeTransition),
    context=st.binary(max_size=16))


@given(conf_changes)
def test_encode_decode_round_trip(change):
    assert cc.decode(cc.encode(change)) == change


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=64),
                 conf_changes.map(cc.encode).flatmap(
                     lambda data: st.integers(0, len(data)).map(lambda n: data[:n]))))
def test_decode_of_random_or_cut_bytes_raises_only_conf_change_error(data):
    try:
        cc.decode(data)
    except cc.ConfChangeError:
        pass


# ---- random sequences of steps --------------------------------------------------------------

changes = st.lists(st.builds(ConfChangeSingle, st.sampled_from(ConfChangeType),
                             st.sampled_from(NODES)), max_size=4)
steps = st.one_of(st.tuples(st.just("simple"), changes),
                  st.tuples(st.just("enter"), st.tuples(st.booleans(), changes)),
                  st.tuples(st.just("leave"), st.none()))


def take(step, config, progress):
    kind, arg = step
    changer = cc.Changer(config, progress, 0)
    if kind == "simple":
        return changer.simple(arg)
    if kind == "enter":
        return changer.enter_joint(*arg)
    return changer.leave_joint()


@settings(max_examples=300)
@given(conf_states(), st.lists(steps, max_size=12))
def test_random_steps_keep_a_valid_config(cs, sequence):
    config, progress = cc.restore(cs)
    for step in sequence:
        try:
            new_config, new_progress = take(step, config, progress)
        except cc.ConfChangeError as exc:
            # refused for a reason the caller can fix, never by the final self-check
            # (that would be a bug in a step)
            assert "is invalid" not in str(exc), exc
            continue  # the next step starts from the same config
        if step[0] == "simple":  # at most one voter changed
            assert len(new_config.voters.incoming ^ config.voters.incoming) <= 1
        config, progress = new_config, new_progress
        assert_valid(config, progress)
        assert cc.restore(cc.to_conf_state(config)) == (config, progress)
