"""The Raft protocol of one group, as a deterministic state machine (no I/O).

``Raft`` takes messages (``step``) and ticks (``tick``) and accumulates what the
host must do: unstable entries and the commit index in ``log``, messages in
``msgs``, served reads in ``read_states``. ``rawnode.RawNode`` packages those as a
``types.Ready``. Time is the host's ticks; randomness (the election timeout) comes
from the ``rng`` the caller passes (anything with ``randrange(a, b)``).

Roles swap handlers: ``_become_follower`` / ``_become_pre_candidate`` /
``_become_candidate`` / ``_become_leader`` are the only places that set ``role``,
``_step_role`` and ``_tick``. ``step`` first settles terms (a higher term makes us a
follower, a lower one is refused), then hands the message to the role's step.

What it implements, in etcd raft's terms:

- elections with a randomized timeout in [election_ticks, 2 * election_ticks);
  pre-vote (a node first asks whether it could win, without raising its term, so a
  node rejoining from a partition does not disrupt a healthy leader);
- check-quorum: a leader that has not heard from a quorum within an election
  timeout steps down; with it, a node that heard from a leader within an election
  timeout ignores vote requests (leader stickiness) unless a leader transfer forces;
- replication with flow control (progress.py: probe, replicate, snapshot) and fast
  divergence repair (a rejection carries the follower's hint index and its term
  there; the leader skips every entry of a term the follower cannot match);
- commit by counting replicas only for entries of the leader's term: a new leader
  appends an empty entry at once;
- ReadIndex (readonly.py), served after the leader committed an entry of its term;
  optionally leases (``Config.read_only_lease_based``, see ``_lease_holds``);
- leader transfer (TRANSFER_LEADER, TIMEOUT_NOW), aborted after an election timeout;
- snapshots for followers whose next entries are compacted;
- membership changes as conf-change entries (one pending at a time), applied by the
  host through ``apply_conf_change``; learners get the log and never vote.
"""

from __future__ import annotations

from . import confchange
from .log import RaftLog
from .progress import ProgressState, ProgressTracker
from .quorum import VoteResult
from .readonly import ReadOnly
from .types import (
    NONE, Compacted, Config, ConfChange, ConfState, Entry, EntryType,
    HardState, Message, MessageType, ReadState, Role, Snapshot,
    SnapshotTemporarilyUnavailable, SoftState,
)

MT = MessageType
TRANSFER = b"transfer"  # a vote request's context when a leader transfer forces it
# vote messages carry the term they are about (a pre-vote asks about the next one)
_OWN_TERM = frozenset({MT.VOTE, MT.VOTE_RESP, MT.PRE_VOTE, MT.PRE_VOTE_RESP})


class RaftError(Exception):
    """Errors of the Raft core a host can see.

        RaftError
        ├── ProposalDropped    not accepted: no leader / not the leader (``leader``
        │                      names it when known), transfer in progress, limit
        ├── StepLocalMessage   a local message type arrived from the wire
        └── StepPeerNotFound   a response from a node that is not a member
    """


class ProposalDropped(RaftError):
    def __init__(self, reason: str, leader: str = NONE) -> None:
        super().__init__(reason)
        self.leader = leader


class StepLocalMessage(RaftError):
    pass


class StepPeerNotFound(RaftError):
    pass


class Raft:
    def __init__(self, config: Config, storage, rng) -> None:
        assert config.id, "a node needs an id"
        assert config.heartbeat_ticks > 0 and config.election_ticks > config.heartbeat_ticks
        self.id = config.id
        self.config = config
        self.rng = rng
        self.log = RaftLog(storage, config.applied)
        self.trk = ProgressTracker(config.max_inflight_msgs)
        hard_state, conf_state = storage.initial_state()
        self.trk.restore(conf_state, self.log.last_index())
        self.term = 0
        self.vote = NONE
        self.lead = NONE
        self.role = Role.FOLLOWER
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.read_only = ReadOnly()
        self.pending_reads: list[Message] = []  # before the leader commits in its term
        self.commit_unannounced = False  # a leader's commit moved: announce_commit() tells
        self.lead_transferee = NONE
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.election_elapsed = 0
        self.heard_campaign = False  # a vote request came since the leader last spoke
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = config.election_ticks
        self.ticks = 0          # a leader's ticks: what its lease is measured in
        self.lease_start: int | None = None
        self.campaigns = 0      # elections this node started (for the host's metrics)
        self.read_rounds = 0    # heartbeat rounds that confirmed ReadIndex requests (metrics)
        if hard_state.term or hard_state.vote or hard_state.commit:
            self._load_hard_state(hard_state)
        self._become_follower(self.term, NONE)

    def _load_hard_state(self, hs: HardState) -> None:
        assert hs.commit <= self.log.last_index(), (
            f"hard state commit {hs.commit} beyond the last index {self.log.last_index()}")
        self.log.commit_to(hs.commit)  # (a snapshot may be newer than the commit)
        self.term = hs.term
        self.vote = hs.vote

    # ---- state the host reads ------------------------------------------------------

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def soft_state(self) -> SoftState:
        return SoftState(self.lead, self.role)

    def states_differ(self, soft: SoftState, hard: HardState) -> bool:
        """``soft_state() != soft or hard_state() != hard`` without building either
        (RawNode.has_ready asks it of every group every host turn)."""
        return (self.lead != soft.leader or self.role != soft.role or self.term != hard.term
                or self.vote != hard.vote or self.log.committed != hard.commit)

    def promotable(self) -> bool:
        """Can this node become leader: a voter with no snapshot to persist first."""
        return (self.id in self.trk.voter_ids()
                and self.log.unstable_snapshot is None)

    # ---- roles -----------------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.config.election_ticks + self.rng.randrange(
            0, self.config.election_ticks)
        self.lead_transferee = NONE
        self.trk.reset_votes()
        last = self.log.last_index()
        for node_id, pr in self.trk.progress.items():
            pr.become_probe()
            pr.match = last if node_id == self.id else 0
            pr.next = last + 1
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.read_only.reset()
        self.pending_reads = []
        self.lease_start = None
        self.commit_unannounced = False

    def _become_follower(self, term: int, lead: str) -> None:
        self._reset(term)
        self.lead = lead
        self.role = Role.FOLLOWER
        self._step_role = self._step_follower
        self._tick = self._tick_election

    def _become_pre_candidate(self) -> None:
        assert self.role != Role.LEADER, "leader -> pre-candidate is not a transition"
        # no _reset: the term and the vote stay as they are until a real election
        self.trk.reset_votes()
        self.lead = NONE
        self.role = Role.PRE_CANDIDATE
        self._step_role = self._step_candidate
        self._tick = self._tick_election

    def _become_candidate(self) -> None:
        assert self.role != Role.LEADER, "leader -> candidate is not a transition"
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE
        self._step_role = self._step_candidate
        self._tick = self._tick_election

    def _become_leader(self) -> None:
        assert self.role != Role.FOLLOWER, "follower -> leader is not a transition"
        self._reset(self.term)
        self.lead = self.id
        self.role = Role.LEADER
        self._step_role = self._step_leader
        self._tick = self._tick_heartbeat
        me = self.trk.progress.get(self.id)
        if me is not None:
            me.become_replicate()
            me.recent_active = True
        # conf changes in the log before this term may be unapplied: wait for them
        self.pending_conf_index = self.log.last_index()
        # commit by counting only works for this term's entries: start with one
        appended = self._append_entries([Entry(0, 0)])
        assert appended, "the leader's empty entry was refused"

    # ---- ticks -----------------------------------------------------------------------

    def tick(self) -> None:
        self._tick()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.step(Message(MT.HUP, frm=self.id))

    def _tick_heartbeat(self) -> None:
        self.ticks += 1
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.config.election_ticks:
            self.election_elapsed = 0
            if self.config.check_quorum:
                self.step(Message(MT.CHECK_QUORUM, frm=self.id))
            if self.role == Role.LEADER and self.lead_transferee != NONE:
                self._abort_leader_transfer()  # it took an election timeout: give up
        if self.role != Role.LEADER:
            return
        if self.heartbeat_elapsed >= self.config.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            self.step(Message(MT.BEAT, frm=self.id))

    # ---- step: terms first -----------------------------------------------------------

    def step(self, m: Message) -> None:
        if m.type in (MT.VOTE, MT.PRE_VOTE) and m.frm != self.id:
            # someone campaigns: a quiet follower must tick again (rawnode.is_quiet)
            # so that its lease on the leader runs out if the leader is gone
            self.heard_campaign = True
        if m.term > self.term:
            if not self._on_higher_term(m):
                return
        elif m.term < self.term and m.term != 0:
            self._on_lower_term(m)
            return
        if m.type == MT.HUP:
            self._hup(transfer=False)
        elif m.type in (MT.VOTE, MT.PRE_VOTE):
            self._on_vote(m)
        else:
            self._step_role(m)

    def _in_lease(self) -> bool:
        """Did we hear from a leader within an election timeout (check-quorum on)?"""
        return (self.config.check_quorum and self.lead != NONE
                and self.election_elapsed < self.config.election_ticks)

    def _on_higher_term(self, m: Message) -> bool:
        """Settle a message from a newer term; False if it is to be ignored."""
        if m.type in (MT.VOTE, MT.PRE_VOTE):
            if m.context != TRANSFER and self._in_lease():
                if m.type == MT.PRE_VOTE and self.role == Role.LEADER \
                        and m.frm in self.trk.progress:
                    # a member pre-campaigns while we lead: it lost us (it restarted,
                    # or our quiet group sent no heartbeats). Remind everyone who
                    # leads: the others heard the campaign too and tick again until
                    # a leader speaks (rawnode.is_quiet)
                    self._bcast_heartbeat()
                return False  # leader stickiness: a live leader keeps its followers
        if m.type == MT.PRE_VOTE:
            return True  # a pre-vote does not change our term
        if m.type == MT.PRE_VOTE_RESP and not m.reject:
            return True  # granted for the term we would campaign in
        if m.type in (MT.APP, MT.HEARTBEAT, MT.SNAP):
            self._become_follower(m.term, m.frm)
        else:
            self._become_follower(m.term, NONE)
        return True

    def _on_lower_term(self, m: Message) -> None:
        if (self.config.check_quorum or self.config.pre_vote) and m.type in (MT.HEARTBEAT, MT.APP):
            # a stale leader (e.g. back from a partition): our term makes it step down
            self._send(Message(MT.APP_RESP, to=m.frm))
        elif m.type == MT.PRE_VOTE:
            self._send(Message(MT.PRE_VOTE_RESP, to=m.frm, term=self.term, reject=True))
        # anything else from an older term is ignored

    def _send(self, m: Message) -> None:
        """Queue ``m`` for the host; vote messages carry their own term. Of two
        accepting APP_RESPs queued one after the other to the same node, only the
        one with the higher index is kept: it says all the other does (a
        follower that took several APPs between two Readies answers once)."""
        term = m.term if m.type in _OWN_TERM else self.term
        msgs = self.msgs
        if m.type == MT.APP_RESP and not m.reject:
            for i in range(len(msgs) - 1, -1, -1):
                last = msgs[i]
                if last.to == m.to:
                    if last.type == MT.APP_RESP and not last.reject and last.term == term:
                        if last.index >= m.index:
                            return  # (an APP delivered late) the queued one says more
                        del msgs[i]
                    break
        msgs.append(Message(m.type, m.to, self.id, term, m.log_term, m.index, m.entries,
                            m.commit, m.reject, m.reject_hint, m.snapshot, m.context))

    # ---- elections -------------------------------------------------------------------

    def _hup(self, transfer: bool) -> None:
        if self.role == Role.LEADER or not self.promotable():
            return
        if self._has_unapplied_conf_change():
            return  # it could change who may vote: apply it first
        self.campaigns += 1
        if self.config.pre_vote and not transfer:
            self._campaign(pre=True, transfer=False)
        else:
            self._campaign(pre=False, transfer=transfer)

    def _has_unapplied_conf_change(self) -> bool:
        if self.log.applied >= self.log.committed:
            return False
        try:
            ents = self.log.slice(self.log.applied + 1, self.log.committed + 1)
        except Compacted:
            return False
        return any(e.type == EntryType.CONF_CHANGE for e in ents)

    def _campaign(self, pre: bool, transfer: bool) -> None:
        if pre:
            self._become_pre_candidate()
            vote_type, term = MT.PRE_VOTE, self.term + 1
        else:
            self._become_candidate()
            vote_type, term = MT.VOTE, self.term
        self.trk.record_vote(self.id, True)
        if self._election_result() is not VoteResult.PENDING:
            return  # a single voter wins alone
        context = TRANSFER if transfer else b""
        for node_id in sorted(self.trk.voter_ids()):
            if node_id != self.id:
                self._send(Message(vote_type, to=node_id, term=term, index=self.log.last_index(),
                                   log_term=self.log.last_term(), context=context))

    def _election_result(self) -> VoteResult:
        """Tally the votes and act on a decided election."""
        _, _, result = self.trk.tally_votes()
        if result == VoteResult.WON:
            if self.role == Role.PRE_CANDIDATE:
                self._campaign(pre=False, transfer=False)
            else:
                self._become_leader()
                self._bcast_append()
        elif result == VoteResult.LOST:
            self._become_follower(self.term, NONE)
        return result

    def _on_vote(self, m: Message) -> None:
        pre = m.type == MT.PRE_VOTE
        resp = MT.PRE_VOTE_RESP if pre else MT.VOTE_RESP
        can_vote = (self.vote == m.frm or (self.vote == NONE and self.lead == NONE)
                    or (pre and m.term > self.term))
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            # a pre-vote is answered in the term asked about, so the asker counts it
            self._send(Message(resp, to=m.frm, term=m.term))
            if not pre:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self._send(Message(resp, to=m.frm, term=self.term, reject=True))

    # ---- followers and candidates ---------------------------------------------------

    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t == MT.PROPOSE:
            reason = f"not the leader (leader is {self.lead})" if self.lead else "no leader"
            raise ProposalDropped(reason, self.lead)
        if t in (MT.APP, MT.HEARTBEAT, MT.SNAP):
            self.election_elapsed = 0
            self.lead = m.frm
            self.heard_campaign = False
            self._on_leader_message(m)
        elif t == MT.TIMEOUT_NOW:
            self._hup(transfer=True)
        elif t == MT.READ_INDEX:
            if m.frm not in (NONE, self.id):
                return  # forwarded to us by mistake: only our own reads go on
            if self.lead == NONE:
                raise ProposalDropped("no leader")
            self._send(Message(MT.READ_INDEX, to=self.lead, context=m.context))
        elif t == MT.READ_INDEX_RESP:
            self.read_states.append(ReadState(m.index, m.context))
        # TRANSFER_LEADER, CHECK_QUORUM, BEAT, UNREACHABLE, SNAP_STATUS: a leader's

    def _step_candidate(self, m: Message) -> None:
        t = m.type
        if t == MT.PROPOSE or (t == MT.READ_INDEX and m.frm in (NONE, self.id)):
            raise ProposalDropped("no leader")
        if t in (MT.APP, MT.HEARTBEAT, MT.SNAP):
            self._become_follower(m.term, m.frm)  # a leader of our term exists
            self._on_leader_message(m)
        elif t == (MT.PRE_VOTE_RESP if self.role == Role.PRE_CANDIDATE else MT.VOTE_RESP):
            self.trk.record_vote(m.frm, not m.reject)
            self._election_result()

    def _on_leader_message(self, m: Message) -> None:
        if m.type == MT.APP:
            self._on_append(m)
        elif m.type == MT.HEARTBEAT:
            self.log.commit_to(m.commit)
            self._send(Message(MT.HEARTBEAT_RESP, to=m.frm, context=m.context))
        else:
            self._on_snapshot(m)

    def _on_append(self, m: Message) -> None:
        if m.index < self.log.committed:
            self._send(Message(MT.APP_RESP, to=m.frm, index=self.log.committed))
            return
        last = self.log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last is not None:
            self._send(Message(MT.APP_RESP, to=m.frm, index=last))
            return
        # our log does not match at m.index: tell the leader where it may match
        hint, hint_term = self.log.find_conflict_by_term(
            min(m.index, self.log.last_index()), m.log_term)
        self._send(Message(MT.APP_RESP, to=m.frm, index=m.index, reject=True,
                           reject_hint=hint, log_term=hint_term))

    def _on_snapshot(self, m: Message) -> None:
        if self._restore(m.snapshot):
            self._send(Message(MT.APP_RESP, to=m.frm, index=self.log.last_index()))
        else:
            self._send(Message(MT.APP_RESP, to=m.frm, index=self.log.committed))

    def _restore(self, snap: Snapshot) -> bool:
        """Replace our log and membership by the leader's snapshot; False if we
        already have what it covers."""
        meta = snap.meta
        if meta.index <= self.log.committed:
            return False
        cs = meta.conf_state
        if self.id not in cs.voters | cs.learners | cs.voters_outgoing:
            return False  # not a member in it: a misdirected snapshot
        if self.log.match_term(meta.index, meta.term):
            self.log.commit_to(meta.index)  # we have the entries: just commit them
            return False
        self.log.restore(snap)
        self.trk.restore(cs, self.log.last_index())
        return True

    # ---- the leader ------------------------------------------------------------------

    def _step_leader(self, m: Message) -> None:
        handler = self._LEADER_LOCAL.get(m.type)
        if handler is not None:
            handler(self, m)
            return
        handler = self._LEADER_FROM_PEER.get(m.type)
        if handler is None:
            return
        pr = self.trk.progress.get(m.frm)
        if pr is not None:
            handler(self, m, pr)

    def _on_beat(self, m: Message) -> None:
        if self.config.read_only_lease_based:
            self.read_only.beat(self.log.committed, self.id, self.ticks)  # renew the lease
        self._bcast_heartbeat()

    def _on_check_quorum(self, m: Message) -> None:
        if not self.trk.quorum_active(self.id):
            self._become_follower(self.term, NONE)
            return
        for node_id, pr in self.trk.progress.items():
            pr.recent_active = node_id == self.id

    def _on_propose(self, m: Message) -> None:
        assert m.entries, "an empty proposal"
        if self.id not in self.trk.progress:
            raise ProposalDropped("this node was removed from the group")
        if self.lead_transferee != NONE:
            raise ProposalDropped("a leader transfer is in progress", self.lead_transferee)
        entries = [self._check_conf_change(e, i) for i, e in enumerate(m.entries)]
        if not self._append_entries(entries):
            raise ProposalDropped("too many uncommitted entries")
        self._bcast_append()

    def _check_conf_change(self, e: Entry, i: int) -> Entry:
        """A conf change that may not be proposed now becomes an empty entry (its
        index is taken, nothing changes), as etcd does."""
        if e.type != EntryType.CONF_CHANGE:
            return e
        cc = confchange.decode(e.data)
        joint = self.trk.config.voters.is_joint()
        if (self.pending_conf_index > self.log.applied or joint != cc.leaves_joint()):
            return Entry(0, 0)
        self.pending_conf_index = self.log.last_index() + i + 1
        return e

    def _append_entries(self, entries: list[Entry]) -> bool:
        last = self.log.last_index()
        entries = [Entry(self.term, last + 1 + i, e.data, e.type) for i, e in enumerate(entries)]
        size = sum(len(e.data) for e in entries)
        limit = self.config.max_uncommitted_entries_size
        if limit and self.uncommitted_size and self.uncommitted_size + size > limit:
            return False
        self.uncommitted_size += size
        last = self.log.append(entries)
        me = self.trk.progress.get(self.id)
        if me is not None:  # a removed leader still appends until it steps down
            me.maybe_update(last)
        self._maybe_commit()
        return True

    def _maybe_commit(self) -> bool:
        before = self.log.committed
        if not self.log.maybe_commit(self.trk.committed(), self.term):
            return False
        self._reduce_uncommitted_size(before)
        if self.pending_reads and self._committed_in_term():
            reads, self.pending_reads = self.pending_reads, []
            for read in reads:
                self._on_read_index_leader(read)
        return True

    def _reduce_uncommitted_size(self, before: int) -> None:
        if not self.uncommitted_size:
            return
        try:
            ents = self.log.slice(before + 1, self.log.committed + 1)
        except Compacted:
            ents = []
        self.uncommitted_size = max(0, self.uncommitted_size - sum(len(e.data) for e in ents))

    def _committed_in_term(self) -> bool:
        return self.log.term_or_zero(self.log.committed) == self.term

    # ---- the leader: replication ----------------------------------------------------

    def _bcast_append(self) -> None:
        for node_id in self.trk.ids():
            if node_id != self.id:
                self._send_append(node_id)

    def announce_commit(self) -> None:
        """A leader whose commit index moved on an APP_RESP tells each follower
        that no queued APP tells already: once per Ready (RawNode.ready), not once
        per response, so a commit and the next proposals go out as one APP, and a
        follower answers it once."""
        if not self.commit_unannounced:
            return
        self.commit_unannounced = False
        if self.role != Role.LEADER:
            return
        committed = self.log.committed
        told = {m.to for m in self.msgs if m.type == MT.APP and m.commit >= committed}
        for node_id in self.trk.ids():
            if node_id != self.id and node_id not in told:
                self._send_append(node_id)

    def _send_append(self, to: str, send_if_empty: bool = True) -> bool:
        """Send ``to`` the entries from its next index (or a snapshot if they are
        compacted); False if nothing was sent (paused, or nothing to send)."""
        pr = self.trk.progress[to]
        if pr.is_paused():
            return False
        try:
            prev_term = self.log.term(pr.next - 1)
            entries = self.log.entries(pr.next, self.config.max_size_per_msg)
        except Compacted:
            return self._send_snapshot(to, pr)
        if not entries and not send_if_empty:
            return False
        self._send(Message(MT.APP, to=to, index=pr.next - 1, log_term=prev_term,
                           entries=tuple(entries), commit=self.log.committed))
        pr.sent_entries(len(entries), entries[-1].index if entries else 0)
        return True

    def _send_snapshot(self, to: str, pr) -> bool:
        if not pr.recent_active:
            return False  # a snapshot is costly: only to a follower that answers
        try:
            snap = self.log.snapshot()
        except SnapshotTemporarilyUnavailable:
            return False
        assert not snap.is_empty(), "entries are compacted but there is no snapshot"
        pr.become_snapshot(snap.meta.index)
        self._send(Message(MT.SNAP, to=to, snapshot=snap))
        return True

    def _bcast_heartbeat(self) -> None:
        context = self.read_only.in_flight_context()
        for node_id in self.trk.ids():
            if node_id != self.id:
                self._heartbeat_to(node_id, context)

    def peer_back(self, node_id: str) -> None:
        """The host learnt that ``node_id``'s node is (back) up. A leader tells it
        who leads at once: a restarted member knows no leader, and a quiet group
        sends no heartbeats, so it would otherwise wait out an election timeout and
        pre-campaign to find out."""
        if self.role == Role.LEADER and node_id != self.id and node_id in self.trk.progress:
            self._heartbeat_to(node_id)

    def _heartbeat_to(self, node_id: str, context: bytes = b"") -> None:
        pr = self.trk.progress[node_id]
        # never beyond its match: it may not have the entries yet
        self._send(Message(MT.HEARTBEAT, to=node_id, context=context,
                           commit=min(pr.match, self.log.committed)))

    def _on_app_resp(self, m: Message, pr) -> None:
        pr.recent_active = True
        if m.reject:
            self._on_app_reject(m, pr)
            return
        was_paused = pr.is_paused()
        if not pr.maybe_update(m.index):
            return
        if pr.state == ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state == ProgressState.SNAPSHOT and pr.match + 1 >= self.log.first_index():
            pr.become_probe()  # the snapshot caught it up: replicate from its match
            pr.become_replicate()
        elif pr.state == ProgressState.REPLICATE:
            pr.inflights.free_le(m.index)
        if self._maybe_commit():
            # not at once: proposals stepped in before the next Ready carry it
            self.commit_unannounced = True
        if was_paused:
            self._send_append(m.frm)
        while self.role == Role.LEADER and self._send_append(m.frm, send_if_empty=False):
            pass
        if m.frm == self.lead_transferee and pr.match == self.log.last_index():
            self._send(Message(MT.TIMEOUT_NOW, to=m.frm))

    def _on_app_reject(self, m: Message, pr) -> None:
        next_probe = m.reject_hint
        if m.log_term > 0:
            # skip every entry of ours with a term above the follower's at its hint
            next_probe, _ = self.log.find_conflict_by_term(m.reject_hint, m.log_term)
        if pr.maybe_decr_to(m.index, next_probe):
            if pr.state == ProgressState.REPLICATE:
                pr.become_probe()
            self._send_append(m.frm)

    def _on_heartbeat_resp(self, m: Message, pr) -> None:
        pr.recent_active = True
        pr.probe_sent = False
        if pr.state == ProgressState.REPLICATE and pr.inflights.full():
            pr.inflights.free_first_one()
        if pr.match < self.log.last_index():
            self._send_append(m.frm)
        if m.context:
            self._on_read_ack(m)

    def _on_snap_status(self, m: Message, pr) -> None:
        if pr.state != ProgressState.SNAPSHOT:
            return
        if m.reject:
            pr.pending_snapshot = 0
        pr.become_probe()
        pr.probe_sent = True  # wait for an answer before the next APP

    def _on_unreachable(self, m: Message, pr) -> None:
        if pr.state == ProgressState.REPLICATE:
            pr.become_probe()

    def _on_transfer_leader(self, m: Message, pr) -> None:
        transferee = m.frm
        if pr.is_learner:
            return
        if self.lead_transferee != NONE:
            if self.lead_transferee == transferee:
                return
            self._abort_leader_transfer()
        if transferee == self.id:
            return
        self.election_elapsed = 0  # the transfer has one election timeout
        self.lead_transferee = transferee
        if pr.match == self.log.last_index():
            self._send(Message(MT.TIMEOUT_NOW, to=transferee))
        else:
            self._send_append(transferee)

    def _abort_leader_transfer(self) -> None:
        self.lead_transferee = NONE

    # ---- the leader: reads -----------------------------------------------------------

    def _on_read_index_leader(self, m: Message) -> None:
        if self.trk.is_singleton():
            self._answer_read(m, self.log.committed)
        elif not self._committed_in_term():
            self.pending_reads.append(m)  # our commit index may be behind the last leader's
        elif self.config.read_only_lease_based and self._lease_holds():
            self._answer_read(m, self.log.committed)
        elif self.read_only.add(m, self.log.committed, self.id, self.ticks):
            self._bcast_heartbeat()

    def _lease_holds(self) -> bool:
        """Leases: a leader serves reads without a heartbeat round of their own.

        The lease runs from the start of the last heartbeat round a quorum of voters
        acknowledged, for ``_lease_ticks()``, a little less than an election
        timeout. Each of those voters received that round's heartbeat after it
        started and, with check_quorum on, refuses to vote for another candidate for
        an election timeout after (leader stickiness): no other leader can be
        elected before the lease ends. This holds under a clock assumption: the
        nodes' tick rates differ by a bounded drift, which the margin between the
        lease and the election timeout covers. A process paused for longer (GC,
        SIGSTOP, a VM migration) or a clock that runs faster breaks it; that is why
        leases are off by default. A leader transfer ends the lease (the
        transferee's election is forced through stickiness).
        """
        return (self.config.check_quorum and self.lead_transferee == NONE
                and self.lease_start is not None
                and self.ticks - self.lease_start < self._lease_ticks())

    def _lease_ticks(self) -> int:
        election = self.config.election_ticks
        return election - max(1, election // 5)  # a fifth (at least a tick) for drift

    def _on_read_ack(self, m: Message) -> None:
        acks = self.read_only.ack(m.frm, m.context)
        if acks is None:
            return
        if self.trk.config.voters.vote_result({a: True for a in acks}) != VoteResult.WON:
            return
        done, started = self.read_only.confirm(self.log.committed, self.id, self.ticks)
        if self.lease_start is None or done.started > self.lease_start:
            self.lease_start = done.started
        self.read_rounds += bool(done.requests)  # a lease renewal's round serves none
        for request in done.requests:
            self._answer_read(request, done.index)
        if started:
            self._bcast_heartbeat()

    def _answer_read(self, m: Message, index: int) -> None:
        if m.frm in (NONE, self.id):
            self.read_states.append(ReadState(index, m.context))
        else:
            self._send(Message(MT.READ_INDEX_RESP, to=m.frm, index=index, context=m.context))

    _LEADER_LOCAL = {
        MT.BEAT: _on_beat,
        MT.CHECK_QUORUM: _on_check_quorum,
        MT.PROPOSE: _on_propose,
        MT.READ_INDEX: _on_read_index_leader,
    }
    _LEADER_FROM_PEER = {
        MT.APP_RESP: _on_app_resp,
        MT.HEARTBEAT_RESP: _on_heartbeat_resp,
        MT.SNAP_STATUS: _on_snap_status,
        MT.UNREACHABLE: _on_unreachable,
        MT.TRANSFER_LEADER: _on_transfer_leader,
    }

    # ---- membership ------------------------------------------------------------------

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Switch to the membership ``cc`` leads to (the host calls it when it applies
        the conf-change entry); returns the new ConfState. A change confchange
        refuses raises ConfChangeError and changes nothing: every replica refuses
        it alike (same config, same entry), so the host treats the entry as a no-op."""
        members = {node_id: pr.is_learner for node_id, pr in self.trk.progress.items()}
        changer = confchange.Changer(self.trk.config, members, self.log.last_index())
        config, members = changer.apply(cc)
        return self._switch_to_config(config, members)

    def _switch_to_config(self, config, members: dict[str, bool]) -> ConfState:
        self.trk.apply(config, members, self.log.last_index())
        cs = self.trk.conf_state()
        if self.role != Role.LEADER:
            return cs
        me = self.trk.progress.get(self.id)
        if me is None or me.is_learner:
            self._become_follower(self.term, NONE)  # removed or demoted: step down
            return cs
        if not self._maybe_commit():
            for node_id in self.trk.ids():
                if node_id != self.id:
                    self._send_append(node_id, send_if_empty=False)
        else:
            self._bcast_append()  # the quorum changed: the commit may have moved
        if self.lead_transferee not in config.voters.ids():
            self._abort_leader_transfer()
        return cs

    def applied_to(self, index: int) -> None:
        """The host applied up to ``index``; a leader in an auto-leave joint config
        proposes leaving it once the entry that entered it is applied."""
        self.log.applied_to(index)
        config = self.trk.config
        if (self.role == Role.LEADER and config.auto_leave and config.voters.is_joint()
                and index >= self.pending_conf_index):
            entry = Entry(0, 0, confchange.encode(ConfChange()), EntryType.CONF_CHANGE)
            try:
                self.step(Message(MT.PROPOSE, frm=self.id, entries=(entry,)))
            except ProposalDropped:
                pass  # e.g. a transfer: the next leader leaves the joint config
