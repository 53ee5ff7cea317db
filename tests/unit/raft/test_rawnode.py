"""The RawNode contract the host relies on: what step refuses, the Ready/advance
cycle (one Ready outstanding, must_sync, stable and applied marks), restarts from
storage, status, quiet groups and the errors of refused proposals."""

from __future__ import annotations

import pytest

from quorumkv.core.raft.rawnode import (
    ProposalDropped, RawNode, StepLocalMessage, StepPeerNotFound,
)
from quorumkv.core.raft.storage import MemoryStorage
from quorumkv.core.raft.types import Config, ConfState, Entry, Message, MessageType, Role

from .runner import LowEnd

MT = MessageType


def node(voters=("1",), learners=(), **options):
    storage = MemoryStorage(ConfState(voters=frozenset(voters), learners=frozenset(learners)))
    return RawNode(Config("1", **options), storage, LowEnd()), storage


def handle(rn, storage):
    """Play the host once: persist, (drop the messages), apply, advance."""
    rd = rn.ready()
    storage.append(rd.entries)
    if rd.hard_state is not None:
        storage.set_hard_state(rd.hard_state)
    rn.advance(rd)
    return rd


def test_step_refuses_local_messages_from_the_wire():
    rn, _ = node()
    for t in (MT.HUP, MT.BEAT, MT.PROPOSE, MT.SNAP_STATUS, MT.TRANSFER_LEADER):
        with pytest.raises(StepLocalMessage):
            rn.step(Message(t, to="1", frm="2"))


def test_step_refuses_responses_from_non_members_but_not_requests():
    rn, _ = node(voters=("1", "2"))
    with pytest.raises(StepPeerNotFound):
        rn.step(Message(MT.APP_RESP, to="1", frm="9", term=1, index=1))
    rn.step(Message(MT.HEARTBEAT, to="1", frm="9", term=1))  # a leader we do not know yet
    assert rn.raft.lead == "9"


def test_a_single_voter_elects_itself_and_commits_alone():
    rn, storage = node()
    rn.campaign()
    assert rn.raft.role == Role.LEADER
    rd = handle(rn, storage)
    assert rd.must_sync and rd.soft_state.role == Role.LEADER
    assert [e.index for e in rd.entries] == [1] and [e.index for e in rd.committed_entries] == [1]
    rn.propose(b"x")
    rd = handle(rn, storage)
    assert [e.data for e in rd.committed_entries] == [b"x"]
    assert rn.status().applied == 2 and rn.is_quiet()


def test_one_ready_at_a_time():
    rn, _ = node()
    rn.campaign()
    rd = rn.ready()
    with pytest.raises(AssertionError):
        rn.ready()
    rn.advance(rd)
    with pytest.raises(AssertionError):
        rn.advance(rd)


def test_a_commit_alone_needs_no_sync():
    rn, storage = node(voters=("1", "2"))
    rn.step(Message(MT.APP, to="1", frm="2", term=1, index=0, log_term=0,
                    entries=(), commit=0))
    handle(rn, storage)
    rn.step(Message(MT.APP, to="1", frm="2", term=1, index=0, log_term=0,
                    entries=(Entry(1, 1, b"a"),), commit=0))
    assert handle(rn, storage).must_sync
    rn.step(Message(MT.HEARTBEAT, to="1", frm="2", term=1, commit=1))
    rd = handle(rn, storage)
    assert rd.hard_state.commit == 1 and not rd.must_sync
    assert [e.data for e in rd.committed_entries] == [b"a"]


def test_a_restart_resumes_from_the_persisted_hard_state():
    rn, storage = node()
    rn.campaign()
    handle(rn, storage)
    rn.propose(b"x")
    handle(rn, storage)
    again = RawNode(Config("1", applied=2), storage, LowEnd())
    r = again.raft
    assert (r.term, r.vote, r.log.committed, r.log.applied, r.log.last_index()) == (1, "1", 2, 2, 2)
    assert r.role == Role.FOLLOWER and not again.ready().committed_entries


def test_a_learner_does_not_campaign():
    storage = MemoryStorage(ConfState(voters=frozenset({"2"}), learners=frozenset({"1"})))
    rn = RawNode(Config("1"), storage, LowEnd())
    rn.campaign()
    for _ in range(50):
        rn.tick()
    assert rn.raft.role == Role.FOLLOWER and rn.raft.term == 0


def test_proposals_without_a_leader_or_beyond_the_limit_are_dropped():
    rn, storage = node(voters=("1", "2"), max_uncommitted_entries_size=10)
    with pytest.raises(ProposalDropped, match="no leader"):
        rn.propose(b"x")
    rn.raft._become_candidate()
    rn.raft._become_leader()
    rn.propose(b"0123456789")  # the first one always fits
    with pytest.raises(ProposalDropped, match="uncommitted"):
        rn.propose(b"y")


def test_a_follower_names_its_leader_when_it_refuses_a_proposal():
    rn, _ = node(voters=("1", "2"))
    rn.step(Message(MT.HEARTBEAT, to="1", frm="2", term=3))
    with pytest.raises(ProposalDropped) as refused:
        rn.propose(b"x")
    assert refused.value.leader == "2"


def test_status_shows_each_replica_on_a_leader_only():
    rn, storage = node(voters=("1", "2", "3"))
    assert rn.status().progress == {}
    rn.raft._become_candidate()
    rn.raft._become_leader()
    status = rn.status()
    assert status.role == Role.LEADER and status.leader == "1" and status.term == 1
    assert sorted(status.progress) == ["1", "2", "3"]
    assert status.progress["1"].match == 1 and status.progress["2"].match == 0


def test_a_single_voter_serves_reads_at_once():
    rn, storage = node()
    rn.campaign()
    handle(rn, storage)
    rn.read_index(b"r1")
    rd = handle(rn, storage)
    assert [(rs.index, rs.context) for rs in rd.read_states] == [(1, b"r1")]


def test_a_quiet_group_wakes_on_a_proposal():
    rn, storage = node()
    rn.campaign()
    handle(rn, storage)
    assert rn.is_quiet()
    rn.propose(b"x")
    assert not rn.is_quiet()
    handle(rn, storage)
    assert rn.is_quiet()


def test_a_follower_without_a_leader_is_never_quiet():
    rn, _ = node(voters=("1", "2"))
    assert not rn.is_quiet()  # it must tick to find or elect a leader


def test_committed_entries_per_ready_are_bounded():
    rn, storage = node(max_committed_size_per_ready=40)
    rn.campaign()
    handle(rn, storage)
    for i in range(5):
        rn.propose(b"%d" % i)  # 17 bytes each as Entry.size() counts them
    sizes = []
    while rn.has_ready():
        sizes.append(len(handle(rn, storage).committed_entries))
    assert sizes == [2, 2, 1] and rn.status().applied == 6


def test_a_leader_with_leases_is_never_quiet():
    rn, storage = node(read_only_lease_based=True)
    rn.campaign()
    handle(rn, storage)
    assert rn.raft.role == Role.LEADER and not rn.is_quiet()


def test_only_a_leader_with_its_term_vote_and_commit_stable_sends_before_persisting():
    rn, storage = node(voters=("1", "2", "3"))
    rn.campaign()  # pre-vote: nothing of the term is stored yet
    rd = handle(rn, storage)
    assert not rd.send_before_persist
    rn.step(Message(MT.PRE_VOTE_RESP, to="1", frm="2", term=1))
    rd = handle(rn, storage)  # the campaign's term and vote must be stored first
    assert rn.raft.role == Role.CANDIDATE and rd.hard_state.vote == "1"
    assert not rd.send_before_persist
    rn.step(Message(MT.VOTE_RESP, to="1", frm="2", term=1))
    rd = handle(rn, storage)  # elected: the empty entry and its appends
    assert rn.raft.role == Role.LEADER and rd.entries and rd.send_before_persist
    rn.propose(b"x")
    rd = rn.ready()
    assert [e.data for e in rd.entries] == [b"x"] and rd.send_before_persist
    storage.append(rd.entries)
    rn.advance(rd)
    # a follower's acknowledgement commits entries the leader has stable
    rn.step(Message(MT.APP_RESP, to="1", frm="2", term=1, index=2))
    rd = handle(rn, storage)
    assert rd.hard_state.commit == 2 and rd.send_before_persist
    # a higher term makes it a follower: what it answers needs the new term stored
    rn.step(Message(MT.APP, to="1", frm="3", term=2, index=2, log_term=1,
                    entries=(), commit=2))
    rd = handle(rn, storage)
    assert rn.raft.role == Role.FOLLOWER and rd.messages and not rd.send_before_persist


def test_a_lone_voter_does_not_send_a_commit_of_entries_it_has_not_stored():
    rn, storage = node(voters=("1",), learners=("2",))
    rn.campaign()
    handle(rn, storage)
    rn.propose(b"x")
    rd = rn.ready()  # committed by its own vote alone, before it is stored
    assert rd.hard_state.commit == 2 and [e.index for e in rd.entries] == [2]
    assert not rd.send_before_persist


def test_a_follower_answers_the_apps_of_one_ready_once_with_the_highest_index():
    rn, storage = node(voters=("1", "2"))
    rn.step(Message(MT.HEARTBEAT, to="1", frm="2", term=1))
    handle(rn, storage)
    rn.step(Message(MT.APP, to="1", frm="2", term=1, index=0, log_term=0,
                    entries=(Entry(1, 1, b"a"), Entry(1, 2, b"b"))))
    # a late copy of an older APP: its answer (index 1) says less than the queued one
    rn.step(Message(MT.APP, to="1", frm="2", term=1, index=0, log_term=0,
                    entries=(Entry(1, 1, b"a"),)))
    rn.step(Message(MT.APP, to="1", frm="2", term=1, index=2, log_term=1,
                    entries=(Entry(1, 3, b"c"),)))
    answers = [(m.type, m.index, m.reject) for m in handle(rn, storage).messages]
    assert answers == [(MT.APP_RESP, 3, False)]
    # a rejection is never folded into an acceptance (nor the other way round)
    rn.step(Message(MT.APP, to="1", frm="2", term=1, index=9, log_term=1))
    rn.step(Message(MT.APP, to="1", frm="2", term=1, index=3, log_term=1,
                    entries=(Entry(1, 4, b"d"),)))
    answers = [(m.type, m.index, m.reject) for m in handle(rn, storage).messages]
    assert answers == [(MT.APP_RESP, 9, True), (MT.APP_RESP, 4, False)]


def test_a_leader_announces_a_new_commit_once_in_the_next_ready():
    rn, storage = node(voters=("1", "2", "3"))
    rn.campaign()
    for voter in ("2", "3"):
        rn.step(Message(MT.PRE_VOTE_RESP, to="1", frm=voter, term=1))
    for voter in ("2", "3"):
        rn.step(Message(MT.VOTE_RESP, to="1", frm=voter, term=1))
    assert rn.raft.role == Role.LEADER
    handle(rn, storage)
    for voter in ("2", "3"):
        rn.step(Message(MT.APP_RESP, to="1", frm=voter, term=1, index=1))
    handle(rn, storage)
    rn.propose(b"x")
    handle(rn, storage)
    # both acknowledge index 2; the commit moves on the first answer
    rn.step(Message(MT.APP_RESP, to="1", frm="2", term=1, index=2))
    rn.step(Message(MT.APP_RESP, to="1", frm="3", term=1, index=2))
    assert rn.raft.msgs == []  # not one APP per answer: the next Ready announces it
    rn.propose(b"y")  # proposed before that Ready: its APP carries the commit
    rd = handle(rn, storage)
    apps = sorted((m.to, m.commit, len(m.entries)) for m in rd.messages if m.type == MT.APP)
    assert apps == [("2", 2, 1), ("3", 2, 1)]


def test_states_differ_agrees_with_comparing_the_built_states():
    from dataclasses import fields, replace

    rn, storage = node(voters=("1", "2"))
    r = rn.raft
    soft, hard = r.soft_state(), r.hard_state()
    assert not r.states_differ(soft, hard)
    for f in fields(soft):  # every field of either state counts
        other = replace(soft, **{f.name: "x" if f.name == "leader" else Role.LEADER})
        assert r.states_differ(other, hard) == (other != soft)
    for f in fields(hard):
        other = replace(hard, **{f.name: "x" if f.name == "vote" else 99})
        assert r.states_differ(soft, other) == (other != hard)
