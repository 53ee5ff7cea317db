"""RawNode: the host's handle on one Raft group.

The host drives it in a loop (for every group, in one turn):

    rn.tick()                      every tick of the host's clock (see "quiet" below)
    rn.step(msg)                   every message from a peer
    rn.propose(data) ...           client work: propose, propose_conf_change,
                                   read_index, transfer_leader
    if rn.has_ready():
        rd = rn.ready()
        persist rd.snapshot, rd.entries, rd.hard_state   (one batch, fsync if must_sync)
        send rd.messages          (a leader's may go first: rd.send_before_persist)
        apply rd.committed_entries (a CONF_CHANGE entry: rn.apply_conf_change(cc));
        serve rd.read_states once applied >= their index
        rn.advance(rd)

Besides: a CONF_CHANGE entry's returned ConfState is stored with the applied index
(a restart passes ``Config.applied`` and its storage's ``initial_state`` gives that
ConfState back, as ``MemoryStorage.set_conf_state`` does); a host that sent a SNAP
reports how the transfer ended (``report_snapshot(to, ok)``), else the follower
waits until it acknowledges the snapshot; the storage's snapshot must be recent
enough to name every member (a follower refuses one it is not in), so the host
snapshots regularly; a ``StepPeerNotFound`` from ``step`` means drop the message.

Exactly one Ready is outstanding: ``ready()`` again before ``advance`` is a bug (an
AssertionError). Steps and proposals between ``ready()`` and ``advance()`` are
allowed: what they produce goes into the next Ready. ``advance`` marks the Ready's
entries stable (unless a later append replaced them), its snapshot stable, and its
committed entries (or snapshot) applied.

Quiet groups: ``is_quiet()`` is True when the group has nothing to do -- no Ready,
no read pending, no transfer, everything it knows of committed, and on a leader
every member caught up and heard from since the last check-quorum. The host may
then stop ticking it. A quiet group wakes on any incoming message or local request
(the host ticks it again from then on). Followers are the subtle part: a quiet
leader sends no heartbeats, so a follower must not count ticks towards an election
while its group is quiet -- the host skips a quiet follower's ticks only while the
node-level (coalesced) heartbeats say the leader's *node* is alive, and ticks it
again as soon as they do not, so a dead leader is still detected within an election
timeout of the node being suspected. The other way round, a member whose node
restarts knows no leader: the host calls ``peer_back`` on its leader's side when it
sees that node (back) up, and the leader heartbeats it at once. A leader with leases
(``read_only_lease_based``) is never quiet: its lease is counted in its own ticks,
and a leader that stopped ticking would believe in a lease its followers no longer
honour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import confchange
from .progress import ProgressState
from .raft import ProposalDropped, Raft, StepLocalMessage, StepPeerNotFound
from .types import (
    EMPTY_SNAPSHOT, LOCAL_MESSAGES, NONE, Config, ConfChange, ConfState, Entry, EntryType,
    Message, MessageType, Ready, Role,
)

MT = MessageType
RESPONSES = frozenset({MT.APP_RESP, MT.VOTE_RESP, MT.PRE_VOTE_RESP, MT.HEARTBEAT_RESP})

__all__ = ["RawNode", "Status", "PeerStatus", "ProposalDropped", "StepLocalMessage",
           "StepPeerNotFound"]


@dataclass(frozen=True)
class PeerStatus:
    match: int
    next: int
    state: ProgressState
    is_learner: bool
    recent_active: bool
    inflight: int = 0     # APPs sent and not acknowledged (replicate state)
    paused: bool = False  # no APP goes out until an answer or a heartbeat


@dataclass(frozen=True)
class Status:
    """What ``quorumkv status`` shows of a group; ``progress`` only on a leader."""
    id: str
    term: int
    vote: str
    commit: int
    applied: int
    leader: str
    role: Role
    config: str
    lead_transferee: str = NONE
    progress: dict[str, PeerStatus] = field(default_factory=dict)


class RawNode:
    def __init__(self, config: Config, storage, rng) -> None:
        self.raft = Raft(config, storage, rng)
        self._prev_soft = self.raft.soft_state()
        self._prev_hard = self.raft.hard_state()
        self._outstanding: Ready | None = None

    # ---- inputs ----------------------------------------------------------------------

    def tick(self) -> None:
        self.raft.tick()

    def step(self, m: Message) -> None:
        """A message from a peer; local message types and responses from
        non-members are refused."""
        if m.type in LOCAL_MESSAGES:
            raise StepLocalMessage(f"{m.type.name} is a local message")
        if m.type in RESPONSES and m.frm not in self.raft.trk.progress:
            raise StepPeerNotFound(f"{m.type.name} from {m.frm!r}, not a member")
        self.raft.step(m)

    def campaign(self) -> None:
        self.raft.step(Message(MT.HUP, frm=self.raft.id))

    def propose(self, data: bytes) -> None:
        """Raises ProposalDropped when not accepted (not the leader: ``.leader``)."""
        self._propose(Entry(0, 0, data))

    def propose_many(self, datas) -> None:
        """Propose several entries in one step: one append and one round of APPs to
        the followers for all of them. All or none are taken (ProposalDropped)."""
        self.raft.step(Message(MT.PROPOSE, frm=self.raft.id,
                               entries=tuple(Entry(0, 0, d) for d in datas)))

    def propose_conf_change(self, cc: ConfChange) -> None:
        self._propose(Entry(0, 0, confchange.encode(cc), EntryType.CONF_CHANGE))

    def _propose(self, entry: Entry) -> None:
        self.raft.step(Message(MT.PROPOSE, frm=self.raft.id, entries=(entry,)))

    def read_index(self, context: bytes) -> None:
        """Ask for a linearizable read named ``context``: a ReadState with it comes
        in a later Ready. Raises ProposalDropped when there is no leader."""
        assert context, "a read needs a non-empty context to be matched"
        self.raft.step(Message(MT.READ_INDEX, frm=self.raft.id, context=context))

    def transfer_leader(self, to: str) -> None:
        self.raft.step(Message(MT.TRANSFER_LEADER, frm=to))

    def peer_back(self, node_id: str) -> None:
        """``node_id``'s node is (back) up (the host's node-level heartbeats): a
        leader sends it a heartbeat now (Raft.peer_back)."""
        self.raft.peer_back(node_id)

    def report_unreachable(self, node_id: str) -> None:
        self.raft.step(Message(MT.UNREACHABLE, frm=node_id))

    def report_snapshot(self, node_id: str, ok: bool) -> None:
        self.raft.step(Message(MT.SNAP_STATUS, frm=node_id, reject=not ok))

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        return self.raft.apply_conf_change(cc)

    # ---- outputs ---------------------------------------------------------------------

    def has_ready(self) -> bool:
        r = self.raft
        log = r.log
        return bool(r.msgs or log.unstable or r.commit_unannounced or r.read_states
                    or r.states_differ(self._prev_soft, self._prev_hard)
                    or log.unstable_snapshot is not None or log.has_next_committed_entries())

    def ready(self) -> Ready:
        assert self._outstanding is None, "ready() before advance() of the last Ready"
        r = self.raft
        r.announce_commit()
        soft, hard = r.soft_state(), r.hard_state()
        entries = tuple(r.log.unstable_entries())
        snapshot = r.log.unstable_snapshot or EMPTY_SNAPSHOT
        new_term_or_vote = hard.term != self._prev_hard.term or hard.vote != self._prev_hard.vote
        rd = Ready(
            soft_state=soft if soft != self._prev_soft else None,
            hard_state=hard if hard != self._prev_hard else None,
            entries=entries,
            snapshot=snapshot,
            committed_entries=tuple(r.log.next_committed_entries(
                r.config.max_committed_size_per_ready)),
            messages=tuple(r.msgs),
            read_states=tuple(r.read_states),
            # a commit index alone may be lost in a crash: it is learnt again
            must_sync=bool(entries) or not snapshot.is_empty() or new_term_or_vote,
            # a leader's messages need nothing of this Ready stored (types.Ready)
            send_before_persist=(r.role == Role.LEADER and not new_term_or_vote
                                 and hard.commit <= r.log.storage.last_index()),
        )
        r.msgs = []
        r.read_states = []
        self._outstanding = rd
        return rd

    def advance(self, rd: Ready) -> None:
        assert rd is self._outstanding, "advance() of a Ready that is not the last one"
        self._outstanding = None
        r = self.raft
        if rd.soft_state is not None:
            self._prev_soft = rd.soft_state
        if rd.hard_state is not None:
            self._prev_hard = rd.hard_state
        if not rd.snapshot.is_empty():
            r.log.stable_snap_to(rd.snapshot.meta.index)
            r.log.applied_to(rd.snapshot.meta.index)  # the host restored its state from it
        if rd.entries:
            last = rd.entries[-1]
            r.log.stable_to(last.index, last.term)
        if rd.committed_entries:
            r.applied_to(rd.committed_entries[-1].index)

    # ---- introspection ---------------------------------------------------------------

    def is_quiet(self) -> bool:
        """Nothing to do: the host may stop ticking (see the module docstring)."""
        r = self.raft
        if (self._outstanding is not None or self.has_ready() or r.read_only.pending()
                or r.pending_reads or r.lead_transferee != NONE
                or r.log.committed != r.log.last_index()
                or r.log.applied != r.log.committed):
            return False
        if r.role == Role.FOLLOWER:
            # not while someone campaigns: the leader may be gone (restarted, or its
            # node came back before anyone noticed it was down)
            return r.lead != NONE and not r.heard_campaign
        if r.role != Role.LEADER or r.config.read_only_lease_based:
            return False  # an election is on; or a lease, which is measured in ticks
        last = r.log.last_index()
        return all(pr.match == last and pr.recent_active for pr in r.trk.progress.values())

    def status(self) -> Status:
        r = self.raft
        progress = {}
        if r.role == Role.LEADER:
            progress = {node_id: PeerStatus(pr.match, pr.next, pr.state, pr.is_learner,
                                            pr.recent_active, len(pr.inflights),
                                            node_id != r.id and pr.is_paused())
                        for node_id, pr in sorted(r.trk.progress.items())}
        return Status(r.id, r.term, r.vote, r.log.committed, r.log.applied, r.lead, r.role,
                      repr(r.trk.config), r.lead_transferee, progress)
