"""Raft's safety invariants under random schedules (seeded; a failure names its seed).

A few RawNodes over MemoryStorage exchange messages through a network that
reorders, drops and duplicates them, is partitioned and healed, while nodes tick,
propose, compact their logs and restart (losing what a Ready had not persisted).
After every step:

- at most one leader per term (election safety);
- an index applied anywhere is applied everywhere with the same entry (state
  machine safety: applied prefixes are identical across nodes);
- a new leader's log holds every entry applied so far (leader completeness);
- a read's index covers every entry committed anywhere before it was asked
  (ReadIndex reads are linearizable);

and at the end, logs that share an (index, term) agree on everything before it (log
matching), and once the network heals a new proposal is applied by every node
within a bounded number of rounds (the cluster did not wedge).
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core.raft.raft import ProposalDropped, StepPeerNotFound
from quorumkv.core.raft.rawnode import RawNode
from quorumkv.core.raft.storage import MemoryStorage
from quorumkv.core.raft import confchange
from quorumkv.core.raft.types import (
    Config, ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfState,
    Entry, EntryType, MessageType, Role,
)

MAX_STEPS = 2000
HEAL_ROUNDS = 300


class Cluster:
    def __init__(self, seed: int, size: int, pre_vote: bool, check_quorum: bool,
                 membership: bool = False) -> None:
        self.membership = membership
        self.rng = random.Random(seed)
        self.ids = [str(i) for i in range(1, size + 1)]
        self.cs = ConfState(voters=frozenset(self.ids))
        self.options = dict(pre_vote=pre_vote, check_quorum=check_quorum,
                            max_inflight_msgs=4, max_size_per_msg=64,
                            election_ticks=5)
        self.storage = {i: MemoryStorage(self.cs) for i in self.ids}
        self.applied: dict[str, list[Entry]] = {i: [] for i in self.ids}
        self.nodes = {i: self._start(i) for i in self.ids}
        self.net: list = []
        self.cut: set[frozenset] = set()
        self.leaders: dict[int, str] = {}   # term -> the leader of that term
        self.committed: dict[int, Entry] = {}  # index -> the entry applied there
        self.snapshots: dict[bytes, list[Entry]] = {}
        self.proposed = 0
        self.reads: dict[bytes, int] = {}  # ReadIndex context -> commit index when asked

    def _start(self, node_id: str) -> RawNode:
        config = Config(node_id, applied=len(self.applied[node_id]), **self.options)
        return RawNode(config, self.storage[node_id], random.Random(self.rng.random()))

    # ---- the host ----------------------------------------------------------------------

    def process(self, node_id: str) -> None:
        rn = self.nodes[node_id]
        if not rn.has_ready():
            return
        rd = rn.ready()
        storage = self.storage[node_id]
        if not rd.snapshot.is_empty():
            storage.apply_snapshot(rd.snapshot)
            self.applied[node_id] = list(self.snapshots[rd.snapshot.data])
        storage.append(rd.entries)
        if rd.hard_state is not None:
            storage.set_hard_state(rd.hard_state)
        for m in rd.messages:
            if frozenset((m.frm, m.to)) not in self.cut:
                self.net.append(m)
            else:
                self._report_snapshot(m, False)
        for e in rd.committed_entries:
            self._apply(node_id, e)
        for rs in rd.read_states:
            need = self.reads[rs.context]  # (a duplicated answer comes twice)
            assert rs.index >= need, (
                f"read {rs.context!r} at index {rs.index}, but {need} was committed before it")
        rn.advance(rd)
        self.check_leaders()

    def _apply(self, node_id: str, e: Entry) -> None:
        applied = self.applied[node_id]
        assert e.index == len(applied) + 1, f"{node_id} applied {e.index} after {len(applied)}"
        known = self.committed.setdefault(e.index, e)
        assert known == e, f"index {e.index}: {node_id} applied {e}, another node {known}"
        applied.append(e)
        if e.type == EntryType.CONF_CHANGE:
            try:
                cs = self.nodes[node_id].apply_conf_change(confchange.decode(e.data))
                self.storage[node_id].set_conf_state(cs)  # with the applied index
            except confchange.ConfChangeError:
                pass  # refused alike on every replica: a no-op

    def change_membership(self) -> None:
        """The leader proposes a random change: add a learner, promote, demote or
        remove, one at a time or two in a joint config."""
        leader = self._leader()
        if leader is None or not self.membership:
            return
        trk = self.nodes[leader].raft.trk
        changes = []
        for node_id in self.rng.sample(self.ids, self.rng.choice([1, 2])):
            if node_id in trk.config.learners:
                kind = self.rng.choice([ConfChangeType.ADD_NODE, ConfChangeType.REMOVE_NODE])
            elif node_id in trk.voter_ids():
                kind = self.rng.choice([ConfChangeType.ADD_LEARNER, ConfChangeType.REMOVE_NODE])
            else:
                kind = ConfChangeType.ADD_LEARNER
            changes.append(ConfChangeSingle(kind, node_id))
        if len(changes) == 1 and self.rng.random() < 0.5:
            cc = ConfChange(tuple(changes))
        else:
            transition = self.rng.choice(list(ConfChangeTransition))
            cc = ConfChange(tuple(changes), transition)
        if trk.config.voters.is_joint() and self.rng.random() < 0.5:
            cc = ConfChange()  # an explicit joint config is left by an empty change
        try:
            self.nodes[leader].propose_conf_change(cc)
        except ProposalDropped:
            pass

    def deliver(self, i: int) -> None:
        m = self.net.pop(i)
        if frozenset((m.frm, m.to)) in self.cut:
            self._report_snapshot(m, False)
            return
        try:
            self.nodes[m.to].step(m)
        except StepPeerNotFound:
            pass  # a response from a node removed meanwhile: the host drops it
        self._report_snapshot(m, True)
        self.check_leaders()

    def lose(self, i: int) -> None:
        self._report_snapshot(self.net.pop(i), False)

    def _report_snapshot(self, m, ok: bool) -> None:
        """The host tells the sender of a snapshot how its transfer ended."""
        if m.type == MessageType.SNAP:
            self.nodes[m.frm].report_snapshot(m.to, ok)

    def compact(self, node_id: str) -> None:
        applied = self.applied[node_id]
        storage = self.storage[node_id]
        if len(applied) < storage.first_index() or len(applied) > storage.last_index():
            return
        data = f"{node_id}:{len(applied)}".encode()
        self.snapshots[data] = list(applied)
        storage.create_snapshot(len(applied), self.nodes[node_id].raft.trk.conf_state(), data)
        storage.compact(len(applied))

    def restart(self, node_id: str) -> None:
        """A crash: what the last Ready did not persist or send is lost."""
        self.nodes[node_id] = self._start(node_id)

    def read(self, node_id: str) -> None:
        """A ReadIndex request: its index must cover everything committed anywhere
        before it was asked (linearizable reads)."""
        context = f"r{len(self.reads)}-{self.rng.random()}".encode()
        try:
            self.nodes[node_id].read_index(context)
        except ProposalDropped:
            return
        self.reads[context] = max(rn.raft.log.committed for rn in self.nodes.values())

    def propose(self, node_id: str) -> None:
        self.proposed += 1
        try:
            self.nodes[node_id].propose(f"v{self.proposed}".encode())
        except ProposalDropped:
            pass

    # ---- invariants --------------------------------------------------------------------

    def check_leaders(self) -> None:
        for node_id, rn in self.nodes.items():
            r = rn.raft
            if r.role != Role.LEADER:
                continue
            if r.term not in self.leaders:
                self.leaders[r.term] = node_id
                self._check_complete(node_id)  # a newly elected leader has it all
            other = self.leaders[r.term]
            assert other == node_id, f"two leaders in term {r.term}: {other} and {node_id}"

    def _check_complete(self, node_id: str) -> None:
        log = self.nodes[node_id].raft.log
        for index, e in self.committed.items():
            if index >= log.first_index():
                assert log.term_or_zero(index) == e.term, (
                    f"leader {node_id} lacks committed entry {e}")

    def check_log_matching(self) -> None:
        logs = {}
        for node_id, rn in self.nodes.items():
            log = rn.raft.log
            logs[node_id] = {e.index: e for e in log.all_entries()}
        for a in logs.values():
            for b in logs.values():
                common = [i for i in a if i in b and a[i].term == b[i].term]
                if common:
                    top = max(common)
                    for i in range(top, 0, -1):
                        if i in a and i in b:
                            assert a[i] == b[i], f"logs differ at {i} below matching {top}"

    # ---- the schedule ------------------------------------------------------------------

    def random_step(self) -> None:
        rng, ids = self.rng, self.ids
        roll = rng.random()
        node_id = rng.choice(ids)
        if roll < 0.25:
            self.nodes[node_id].tick()
        elif roll < 0.50:
            self.process(node_id)
        elif roll < 0.80 and self.net:
            i = rng.randrange(len(self.net))
            if rng.random() < 0.1:
                self.lose(i)
            elif rng.random() < 0.05:
                self.net.append(self.net[i])  # duplicated
            else:
                self.deliver(i)
        elif roll < 0.89:
            self.propose(self._leader() or node_id)
        elif roll < 0.92:
            self.read(node_id)
        elif roll < 0.93:
            self.change_membership()
        elif roll < 0.965:
            self.compact(node_id)
        elif roll < 0.975:
            self.restart(node_id)
        elif roll < 0.985:
            self._partition()
        else:
            self.cut = set()

    def _leader(self) -> str | None:
        """A node that thinks it leads (most proposals go there, as clients would)."""
        leaders = [i for i, rn in self.nodes.items() if rn.raft.role == Role.LEADER]
        return self.rng.choice(leaders) if leaders else None

    def _partition(self) -> None:
        side = set(self.rng.sample(self.ids, self.rng.randrange(1, len(self.ids))))
        self.cut = {frozenset((a, b)) for a in side for b in self.ids if b not in side}

    def heal_and_settle(self) -> None:
        """No faults: tick, process and deliver until a new proposal is applied by
        everyone (proposed again every few rounds: a stale leader may lose one)."""
        self.cut = set()
        targets: set[bytes] = set()
        for round_ in range(HEAL_ROUNDS):
            for node_id in self.ids:
                self.nodes[node_id].tick()
                self.process(node_id)
            while self.net:
                self.deliver(0)
                for node_id in self.ids:
                    self.process(node_id)
            if round_ % 25 == 24:
                # hosts snapshot now and then; a member added after the leader's last
                # snapshot refuses that one (it is not in its membership)
                for node_id in self.ids:
                    self.compact(node_id)
            leader = self._leader()
            if leader is not None and round_ % 20 == 0:
                self.propose(leader)
                targets.add(f"v{self.proposed}".encode())
            members = self.nodes[leader].raft.trk.progress if leader else self.ids
            if targets and all(targets & {e.data for e in self.applied[i]} for i in members):
                return
        raise AssertionError(f"no progress after healing ({HEAL_ROUNDS} rounds)")


def run(seed: int, size: int, pre_vote: bool, check_quorum: bool,
        membership: bool = False) -> Cluster:
    cluster = Cluster(seed, size, pre_vote, check_quorum, membership)
    for _ in range(MAX_STEPS):
        cluster.random_step()
    cluster.check_log_matching()
    cluster.heal_and_settle()
    cluster.check_log_matching()
    return cluster


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.sampled_from([3, 5]),
       pre_vote=st.booleans(), check_quorum=st.booleans())
def test_safety_under_random_schedules(seed, size, pre_vote, check_quorum):
    run(seed, size, pre_vote, check_quorum)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.sampled_from([3, 5]))
def test_safety_with_membership_changes(seed, size):
    run(seed, size, True, True, membership=True)


def test_a_seed_replays_exactly():
    a, b = run(7, 3, True, True), run(7, 3, True, True)
    assert a.applied == b.applied and a.leaders == b.leaders


def test_the_schedules_do_elect_and_commit():
    """The property is not vacuous: runs elect leaders and apply proposals."""
    cluster = run(11, 5, True, True)
    assert len(cluster.leaders) >= 1
    assert sum(1 for e in cluster.committed.values() if e.data) >= 1
