"""What a leader knows of each replica's log, and the membership it counts over.

A ``Progress`` is in one of three states, which decide how the leader sends APPs:

    PROBE      the leader does not know where the follower's log ends: it sends one
               APP at a time (``probe_sent`` pauses it) and waits for the answer or
               the next heartbeat; a rejection moves ``next`` back (by the follower's
               hint), an acceptance moves it to REPLICATE
    REPLICATE  the follower is known to match up to ``match``: APPs are pipelined,
               ``next`` moves on optimistically, at most ``max_inflight_msgs`` in
               flight (``Inflights``); a rejection or an unreachable report goes back
               to PROBE
    SNAPSHOT   the entries the follower needs are compacted: a snapshot is on its
               way (``pending_snapshot``); nothing else is sent until it is reported
               (SNAP_STATUS) or the follower acknowledges an index past it

``ProgressTracker`` holds the progress of every member (voters and learners) and
the ``quorum.TrackerConfig``: the commit index, election votes and check-quorum are
counted there, and only over voters (learners never count).
"""

from __future__ import annotations

import enum
from collections import deque

from . import confchange
from .quorum import TrackerConfig, VoteResult
from .types import ConfState


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Inflights:
    """The last index of each APP sent but not acknowledged, oldest first."""

    __slots__ = ("capacity", "_q")

    def __init__(self, capacity: int) -> None:
        assert capacity > 0
        self.capacity = capacity
        self._q: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._q)

    def full(self) -> bool:
        return len(self._q) >= self.capacity

    def add(self, last_index: int) -> None:
        assert not self.full(), "inflights full"
        assert not self._q or last_index > self._q[-1], "inflights out of order"
        self._q.append(last_index)

    def free_le(self, index: int) -> None:
        """The follower acknowledged up to ``index``: those APPs are not in flight."""
        while self._q and self._q[0] <= index:
            self._q.popleft()

    def free_first_one(self) -> None:
        if self._q:
            self._q.popleft()

    def reset(self) -> None:
        self._q.clear()


class Progress:
    __slots__ = ("match", "next", "state", "pending_snapshot", "recent_active",
                 "probe_sent", "is_learner", "inflights")

    def __init__(self, next_index: int, max_inflight: int, is_learner: bool = False) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.pending_snapshot = 0
        self.recent_active = False
        self.probe_sent = False
        self.is_learner = is_learner
        self.inflights = Inflights(max_inflight)

    def __repr__(self) -> str:
        text = f"{self.state.value} match={self.match} next={self.next}"
        if self.is_learner:
            text += " learner"
        if self.state == ProgressState.SNAPSHOT:
            text += f" pending_snapshot={self.pending_snapshot}"
        if self.probe_sent:
            text += " paused"
        if len(self.inflights):
            text += f" inflight={len(self.inflights)}"
        return text

    def _reset_state(self, state: ProgressState) -> None:
        self.probe_sent = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        # after a snapshot, the follower has at least the snapshot's entries
        if self.state == ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def maybe_update(self, index: int) -> bool:
        """The follower acknowledged ``index``; False if that is old news."""
        updated = self.match < index
        if updated:
            self.match = index
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """The follower rejected the APP after ``rejected``; its log may match up to
        ``match_hint``. False if the rejection is stale (an APP we resent since)."""
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1, 1)
        self.probe_sent = False
        return True

    def sent_entries(self, count: int, last_index: int) -> None:
        """An APP carrying ``count`` entries up to ``last_index`` was sent."""
        if self.state == ProgressState.REPLICATE:
            if count:
                self.next = last_index + 1
                self.inflights.add(last_index)
        elif self.state == ProgressState.PROBE:
            self.probe_sent = True
        else:
            raise AssertionError(f"sending entries in state {self.state}")

    def is_paused(self) -> bool:
        if self.state == ProgressState.PROBE:
            return self.probe_sent
        if self.state == ProgressState.REPLICATE:
            return self.inflights.full()
        return True


class ProgressTracker:
    def __init__(self, max_inflight: int) -> None:
        self.max_inflight = max_inflight
        self.config = TrackerConfig()
        self.progress: dict[str, Progress] = {}
        self.votes: dict[str, bool] = {}

    # ---- membership ------------------------------------------------------------------

    def voter_ids(self) -> frozenset[str]:
        return self.config.voters.ids()

    def ids(self) -> list[str]:
        return sorted(self.progress)

    def is_singleton(self) -> bool:
        voters = self.config.voters
        return len(voters.incoming) == 1 and not voters.is_joint()

    def conf_state(self) -> ConfState:
        c = self.config
        return ConfState(voters=frozenset(c.voters.incoming), learners=c.learners,
                         voters_outgoing=frozenset(c.voters.outgoing),
                         learners_next=c.learners_next, auto_leave=c.auto_leave)

    def apply(self, config: TrackerConfig, members: dict[str, bool], last_index: int) -> None:
        """Switch to ``config``; ``members`` maps every member to is_learner: new ones
        start probing at ``last_index + 1``, removed ones are dropped."""
        self.config = config
        for node_id in list(self.progress):
            if node_id not in members:
                del self.progress[node_id]
        for node_id, is_learner in members.items():
            pr = self.progress.get(node_id)
            if pr is None:
                pr = self.progress[node_id] = Progress(last_index + 1, self.max_inflight)
                pr.recent_active = True  # a new member gets a chance before check-quorum
            pr.is_learner = is_learner

    def restore(self, cs: ConfState, last_index: int) -> None:
        """Take the membership a snapshot (or the storage at start) names."""
        config, members = confchange.restore(cs)
        self.progress.clear()
        self.apply(config, members, last_index)

    # ---- counting --------------------------------------------------------------------

    def committed(self) -> int:
        """The highest index a quorum of voters has (joint: a quorum of each side)."""
        return self.config.voters.committed_index(
            {node_id: pr.match for node_id, pr in self.progress.items()})

    def reset_votes(self) -> None:
        self.votes = {}

    def record_vote(self, node_id: str, granted: bool) -> None:
        self.votes.setdefault(node_id, granted)  # only the first answer counts

    def tally_votes(self) -> tuple[int, int, VoteResult]:
        voters = self.voter_ids()
        granted = sum(1 for v, yes in self.votes.items() if yes and v in voters)
        rejected = sum(1 for v, yes in self.votes.items() if not yes and v in voters)
        return granted, rejected, self.config.voters.vote_result(self.votes)

    def quorum_active(self, self_id: str) -> bool:
        """Did a quorum of voters (this node counts as active) talk to us lately?"""
        active = {node_id: (pr.recent_active or node_id == self_id)
                  for node_id, pr in self.progress.items()}
        return self.config.voters.vote_result(active) == VoteResult.WON
