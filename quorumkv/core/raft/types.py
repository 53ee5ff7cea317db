"""The vocabulary of the Raft core: entries, hard state, membership, messages, Ready.

Everything here is an immutable value. The core (``raft.py``, driven through
``rawnode.py``) takes ``Message`` values in and hands ``Ready`` values out; the
multi-Raft host in ``node/`` persists, sends and applies what a ``Ready`` names, in
the order its docstring states. Node ids are the cluster's node id strings; index 0
and term 0 mean "nothing" (the log starts at index 1).

A message's ``type`` decides which fields mean something (as in etcd's raftpb):

    APP            term, log_term + index (the entry before ``entries``), entries, commit
    APP_RESP       index (the last index the follower now matches), or reject with
                   reject_hint (its last index) and log_term (the term there)
    VOTE/PRE_VOTE  term (the candidate's next term for a pre-vote), log_term + index
                   (its last entry), context=b"transfer" when a leader transfer forces it
    *_RESP         term, reject
    HEARTBEAT      term, commit (never beyond the follower's match), context (ReadIndex round)
    HEARTBEAT_RESP term, context (echoed)
    SNAP           term, snapshot
    TIMEOUT_NOW    term: the leader asks the transferee to campaign at once
    READ_INDEX     a follower forwards a ReadIndex request: context is the request id
    READ_INDEX_RESP  index (the read index), context (the request id)

Local messages (never sent on the wire; ``frm``/``to`` may be empty): HUP (campaign),
BEAT (leader: send heartbeats), PROPOSE (entries), UNREACHABLE, SNAP_STATUS (reject
means the snapshot failed), TRANSFER_LEADER (frm = the transferee), CHECK_QUORUM.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

NONE = ""  # no node: no vote, no leader


class EntryType(enum.IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1  # data is an encoded ConfChange (confchange.encode / decode)


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    data: bytes = b""
    type: EntryType = EntryType.NORMAL

    def size(self) -> int:
        """Bytes this entry counts for in flow control and batching."""
        return len(self.data) + 16


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk before any message that depends on it is sent."""
    term: int = 0
    vote: str = NONE
    commit: int = 0


EMPTY_HARD_STATE = HardState()


@dataclass(frozen=True, slots=True)
class ConfState:
    """The membership of a group, as persisted in snapshots and applied conf changes.

    ``voters_outgoing`` is non-empty only in a joint configuration (C_old,new);
    ``learners_next`` are voters of the outgoing config that become learners when
    the joint configuration is left.
    """
    voters: frozenset[str] = frozenset()
    learners: frozenset[str] = frozenset()
    voters_outgoing: frozenset[str] = frozenset()
    learners_next: frozenset[str] = frozenset()
    auto_leave: bool = False


class ConfChangeType(enum.IntEnum):
    ADD_NODE = 0      # add as (or promote to) voter
    ADD_LEARNER = 1   # add as (or demote to) learner
    REMOVE_NODE = 2


class ConfChangeTransition(enum.IntEnum):
    AUTO = 0       # one change: simple; several: joint, left automatically
    IMPLICIT = 1   # joint, left automatically by the leader once committed
    EXPLICIT = 2   # joint, left by an explicit empty ConfChange


@dataclass(frozen=True, slots=True)
class ConfChangeSingle:
    type: ConfChangeType
    node_id: str


@dataclass(frozen=True, slots=True)
class ConfChange:
    """A membership change; an empty ``changes`` leaves a joint configuration."""
    changes: tuple[ConfChangeSingle, ...] = ()
    transition: ConfChangeTransition = ConfChangeTransition.AUTO
    context: bytes = b""

    def leaves_joint(self) -> bool:
        return not self.changes

    def uses_joint(self) -> bool:
        return self.transition != ConfChangeTransition.AUTO or len(self.changes) > 1


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    index: int = 0
    term: int = 0
    conf_state: ConfState = ConfState()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state machine as of ``meta.index``; ``data`` is opaque to the core."""
    meta: SnapshotMeta = SnapshotMeta()
    data: bytes = b""

    def is_empty(self) -> bool:
        return self.meta.index == 0


EMPTY_SNAPSHOT = Snapshot()


class MessageType(enum.IntEnum):
    # local
    HUP = 0
    BEAT = 1
    PROPOSE = 2
    UNREACHABLE = 3
    SNAP_STATUS = 4
    CHECK_QUORUM = 5
    TRANSFER_LEADER = 6
    # on the wire
    APP = 10
    APP_RESP = 11
    VOTE = 12
    VOTE_RESP = 13
    PRE_VOTE = 14
    PRE_VOTE_RESP = 15
    SNAP = 16
    HEARTBEAT = 17
    HEARTBEAT_RESP = 18
    TIMEOUT_NOW = 19
    READ_INDEX = 20
    READ_INDEX_RESP = 21


LOCAL_MESSAGES = frozenset({
    MessageType.HUP, MessageType.BEAT, MessageType.PROPOSE, MessageType.UNREACHABLE,
    MessageType.SNAP_STATUS, MessageType.CHECK_QUORUM, MessageType.TRANSFER_LEADER,
})


@dataclass(frozen=True, slots=True)
class Message:
    type: MessageType
    to: str = NONE
    frm: str = NONE
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    context: bytes = b""


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth telling the host about when it changes (not persisted)."""
    leader: str = NONE
    role: Role = Role.FOLLOWER


@dataclass(frozen=True, slots=True)
class ReadState:
    """A ReadIndex request is ready: once applied >= index, a read of the state
    machine is linearizable for the request named ``context``."""
    index: int
    context: bytes


@dataclass(frozen=True, slots=True)
class Ready:
    """What the host must do, in this order, then call ``advance(ready)``:

    1. persist ``snapshot`` (if not empty), then append ``entries`` to the stable
       log (replacing any conflicting suffix) and persist ``hard_state`` (if not
       None) -- for every group in one write batch and one fsync when ``must_sync``;
    2. only then send ``messages`` -- unless ``send_before_persist``: then they may
       go before step 1;
    3. apply ``committed_entries`` in order (they are all durably committed) and
       serve ``read_states`` once the applied index reaches theirs.

    ``send_before_persist`` is True for a leader whose term and vote did not change
    since the last Ready and whose commit index is within its already stable log:
    then its messages (appends, heartbeats) depend on nothing this Ready persists,
    and it writes its log in parallel with its followers (Raft thesis 10.2.1). Its
    own new entries count towards a commit at once; a commit that needs them reaches
    peers and the state machine only after this Ready's step 1 (in a later Ready,
    or a group whose only voter is the leader: not before the persist).

    ``soft_state`` is None when it did not change since the last Ready.
    """
    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: tuple[Entry, ...] = ()
    snapshot: Snapshot = EMPTY_SNAPSHOT
    committed_entries: tuple[Entry, ...] = ()
    messages: tuple[Message, ...] = ()
    read_states: tuple[ReadState, ...] = ()
    must_sync: bool = False
    send_before_persist: bool = False

    def is_empty(self) -> bool:
        return (self.soft_state is None and self.hard_state is None and not self.entries
                and self.snapshot.is_empty() and not self.committed_entries
                and not self.messages and not self.read_states)


@dataclass(frozen=True, slots=True)
class Config:
    """Settings of one Raft group; ticks are the host's unit of time."""
    id: str
    election_ticks: int = 10        # a follower campaigns after a random timeout in
                                    # [election_ticks, 2 * election_ticks)
    heartbeat_ticks: int = 1
    max_size_per_msg: int = 1 << 20  # bytes of entries in one APP
    max_inflight_msgs: int = 256     # APPs in flight to one follower (replicate state)
    max_committed_size_per_ready: int = 4 << 20
    max_uncommitted_entries_size: int = 0  # 0: unlimited; else proposals beyond it drop
    pre_vote: bool = True
    check_quorum: bool = True
    read_only_lease_based: bool = False  # leases: off by default, see docs/consistency.md
    applied: int = 0                 # the state machine's applied index at restart


class LogStorage(Protocol):
    """The stable log a group reads (the host writes it, following each Ready).

    Implemented in memory by ``core/raft/storage.py`` (tests, scenarios) and over the
    engine by ``storage/raftlog.py`` (nodes and the simulation). Indexes below
    ``first_index()`` are compacted into the snapshot; ``term(first_index() - 1)`` is
    the snapshot's term. Asking for a compacted index raises :class:`Compacted`,
    beyond ``last_index()`` raises :class:`Unavailable`.
    """

    def initial_state(self) -> tuple[HardState, ConfState]: ...
    def entries(self, lo: int, hi: int, max_bytes: int) -> list[Entry]: ...  # [lo, hi), at least one
    def term(self, index: int) -> int: ...
    def first_index(self) -> int: ...
    def last_index(self) -> int: ...
    def snapshot(self) -> Snapshot: ...


class Compacted(Exception):
    """The index asked for is below the log's first index (it is in the snapshot)."""


class Unavailable(Exception):
    """The index asked for is beyond the log's last index."""


class SnapshotTemporarilyUnavailable(Exception):
    """The host cannot produce a snapshot now; the leader retries later."""
