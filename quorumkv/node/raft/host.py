"""The multi-Raft host: every Raft group of this node, driven by one loop.

A node holds one Raft group per range of a strong keyspace it replicates (and the
metadata group, if it is a metadata voter). The protocol of each group is a pure
``RawNode`` (core/raft/); this host is its only driver, and does what a ``Ready``
asks in the order ``core.raft.types.Ready`` states, for all groups at once:

    one loop turn
      1. collect the Ready of every group that has one;
      2. apply the committed entries an earlier turn made durable here, and send
         the messages of the leaders (``Ready.send_before_persist``): neither
         depends on what this turn persists;
      3. persist them all -- log entries, hard states, snapshots -- in ONE write
         batch with ONE fsync (off the event loop), before anything else is sent;
      4. send the other groups' messages: per destination node one ``RaftBatch``,
         and the heartbeats of all groups to that node as one ``NodeHeartbeat``;
      5. apply the remaining committed entries (each group's state machine returns
         the engine writes, which go in one more batch with each group's applied
         index: no fsync needed, the log is durable and replays);
      6. answer the proposals and ReadIndex reads this node is waiting on;
      7. advance every group.

So a leader's fsync and its followers' run at the same time, and an entry's reply
waits for one fsync on each side, not two in a row.

Inputs -- peer messages, client proposals, reads, ticks -- are stepped into the
groups as they arrive, also while a turn is waiting for its fsync (a RawNode takes
steps between ``ready()`` and ``advance()``); each sets ``_wake`` so the next turn
picks them up. So while one fsync runs, the proposals of every client pile up and
the next turn persists and replicates them together: batching comes from the
fsync's own latency.

Proposals carry an envelope ``[origin node, request id, command]`` so that the node
that proposed learns, when the entry is applied (on it, whatever its role by
then), which waiting request it answers. A waiter whose log index is applied with
another entry was overwritten by a new leader: it certainly did not apply, and is
refused with a retryable error.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import msgpack

from ...storage.engine import StorageError
from ..metrics import RaftMetrics
from ...core.raft.codec import (NodeHeartbeat, NodeHeartbeatResp, RaftBatch,
                                batch_by_destination, collapse_heartbeats,
                                expand_heartbeat)
from ...core.raft import confchange
from ...core.raft.raft import ProposalDropped
from ...core.raft.types import (EntryType, Message, MessageType, Ready, Role, Snapshot,
                                SnapshotMeta)

log = logging.getLogger("quorumkv.raft")


COMPACT_AFTER = 10_000  # applied entries kept in a group's log before it is compacted
KEEP_ENTRIES = 1_000    # of which the newest stay, for followers a little behind
MAX_PROPOSALS_PER_STEP = 256  # entries appended (and sent) together at most


class ProposalLost(Exception):
    """The proposal's log slot was taken by another leader's entry: it was not
    applied and may be retried."""


@dataclass
class Waiter:
    index: int
    future: asyncio.Future


@dataclass(eq=False)
class Group:
    """One Raft group on this node: its protocol, its log and its state machine.

    ``machine`` applies committed commands: ``apply(index, command, reader)``
    returns an object with ``reply`` and ``writes`` (engine ``(key, value or None)``
    pairs); ``applied_record(index)`` is the ``(key, value)`` that stores the
    applied index with them.
    """
    group_id: int
    node: object               # core.raft.rawnode.RawNode
    log: object                # storage.raftlog.GroupLog
    machine: object
    applied: int = 0
    leader: str = ""
    role: Role = Role.FOLLOWER
    waiters: dict = field(default_factory=dict)     # request id -> Waiter
    proposals: list = field(default_factory=list)   # (request id, data, future) to step
    reads: dict = field(default_factory=dict)       # read context -> future
    ready_reads: list = field(default_factory=list)  # (index, context) waiting on apply
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # leader or role


class RaftHost:
    def __init__(self, node_id: str, store, engine, transport, monotonic_s,
                 metrics: RaftMetrics | None = None) -> None:
        self.node_id = node_id
        self.store = store          # storage.raftlog.RaftLogStore
        self.engine = engine        # the plain engine the state machines write
        self.transport = transport
        self.monotonic_s = monotonic_s
        self.groups: dict[int, Group] = {}
        self._wake = asyncio.Event()
        self._next_request = 1
        self._deferred: list = []   # callables run after a turn, no log batch in flight
        self.turns = 0              # loop turns that persisted something (metrics)
        self._proposing: set = set()  # groups with proposals not yet stepped in
        self.metrics = metrics if metrics is not None else RaftMetrics()
        self.metrics.host = self    # its gauges read the groups when scraped
        self._loop = None           # the running loop, once known (loop())
        transport.handle(RaftBatch, self._on_batch)
        transport.handle(NodeHeartbeat, self._on_heartbeat)
        transport.handle(NodeHeartbeatResp, self._on_heartbeat)

    # ---- groups ----------------------------------------------------------------

    def add(self, group: Group) -> None:
        assert group.group_id not in self.groups, f"group {group.group_id} twice"
        self.groups[group.group_id] = group
        group.log.set_snapshot_source(lambda: self._snapshot(group))
        self._wake.set()

    @staticmethod
    def _snapshot(group: Group) -> Snapshot:
        """The group's state machine as of its applied index: between turns (when
        the core asks) the engine holds exactly what was applied."""
        index = group.applied
        meta = SnapshotMeta(index, group.log.term(index), group.node.raft.trk.conf_state())
        return Snapshot(meta, group.machine.snapshot_data())

    def defer(self, job) -> None:
        """Run ``job()`` at the end of this (or the next) turn, when no log batch
        is in flight: it may commit a batch of its own (node/raft/meta.py)."""
        self._deferred.append(job)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def loop(self):
        """The running event loop, looked up once: asyncio.get_running_loop()
        costs a system call (getpid) each time, and futures are made per request."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def remove(self, group_id: int) -> None:
        group = self.groups.pop(group_id, None)
        if group is not None:
            _fail_all(group, ProposalLost(f"group {group_id} was removed from this node"))

    # ---- inputs ------------------------------------------------------------------

    def tick(self, leader_alive=None) -> None:
        """One tick of every group's clock. A quiet group (RawNode.is_quiet) is not
        ticked while its leader's node is alive by ``leader_alive(node_id)`` (the
        node-level heartbeats): a quiet leader sends no heartbeats, so its followers
        must not count those ticks towards an election."""
        for group in self.groups.values():
            node = group.node
            if leader_alive is not None and node.is_quiet():
                leader = node.raft.lead
                if leader == self.node_id or (leader and leader_alive(leader)):
                    continue
            node.tick()
        self._wake.set()

    def peer_back(self, node_id: str) -> None:
        """``node_id``'s node is (back) up (node/heartbeat.py ``on_back``): every
        group led here that it is a member of heartbeats it now, so a restarted
        node learns its leaders within a ping rather than an election timeout."""
        for group in self.groups.values():
            group.node.peer_back(node_id)
        self._wake.set()

    async def hand_over(self, alive, timeout_s: float) -> tuple[int, int]:
        """Before a clean stop: every group led here hands its leadership to its
        most caught-up voter whose node is ``alive`` (leader transfer), so the
        others need not wait out an election timeout to elect one. Returns once no
        such group is led here, or after ``timeout_s``: (handed over, led here)."""
        led = [g for g in self.groups.values() if g.role is Role.LEADER]
        moving = []
        for group in led:
            successor = self._successor(group, alive)
            if successor:
                group.node.transfer_leader(successor)
                moving.append(group)
        self._wake.set()
        deadline = self.monotonic_s() + timeout_s
        while True:
            still = [g for g in moving if g.role is Role.LEADER and
                     self.groups.get(g.group_id) is g]
            remaining = deadline - self.monotonic_s()
            if not still or remaining <= 0:
                return len(moving) - len(still), len(led)
            waits = [asyncio.ensure_future(g.changed.wait()) for g in still]
            await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()

    def _successor(self, group: Group, alive) -> str:
        """The voter (not this node) with the longest log among the alive ones."""
        progress = group.node.status().progress
        voters = [(pr.match, peer) for peer, pr in progress.items()
                  if peer != self.node_id and not pr.is_learner and alive(peer)]
        return max(voters)[1] if voters else ""

    def propose(self, group_id: int, command: bytes) -> asyncio.Future:
        """Propose ``command`` in the group. The proposals of one loop turn go into
        the group's log together at the start of the next turn (one append, one
        round of APPs); the future resolves with the state machine's reply once the
        entry is applied here, or fails with ProposalDropped (naming the leader it
        knows) if this node does not lead the group then."""
        group = self.groups[group_id]
        request = self._next_request
        self._next_request += 1
        self.metrics.group(group_id).proposals += 1
        future = self.loop().create_future()
        group.proposals.append((request, msgpack.packb([self.node_id, request, command]),
                                future))
        self._proposing.add(group)
        self._wake.set()
        return future

    def propose_conf_change(self, group_id: int, change) -> None:
        """Propose a membership change (core.raft.types.ConfChange) in the group;
        it applies in log order like any entry. Raises ProposalDropped when this
        node does not lead the group. A change proposed while another is pending
        becomes an empty entry (as in etcd): the caller checks the conf state
        again after it applied (node/raft/meta.py)."""
        self.groups[group_id].node.propose_conf_change(change)
        self._wake.set()

    def _flush_proposals(self) -> None:
        proposing, self._proposing = self._proposing, set()
        for group in proposing:
            pending, group.proposals = group.proposals, []
            for i in range(0, len(pending), MAX_PROPOSALS_PER_STEP):
                _propose_batch(group, pending[i:i + MAX_PROPOSALS_PER_STEP])

    def read_index(self, group_id: int) -> asyncio.Future:
        """A future that resolves (to None) once this node's state machine of the
        group has applied everything committed when the read arrived: a read of it
        then is linearizable."""
        group = self.groups[group_id]
        context = self._next_request.to_bytes(8, "big")
        self._next_request += 1
        group.node.read_index(context)  # may raise ProposalDropped: nothing kept then
        future = self.loop().create_future()
        group.reads[context] = future
        self.metrics.group(group_id).read_requests += 1
        self._wake.set()
        return future

    def _on_batch(self, items: list, channel) -> list:
        for _req_id, batch in items:
            for group_id, messages in batch.groups:
                group = self.groups.get(group_id)
                if group is None:
                    continue  # a range this node does not (yet / any more) hold
                for message in messages:
                    _step(group, message)
        self._wake.set()
        return []

    def _on_heartbeat(self, items: list, channel) -> list:
        for _req_id, heartbeat in items:
            for group_id, message in expand_heartbeat(heartbeat):
                group = self.groups.get(group_id)
                if group is not None:
                    _step(group, message)
        self._wake.set()
        return []

    # ---- the loop ----------------------------------------------------------------

    async def run(self) -> None:
        """The host's loop: a turn whenever there is work (a node background loop)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                try:
                    await self.turn()
                except StorageError:
                    log.exception("raft log write failed: this node's strong ranges stop")
                    raise
                except Exception:  # a bug: log it loudly, keep the other groups going
                    log.exception("raft host turn failed")
        finally:
            for group in self.groups.values():
                _fail_all(group, ProposalLost("the node's Raft host stopped"))

    async def turn(self) -> None:
        if self._proposing:
            self._flush_proposals()
        readies = [(g, g.node.ready()) for g in self.groups.values() if g.node.has_ready()]
        if not readies:
            self._run_deferred()
            return
        durable = self._apply_durable(readies)
        # a leader's appends and heartbeats go out while it writes its own log
        early = [(g, rd) for g, rd in readies if rd.send_before_persist]
        self._send(early)
        await self._persist(readies)
        self._send([(g, rd) for g, rd in readies if not rd.send_before_persist])
        self._apply(readies, durable)
        for group, ready in readies:
            group.node.advance(ready)
            if group.node.has_ready():
                self._wake.set()
        self._run_deferred()

    def _run_deferred(self) -> None:
        jobs, self._deferred = self._deferred, []
        for job in jobs:
            try:
                job()
            except Exception:  # a bug in the job: log it, keep the groups going
                log.exception("deferred raft host job failed")

    async def _persist(self, readies: list[tuple[Group, Ready]]) -> None:
        batch = self.store.write_batch()
        sync = False
        for group, ready in readies:
            gid = group.group_id
            if not ready.snapshot.is_empty():
                group.machine.restore(ready.snapshot.data, batch)
                group.applied = ready.snapshot.meta.index
                batch.apply_snapshot(gid, ready.snapshot.meta)
            if ready.entries:
                batch.append(gid, ready.entries)
            if ready.hard_state is not None:
                batch.set_hard_state(gid, ready.hard_state)
            sync = sync or ready.must_sync
        if batch.groups() or sync:
            self.turns += 1
            if sync:
                syncing = self.monotonic_s()
                await self.store.commit_async(batch)
                self.metrics.fsync.observe(self.monotonic_s() - syncing)
            else:
                self.store.commit(batch, sync=False)

    def _send(self, readies: list[tuple[Group, Ready]]) -> None:
        outgoing = [(g.group_id, m) for g, ready in readies for m in ready.messages]
        if not outgoing:
            return
        beats, rest = collapse_heartbeats(outgoing)
        for heartbeat in beats:
            self._send_one(heartbeat.to, heartbeat)
        for peer, batch in batch_by_destination(rest).items():
            sent = self._send_one(peer, batch)
            for group_id, messages in batch.groups:
                if any(m.type is MessageType.SNAP for m in messages):
                    # the snapshot travels whole in this frame: its transfer ends here
                    self.groups[group_id].node.report_snapshot(peer, sent)

    def _send_one(self, peer: str, message) -> bool:
        try:
            self.transport.send_one_way(peer, message)
            return True
        except Exception as exc:  # unknown or overloaded peer: Raft retries by itself
            log.debug("raft: not sent to %s: %s", peer, exc)
            return False

    def _apply_durable(self, readies: list[tuple[Group, Ready]]) -> dict[int, int]:
        """Before the turn's sync: apply the committed entries that an earlier turn
        already made durable here (below the Ready's new entries; none with a
        snapshot), so their replies do not wait for this turn's sync of new
        entries (etcd applies in parallel with its WAL write the same way). How
        many of each group's committed entries it applied, by group id.

        A crash may then keep this unsynced batch and lose the turn's log batch
        (its hard state's commit index): the applied index can be above the
        stored commit, which core/raft/log.py takes as committed on restart
        (only committed entries are applied)."""
        early = []
        for group, ready in readies:
            committed = ready.committed_entries
            if not committed or not ready.snapshot.is_empty():
                continue
            count = len(committed)
            if ready.entries:  # entries from the first new one on are not durable yet
                count = max(0, min(count, ready.entries[0].index - committed[0].index))
            if count:
                early.append((group, committed[:count]))
        if early:
            self._apply_batch(early)
        return {group.group_id: len(entries) for group, entries in early}

    def _apply(self, readies: list[tuple[Group, Ready]], durable: dict[int, int]) -> None:
        """After the sync: the soft state, the committed entries not applied before
        it, and the reads they make servable."""
        rest = []
        for group, ready in readies:
            if ready.soft_state is not None:
                self._soft_state_changed(group, ready.soft_state)
            entries = ready.committed_entries[durable.get(group.group_id, 0):]
            if entries:
                rest.append((group, entries))
            group.ready_reads.extend((rs.index, rs.context) for rs in ready.read_states)
        if rest:
            self._apply_batch(rest)
        for group, _ready in readies:
            _serve_reads(group)

    def _apply_batch(self, work: list) -> None:
        """Apply ``(group, entries)``; their writes, each group's applied index and
        any new conf state go in one unsynced batch (the entries' log is durable)."""
        started = self.monotonic_s()
        batch = self.store.write_batch()
        for group, entries in work:
            self._apply_entries(group, entries, batch)
            self.metrics.group(group.group_id).commits += len(entries)
            batch.put(*group.machine.applied_record(group.applied))
            self._maybe_compact(group, batch)
        self.store.commit(batch, sync=False)
        self.metrics.apply.observe(self.monotonic_s() - started)

    def _maybe_compact(self, group: Group, batch) -> None:
        """Keep a group's log short: past ``COMPACT_AFTER`` applied entries, drop all
        but the last ``KEEP_ENTRIES`` (a follower further behind gets a snapshot)."""
        first = group.log.first_index()
        if group.applied - first >= COMPACT_AFTER:
            batch.compact(group.group_id, group.applied - KEEP_ENTRIES,
                          group.node.raft.trk.conf_state())

    def _soft_state_changed(self, group: Group, soft) -> None:
        """A new leader or role: wake whoever waits for one, and fail the reads not
        yet confirmed (the old leader's round may never complete; they retry)."""
        if soft.leader and soft.leader != group.leader:
            self.metrics.group(group.group_id).leader_changes += 1
        group.leader, group.role = soft.leader, soft.role
        group.changed.set()
        group.changed = asyncio.Event()
        unconfirmed = {context for _index, context in group.ready_reads}
        for context in [c for c in group.reads if c not in unconfirmed]:
            future = group.reads.pop(context)
            if not future.done():
                future.set_exception(ProposalDropped("the leader changed", soft.leader))

    async def changed(self, group_id: int) -> None:
        """Return at the group's next change of leader or role."""
        await self.groups[group_id].changed.wait()

    def _apply_entries(self, group: Group, entries, batch) -> None:
        reader = group.machine.reader()
        for entry in entries:
            group.applied = entry.index
            if entry.type == EntryType.CONF_CHANGE:
                conf_state = group.node.apply_conf_change(confchange.decode(entry.data))
                batch.set_conf_state(group.group_id, conf_state)
                group.machine.conf_changed(conf_state)
                continue
            if not entry.data:
                continue  # a new leader's empty entry
            origin, request, command = msgpack.unpackb(entry.data)
            applied = group.machine.apply(entry.index, command, reader)
            for key, value in applied.writes:
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
            if origin == self.node_id:
                _answer(group, request, applied.reply)
        _drop_overwritten(group, group.applied)


def _propose_batch(group: Group, batch: list) -> None:
    try:
        group.node.propose_many([data for _request, data, _future in batch])
    except ProposalDropped as exc:
        for _request, _data, future in batch:
            if not future.done():
                future.set_exception(ProposalDropped(str(exc), exc.leader))
        return
    first = group.node.raft.log.last_index() - len(batch) + 1
    for i, (request, _data, future) in enumerate(batch):
        group.waiters[request] = Waiter(first + i, future)


def _step(group: Group, message: Message) -> None:
    try:
        group.node.step(message)
    except Exception as exc:  # a message the core refuses (unknown peer, ...)
        log.debug("raft group %d: refused %s from %s: %s", group.group_id,
                  message.type.name, message.frm, exc)


def _answer(group: Group, request: int, reply) -> None:
    waiter = group.waiters.pop(request, None)
    if waiter is not None and not waiter.future.done():
        waiter.future.set_result(reply)


def _drop_overwritten(group: Group, applied: int) -> None:
    """Waiters at or below the applied index that were not answered: their slot
    holds another leader's entry."""
    lost = [r for r, w in group.waiters.items() if w.index <= applied]
    for request in lost:
        waiter = group.waiters.pop(request)
        if not waiter.future.done():
            waiter.future.set_exception(ProposalLost(
                f"group {group.group_id}: the leader changed before index "
                f"{waiter.index} committed; the request did not apply"))


def _serve_reads(group: Group) -> None:
    if not group.ready_reads:
        return
    still = []
    for index, context in group.ready_reads:
        if index > group.applied:
            still.append((index, context))
            continue
        future = group.reads.pop(context, None)
        if future is not None and not future.done():
            future.set_result(None)
    group.ready_reads = still


def _fail_all(group: Group, error: Exception) -> None:
    for _request, _data, future in group.proposals:
        if not future.done():
            future.set_exception(error)
    group.proposals.clear()
    for waiter in group.waiters.values():
        if not waiter.future.done():
            waiter.future.set_exception(error)
    for future in group.reads.values():
        if not future.done():
            future.set_exception(error)
    group.waiters.clear()
    group.reads.clear()
