"""A data-driven runner for Raft scenario scripts (the format of tests/unit/scenarios).

A file is a list of blocks: one command line, ``----``, and the trace the command
gives (up to a blank line); ``#`` lines between blocks are comments. The harness
holds a few RawNodes over MemoryStorage and a network of inboxes; it plays the host:
a Ready is persisted (snapshot, entries, hard state), its messages are queued for
their destination (or dropped by a partition), its committed entries are applied
(conf changes through ``apply_conf_change``) and ``advance`` is called.

Every node's election timeout is exactly ``election`` ticks (the rng the harness
passes always answers the low end), so ``tick-election`` makes a follower campaign.
Whenever a node's role, term or leader changes, a line says so.

Commands (node ids are 1, 2, ...; ``key=value`` options; lists as ``(1,2,3)``):

    add-nodes N voters=(1,2,3) [learners=(4)] [index=I] [pre-vote=false]
              [check-quorum=false] [lease=true] [max-inflight=N] [max-msg-bytes=B]
              [max-uncommitted=B]     N new nodes; with index=I they start from a
                                      snapshot at index I, term 1
    campaign 1                        node 1 campaigns (pre-vote first if on)
    propose 1 foo                     a proposal on node 1
    propose-conf-change 1 v4 l5 r2 [transition=auto|implicit|explicit]
    read-index 1 ctx                  a ReadIndex request named ctx on node 1
    transfer-leader 1 3               node 1 (the leader) hands over to 3
    tick-election 1 | tick-heartbeat 1 | tick 1 [n=3]
    process-ready 1 [2 ...]           handle each node's Ready once
    deliver-msgs 2 [drop=true] [type=APP]   deliver (or drop) what is queued for 2
    stabilize [1 2 ...]               Ready and deliver until nothing moves
    partition 1 | 2 3                 cut every link between the groups
    isolate 1 | heal                  cut 1 from everyone; restore every link
    report-unreachable 1 2            node 1 learns 2 is unreachable
    report-snapshot 1 2 [ok=false]    node 1's snapshot to 2 was sent (or failed)
    compact 1 5                       node 1's storage snapshots and compacts at 5
    restart 3                         node 3 starts again from its storage (what it
                                      has not persisted and its inbox are lost)
    peer-back 1 3                     node 1's host saw node 3's node (back) up
    raft-state | raft-log 1 | status 1 | quiet
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from quorumkv.core.raft import confchange
from quorumkv.core.raft.rawnode import RawNode
from quorumkv.core.raft.raft import ProposalDropped
from quorumkv.core.raft.storage import MemoryStorage
from quorumkv.core.raft.types import (
    NONE, Config, ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType,
    ConfState, Entry, EntryType, Message, MessageType, Snapshot, SnapshotMeta,
)

from .. import datadriven
from ..datadriven import parse, render  # noqa: F401 (the format, for its tests)

MT = MessageType
MAX_ROUNDS = 200  # stabilize gives up (a livelock is a bug) after this many rounds


def run_file(path: Path) -> tuple[str, str]:
    return datadriven.run_file(path, Harness(), empty="ok")


# ---- showing values --------------------------------------------------------------------

def show_ids(ids) -> str:
    return "(" + ",".join(sorted(ids, key=_id_order)) + ")"


def _id_order(node_id: str):
    return (len(node_id), node_id)


def show_conf_state(cs: ConfState) -> str:
    text = f"voters={show_ids(cs.voters)}"
    if cs.voters_outgoing:
        text += f"&&{show_ids(cs.voters_outgoing)}"
    if cs.learners:
        text += f" learners={show_ids(cs.learners)}"
    if cs.learners_next:
        text += f" learners_next={show_ids(cs.learners_next)}"
    if cs.auto_leave:
        text += " autoleave"
    return text


def show_conf_change(cc: ConfChange) -> str:
    if cc.leaves_joint():
        return "leave-joint"
    letters = {ConfChangeType.ADD_NODE: "v", ConfChangeType.ADD_LEARNER: "l",
               ConfChangeType.REMOVE_NODE: "r"}
    text = " ".join(letters[c.type] + c.node_id for c in cc.changes)
    if cc.transition != ConfChangeTransition.AUTO:
        text += f" {cc.transition.name.lower()}"
    return text


def show_entry(e: Entry) -> str:
    if e.type == EntryType.CONF_CHANGE:
        return f"{e.term}/{e.index} CC {show_conf_change(confchange.decode(e.data))}"
    return f"{e.term}/{e.index} {e.data.decode()!r}" if e.data else f"{e.term}/{e.index} ''"


def show_snapshot(s: Snapshot) -> str:
    return f"Index:{s.meta.index} Term:{s.meta.term} {show_conf_state(s.meta.conf_state)}"


def show_message(m: Message) -> str:
    parts = [f"{m.frm}->{m.to} {m.type.name} Term:{m.term}"]
    t = m.type
    if t in (MT.APP, MT.VOTE, MT.PRE_VOTE):
        parts.append(f"Log:{m.log_term}/{m.index}")
    if t in (MT.APP, MT.HEARTBEAT):
        parts.append(f"Commit:{m.commit}")
    if t in (MT.APP_RESP, MT.READ_INDEX_RESP) and not m.reject:
        parts.append(f"Index:{m.index}")
    if m.reject:
        parts.append("Rejected")
        if t == MT.APP_RESP:
            parts.append(f"(Index:{m.index} Hint:{m.reject_hint} LogTerm:{m.log_term})")
    if m.context:
        parts.append(f"Context:{m.context.decode()}")
    if m.entries:
        parts.append("Entries:[" + ", ".join(show_entry(e) for e in m.entries) + "]")
    if m.snapshot is not None:
        parts.append("Snapshot:[" + show_snapshot(m.snapshot) + "]")
    return " ".join(parts)


class LowEnd:
    """An rng that always answers the low end: timeouts are exactly election ticks."""

    def randrange(self, a: int, b: int) -> int:
        return a


# ---- the harness -----------------------------------------------------------------------

class Node:
    def __init__(self, rn: RawNode, storage: MemoryStorage) -> None:
        self.rn = rn
        self.storage = storage
        self.applied: list[Entry] = []
        self.seen = (rn.raft.role, rn.raft.term, rn.raft.lead)


class Harness:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.inbox: dict[str, list[Message]] = {}
        self.cut: set[frozenset[str]] = set()
        self.out: list[str] = []

    def run(self, command: str) -> list[str]:
        words = command.split()
        name, args = words[0], words[1:]
        self.out = []
        handler = getattr(self, "cmd_" + name.replace("-", "_"), None)
        if handler is None:
            raise ValueError(f"unknown command {name!r}")
        positional = [a for a in args if "=" not in a]
        options = dict(a.split("=", 1) for a in args if "=" in a)
        try:
            handler(positional, options)
        except ProposalDropped as e:
            self.out.append(f"dropped: {e}")
        self._note_changes()
        return self.out

    def _note_changes(self) -> None:
        for node_id, node in self.nodes.items():
            r = node.rn.raft
            now = (r.role, r.term, r.lead)
            if now != node.seen:
                node.seen = now
                self.out.append(f"{node_id} is {r.role.value} at term {r.term}"
                                f" (leader {r.lead or '-'})")

    # ---- setting up --------------------------------------------------------------------

    def cmd_add_nodes(self, pos, opts) -> None:
        count = int(pos[0])
        voters = _ids(opts.get("voters", ""))
        learners = _ids(opts.get("learners", ""))
        cs = ConfState(voters=voters, learners=learners)
        for _ in range(count):
            node_id = str(len(self.nodes) + 1)
            storage = MemoryStorage(cs)
            index = int(opts.get("index", 0))
            if index:
                storage.apply_snapshot(Snapshot(SnapshotMeta(index, 1, cs)))
            config = Config(
                id=node_id, pre_vote=opts.get("pre-vote", "true") == "true",
                check_quorum=opts.get("check-quorum", "true") == "true",
                read_only_lease_based=opts.get("lease", "false") == "true",
                max_inflight_msgs=int(opts.get("max-inflight", 256)),
                max_size_per_msg=int(opts.get("max-msg-bytes", 1 << 20)),
                max_uncommitted_entries_size=int(opts.get("max-uncommitted", 0)),
                applied=index)
            rn = RawNode(config, storage, LowEnd())
            self.nodes[node_id] = Node(rn, storage)
            self.inbox[node_id] = []
            self.out.append(f"{self._describe(node_id)} "
                            f"{show_conf_state(rn.raft.trk.conf_state())}")

    # ---- local requests ----------------------------------------------------------------

    def cmd_campaign(self, pos, opts) -> None:
        self._node(pos[0]).rn.campaign()

    def cmd_propose(self, pos, opts) -> None:
        self._node(pos[0]).rn.propose(pos[1].encode())

    def cmd_propose_conf_change(self, pos, opts) -> None:
        types = {"v": ConfChangeType.ADD_NODE, "l": ConfChangeType.ADD_LEARNER,
                 "r": ConfChangeType.REMOVE_NODE}
        changes = tuple(ConfChangeSingle(types[c[0]], c[1:]) for c in pos[1:])
        transition = ConfChangeTransition[opts.get("transition", "auto").upper()]
        self._node(pos[0]).rn.propose_conf_change(ConfChange(changes, transition))

    def cmd_read_index(self, pos, opts) -> None:
        self._node(pos[0]).rn.read_index(pos[1].encode())

    def cmd_transfer_leader(self, pos, opts) -> None:
        self._node(pos[0]).rn.transfer_leader(pos[1])

    def cmd_report_unreachable(self, pos, opts) -> None:
        self._node(pos[0]).rn.report_unreachable(pos[1])

    def cmd_report_snapshot(self, pos, opts) -> None:
        self._node(pos[0]).rn.report_snapshot(pos[1], opts.get("ok", "true") == "true")

    def cmd_peer_back(self, pos, opts) -> None:
        self._node(pos[0]).rn.peer_back(pos[1])

    def cmd_restart(self, pos, opts) -> None:
        node = self._node(pos[0])
        old = node.rn.raft.config
        # the harness persists every Ready before it delivers its messages: the
        # storage holds all the node acknowledged
        rn = RawNode(replace(old, applied=node.rn.raft.log.applied), node.storage, LowEnd())
        self.nodes[pos[0]] = Node(rn, node.storage)
        self.inbox[pos[0]] = []
        self.out.append(f"{self._describe(pos[0])} (leader {rn.raft.lead or '-'})")

    def _describe(self, node_id: str) -> str:
        r = self.nodes[node_id].rn.raft
        return (f"{node_id}: term {r.term} commit {r.log.committed} applied "
                f"{r.log.applied} last {r.log.last_index()}")

    def cmd_tick(self, pos, opts) -> None:
        for _ in range(int(opts.get("n", 1))):
            self._node(pos[0]).rn.tick()
            self._note_changes()

    def cmd_tick_election(self, pos, opts) -> None:
        n = self._node(pos[0]).rn.raft.config.election_ticks
        self.cmd_tick(pos, {"n": n})

    def cmd_tick_heartbeat(self, pos, opts) -> None:
        n = self._node(pos[0]).rn.raft.config.heartbeat_ticks
        self.cmd_tick(pos, {"n": n})

    def cmd_compact(self, pos, opts) -> None:
        node = self._node(pos[0])
        index = int(pos[1])
        cs = node.rn.raft.trk.conf_state()
        node.storage.create_snapshot(index, cs, b"")
        node.storage.compact(index)

    # ---- the host's loop ---------------------------------------------------------------

    def cmd_process_ready(self, pos, opts) -> None:
        for node_id in pos:
            self._process_ready(node_id)

    def _process_ready(self, node_id: str) -> bool:
        node = self.nodes[node_id]
        if not node.rn.has_ready():
            return False
        rd = node.rn.ready()
        self.out.append(f"> {node_id} handling Ready")
        self.out.extend("  " + line for line in collapse(_show_ready(rd)))
        if not rd.snapshot.is_empty():
            node.storage.apply_snapshot(rd.snapshot)
        node.storage.append(rd.entries)
        if rd.hard_state is not None:
            node.storage.set_hard_state(rd.hard_state)
        dropped = [m for m in rd.messages if not self._send(m)]
        self.out.extend(collapse(f"  dropped: {show_message(m)}" for m in dropped))
        for e in rd.committed_entries:
            self._apply(node_id, node, e)
        node.rn.advance(rd)
        self._note_changes()
        return True

    def _apply(self, node_id: str, node: Node, e: Entry) -> None:
        node.applied.append(e)
        if e.type == EntryType.CONF_CHANGE:
            cs = node.rn.apply_conf_change(confchange.decode(e.data))
            node.storage.set_conf_state(cs)
            self.out.append(f"  {node_id} applied {e.term}/{e.index}: {show_conf_state(cs)}")

    def _send(self, m: Message) -> bool:
        """Queue ``m`` for its destination; False if a partition drops it."""
        if frozenset((m.frm, m.to)) in self.cut:
            return False
        self.inbox[m.to].append(m)
        return True

    def cmd_deliver_msgs(self, pos, opts) -> None:
        for node_id in pos:
            self._deliver(node_id, opts.get("drop") == "true", opts.get("type"))

    def _deliver(self, node_id: str, drop: bool = False, only: str | None = None) -> bool:
        msgs = [m for m in self.inbox[node_id] if only is None or m.type.name == only]
        if not msgs:
            return False
        self.inbox[node_id] = [m for m in self.inbox[node_id] if m not in msgs]
        self.out.append(f"> {node_id} {'dropping' if drop else 'receiving'} messages")
        start = len(self.out)
        for m in msgs:
            self.out.append("  " + show_message(m))
            if not drop and frozenset((m.frm, m.to)) not in self.cut:
                self.nodes[node_id].rn.step(m)
                self._note_changes()
        self.out[start:] = collapse_runs(self.out[start:])
        return True

    def cmd_stabilize(self, pos, opts) -> None:
        ids = pos or list(self.nodes)
        for _ in range(MAX_ROUNDS):
            moved = False
            for node_id in ids:
                moved |= self._process_ready(node_id)
            for node_id in ids:
                moved |= self._deliver(node_id)
            if not moved:
                return
        raise AssertionError(f"not stable after {MAX_ROUNDS} rounds")

    # ---- the network -------------------------------------------------------------------

    def cmd_partition(self, pos, opts) -> None:
        text = " ".join(pos)
        groups = [g.split() for g in text.split("|")]
        for i, a in enumerate(groups):
            for b in groups[i + 1:]:
                self.cut.update(frozenset((x, y)) for x in a for y in b)

    def cmd_isolate(self, pos, opts) -> None:
        others = [n for n in self.nodes if n != pos[0]]
        self.cmd_partition([pos[0], "|", *others], {})

    def cmd_heal(self, pos, opts) -> None:
        self.cut = set()

    # ---- looking -----------------------------------------------------------------------

    def cmd_raft_state(self, pos, opts) -> None:
        for node_id, node in self.nodes.items():
            r = node.rn.raft
            kind = "voter" if node_id in r.trk.voter_ids() else (
                "learner" if node_id in r.trk.progress else "not a member")
            self.out.append(f"{node_id}: {r.role.value} ({kind}) term {r.term} "
                            f"leader {r.lead or '-'} commit {r.log.committed} "
                            f"applied {r.log.applied} last {r.log.last_index()}")

    def cmd_raft_log(self, pos, opts) -> None:
        storage = self._node(pos[0]).storage
        first, last = storage.first_index(), storage.last_index()
        if first > 1:
            self.out.append(f"(entries up to {first - 1} compacted: snapshot "
                            f"{show_snapshot(storage.snapshot())})")
        if last >= first:
            self.out.extend(show_entry(e) for e in storage.entries(first, last + 1, 1 << 62))
        elif first == 1:
            self.out.append("(empty)")

    def cmd_status(self, pos, opts) -> None:
        s = self._node(pos[0]).rn.status()
        self.out.append(f"{s.id}: {s.role.value} term {s.term} vote {s.vote or '-'} "
                        f"leader {s.leader or '-'} commit {s.commit} applied {s.applied} "
                        f"{s.config}"
                        + (f" transferring to {s.lead_transferee}" if s.lead_transferee else ""))
        for peer, p in s.progress.items():
            extra = (" learner" if p.is_learner else "") + (" paused" if p.paused else "")
            extra += f" inflight {p.inflight}" if p.inflight else ""
            self.out.append(f"  {peer}: {p.state.value} match {p.match} next {p.next}{extra}")

    def cmd_quiet(self, pos, opts) -> None:
        for node_id, node in self.nodes.items():
            self.out.append(f"{node_id}: {'quiet' if node.rn.is_quiet() else 'busy'}")

    def _node(self, node_id: str) -> Node:
        return self.nodes[node_id]


def _ids(text: str) -> frozenset[str]:
    return frozenset(x for x in text.strip("()").split(",") if x)


def collapse(lines) -> list[str]:
    """Repeated lines once each, in order, with their count (ticks repeat heartbeats)."""
    counts: dict[str, int] = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    return [line if n == 1 else f"{line} (x{n})" for line, n in counts.items()]


def collapse_runs(lines) -> list[str]:
    """Runs of one repeated line as one line with the count."""
    out: list[str] = []
    counts: list[int] = []
    for line in lines:
        if out and out[-1] == line:
            counts[-1] += 1
        else:
            out.append(line)
            counts.append(1)
    return [line if n == 1 else f"{line} (x{n})" for line, n in zip(out, counts)]


def _show_ready(rd) -> list[str]:
    lines = []
    if rd.soft_state is not None:
        lead = rd.soft_state.leader or "-"
        lines.append(f"SoftState: {rd.soft_state.role.value} leader {lead}")
    if rd.hard_state is not None:
        hs = rd.hard_state
        lines.append(f"HardState: term {hs.term} vote {hs.vote or '-'} commit {hs.commit}")
    if rd.entries:
        lines.append("Entries: " + ", ".join(show_entry(e) for e in rd.entries))
    if not rd.snapshot.is_empty():
        lines.append("Snapshot: " + show_snapshot(rd.snapshot))
    if rd.committed_entries:
        lines.append("Committed: " + ", ".join(show_entry(e) for e in rd.committed_entries))
    lines.extend("Message: " + show_message(m) for m in rd.messages)
    lines.extend(f"ReadState: index {rs.index} context {rs.context.decode()}"
                 for rs in rd.read_states)
    return lines


__all__ = ["Harness", "parse", "render", "run_file", "show_message", "NONE"]
