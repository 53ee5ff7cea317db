"""The tracker's quorum answers against naive oracles (Hypothesis), and the pieces
of flow control (Inflights, Progress) on their own.

The commit index oracle sorts: in a config of n voters, the index a majority has is
the (n // 2 + 1)-th highest match (voters without progress count 0); in a joint
config it is the lower of the two sides'. The vote oracle counts every way the
missing votes could still go.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from quorumkv.core.raft.progress import Inflights, Progress, ProgressState, ProgressTracker
from quorumkv.core.raft.quorum import JointConfig, TrackerConfig, VoteResult
from quorumkv.core.raft.types import ConfState

IDS = [str(i) for i in range(1, 8)]
voter_sets = st.sets(st.sampled_from(IDS), min_size=1, max_size=7)


def majority_oracle(voters, match) -> int:
    indexes = sorted((match.get(v, 0) for v in voters), reverse=True)
    return indexes[len(voters) // 2]


def tracker(incoming, outgoing, match) -> ProgressTracker:
    trk = ProgressTracker(max_inflight=8)
    trk.restore(ConfState(voters=frozenset(incoming), voters_outgoing=frozenset(outgoing)), 0)
    for node_id, index in match.items():
        if node_id in trk.progress:
            trk.progress[node_id].match = index
    return trk


@given(voter_sets, st.dictionaries(st.sampled_from(IDS), st.integers(0, 50)))
def test_committed_of_a_simple_config_is_the_sorting_oracle(voters, match):
    assert tracker(voters, (), match).committed() == majority_oracle(voters, match)


@given(voter_sets, voter_sets, st.dictionaries(st.sampled_from(IDS), st.integers(0, 50)))
def test_committed_of_a_joint_config_is_the_lower_side(incoming, outgoing, match):
    expected = min(majority_oracle(incoming, match), majority_oracle(outgoing, match))
    assert tracker(incoming, outgoing, match).committed() == expected


def vote_oracle(voters, votes) -> VoteResult:
    """Won if yes is a majority; lost if even all missing votes as yes could not win."""
    yes = sum(1 for v in voters if votes.get(v) is True)
    missing = sum(1 for v in voters if v not in votes)
    need = len(voters) // 2 + 1
    if yes >= need:
        return VoteResult.WON
    return VoteResult.LOST if yes + missing < need else VoteResult.PENDING


def joint_vote_oracle(incoming, outgoing, votes) -> VoteResult:
    """Brute force: the outcomes of every completion of the missing votes."""
    voters = sorted(set(incoming) | set(outgoing))
    missing = [v for v in voters if v not in votes]
    outcomes = set()
    for answers in itertools.product([True, False], repeat=len(missing)):
        full = dict(votes, **dict(zip(missing, answers)))
        won = all(vote_oracle(side, full) == VoteResult.WON
                  for side in (incoming, outgoing) if side)
        outcomes.add(won)
    if outcomes == {True}:
        return VoteResult.WON
    if outcomes == {False}:
        return VoteResult.LOST
    return VoteResult.PENDING


votes_st = st.dictionaries(st.sampled_from(IDS), st.booleans())


@given(voter_sets, votes_st)
def test_vote_result_of_a_simple_config_is_the_count(voters, votes):
    trk = tracker(voters, (), {})
    for node_id, granted in votes.items():
        trk.record_vote(node_id, granted)
    granted, rejected, result = trk.tally_votes()
    assert result == vote_oracle(voters, votes)
    assert granted == sum(1 for v, g in votes.items() if g and v in voters)
    assert rejected == sum(1 for v, g in votes.items() if not g and v in voters)


@given(voter_sets, voter_sets, votes_st)
def test_vote_result_of_a_joint_config_is_the_brute_force(incoming, outgoing, votes):
    trk = tracker(incoming, outgoing, {})
    for node_id, granted in votes.items():
        trk.record_vote(node_id, granted)
    assert trk.tally_votes()[2] == joint_vote_oracle(incoming, outgoing, votes)


def test_only_the_first_vote_of_a_node_counts():
    trk = tracker({"1", "2", "3"}, (), {})
    trk.record_vote("2", False)
    trk.record_vote("2", True)
    assert trk.tally_votes() == (0, 1, VoteResult.PENDING)


def test_learners_never_count():
    trk = ProgressTracker(8)
    trk.restore(ConfState(voters=frozenset({"1"}), learners=frozenset({"2", "3"})), 5)
    trk.progress["1"].match = 3
    trk.progress["2"].match = trk.progress["3"].match = 9
    assert trk.committed() == 3
    assert trk.progress["2"].is_learner and not trk.progress["1"].is_learner


def test_quorum_active_counts_recently_heard_voters_and_itself():
    trk = tracker({"1", "2", "3"}, (), {})
    for pr in trk.progress.values():
        pr.recent_active = False
    assert not trk.quorum_active("1")
    trk.progress["3"].recent_active = True
    assert trk.quorum_active("1")


def test_apply_adds_and_drops_members():
    trk = tracker({"1", "2"}, (), {"1": 4, "2": 4})
    trk.apply(TrackerConfig(JointConfig({"1", "3"})), {"1": False, "3": False, "4": True}, 9)
    assert sorted(trk.progress) == ["1", "3", "4"]
    assert trk.progress["1"].match == 4 and trk.progress["3"].next == 10
    assert trk.progress["4"].is_learner


def test_inflights_are_bounded_and_freed_in_order():
    inf = Inflights(3)
    for i in (5, 7, 9):
        inf.add(i)
    assert inf.full()
    inf.free_le(7)
    assert len(inf) == 1 and not inf.full()
    inf.free_first_one()
    assert len(inf) == 0


def test_progress_probe_pauses_after_one_append_and_replicate_pipelines():
    pr = Progress(next_index=6, max_inflight=2)
    pr.sent_entries(1, 6)
    assert pr.is_paused()  # probe: one at a time
    assert pr.maybe_update(6) and pr.match == 6
    pr.become_replicate()
    pr.sent_entries(2, 8)
    pr.sent_entries(1, 9)
    assert pr.next == 10 and pr.is_paused()  # two in flight: the window is full
    assert not pr.maybe_decr_to(5, 5)  # a stale rejection below match is ignored
    assert pr.maybe_decr_to(8, 6) and pr.next == 7


def test_progress_probe_rejection_follows_the_hint():
    pr = Progress(next_index=11, max_inflight=2)
    assert not pr.maybe_decr_to(5, 3)  # not the APP we sent (next - 1 is 10)
    assert pr.maybe_decr_to(10, 3) and pr.next == 4 and pr.state == ProgressState.PROBE


def test_snapshot_state_waits_and_resumes_after_the_snapshot():
    pr = Progress(next_index=3, max_inflight=2)
    pr.become_snapshot(20)
    assert pr.is_paused()
    pr.become_probe()
    assert pr.next == 21
