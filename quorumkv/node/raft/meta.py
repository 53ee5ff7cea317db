"""The cluster metadata group on this node: Raft group 0 and what follows from it.

How this works. Group ``keys.METADATA_GROUP_ID`` (0) replicates core.meta's
commands. Its voters are the first ``meta_voter_count`` nodes of the bootstrap
list sorted by node id (3, or 5 once the cluster has 5 nodes); every other node
of the list is a Raft learner of it, so every node holds the log and applies it
to its own :class:`~quorumkv.core.meta.MetaState`. Learners never vote, so a
large cluster keeps a small metadata quorum.

* :class:`MetaStateMachine` is the group's machine for the host (machine.py's
  interface). Its state is stored whole, as ``[applied index, MetaState.to_plain()]``
  in msgpack under one system key of group 0 (``keys.applied_index_key(0)``: range
  ids start at 1, so that slot is the metadata group's), written in the batch of
  every turn that applied entries: a restart reloads it and replays nothing.
* :class:`MetaFollower` keeps the node's routing in step with the state: after
  a turn that applied metadata, it adds the keyspaces the range cache lacks (with
  Raft groups and a replicator for a strong one) and drops the ones the state no
  longer has (their data: one range delete per keyspace span; their groups'
  logs: destroyed). It runs between host turns (``RaftHost.defer``), when no
  log batch is in flight.
* :class:`MetaService` is the one way a front end changes the metadata:
  :meth:`MetaService.submit` proposes a command on the group's leader (forwarded
  as a ``MetaRequest`` when this node does not lead) and returns the
  :class:`~quorumkv.core.meta.Result`; reads (:meth:`MetaService.read_state`)
  wait for a ReadIndex of group 0 first, so a keyspace created through any node
  is listed by every node once the create returned.
* The bootstrap: the first leader of group 0 proposes the static node list and
  the keyspaces of ``cluster.toml`` (core.meta.bootstrap_from_config) while the
  state is empty; a second Bootstrap (two leaders in turn) is refused by the
  state and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging

import msgpack

from ...core import keys
from ...core import messages as m
from ...core.meta import DecodeError, MetaState, Result, decode, encode, runtime_keyspace
from ...core.meta.commands import JOINING, LEFT, UP, SetNodeState
from ...core.placement.descriptor import RangeDescriptor
from ...core.raft.raft import ProposalDropped
from ...core.raft.rawnode import RawNode
from ...core.raft.types import (ConfChange, ConfChangeSingle, ConfChangeType, ConfState,
                                Role)
from ...core.strong import record
from ...errors import NotLeader, PeerError, RaftTimeout, remote_error
from .groups import _open, _rawnode, raft_config
from .host import Group, ProposalLost
from .strong import StrongReplicator

log = logging.getLogger("quorumkv.meta")

META_GROUP = keys.METADATA_GROUP_ID
META_STATE_KEY = keys.applied_index_key(META_GROUP)
STRONG = "strong"
RETRY_S = 0.05  # no leader known yet: ask again this often (bounded by the deadline)


def meta_voters(node_ids) -> tuple[list[str], list[str]]:
    """``(voters, learners)`` of the metadata group: the first 3 node ids in
    sorted order (5 from 5 nodes on), the others learners."""
    ids = sorted(node_ids)
    count = 5 if len(ids) >= 5 else min(3, len(ids))
    return ids[:count], ids[count:]


# ---- results on the wire ---------------------------------------------------------------

def result_to_plain(result: Result) -> list:
    value = result.value
    if type(value) is RangeDescriptor:
        value = value.to_plain()
    return [result.ok, result.error, value]


def result_from_plain(plain) -> Result:
    ok, error, value = plain
    return Result(bool(ok), error, value)


class Applied:
    __slots__ = ("reply", "writes")

    def __init__(self, reply, writes=()) -> None:
        self.reply = reply
        self.writes = writes


# ---- the state machine -------------------------------------------------------------------

class MetaStateMachine:
    """Group 0's machine: core.meta.MetaState, stored whole under META_STATE_KEY."""

    def __init__(self, engine, on_applied=lambda: None) -> None:
        self.engine = engine
        self.on_applied = on_applied
        self.state, self._applied = load_state(engine)

    def applied_index(self) -> int:
        return self._applied

    def reader(self):
        return None

    def apply(self, index: int, data: bytes, reader) -> Applied:
        try:
            result = self.state.apply(index, decode(data))
        except DecodeError as exc:  # a corrupt entry is refused, the log goes on
            result = Result(False, str(exc))
        self.on_applied()
        return Applied(result_to_plain(result))

    def applied_record(self, index: int) -> tuple[bytes, bytes]:
        self._applied = index
        return META_STATE_KEY, _packed(index, self.state)

    def conf_changed(self, conf_state) -> None:
        self.on_applied()  # the membership follows the group's conf: look again

    def snapshot_data(self) -> bytes:
        """The stored record itself: between turns (when the host asks) ``_applied``
        is the group's applied index, so a node restarted after installing the
        snapshot starts from that index."""
        return _packed(self._applied, self.state)

    def restore(self, data: bytes, batch) -> None:
        applied, plain = msgpack.unpackb(data, raw=False)
        self.state = MetaState.from_plain(plain)
        self._applied = applied
        batch.put(META_STATE_KEY, bytes(data))
        self.on_applied()


def _packed(index: int, state: MetaState) -> bytes:
    return msgpack.packb([index, state.to_plain()], use_bin_type=True)


def load_state(engine) -> tuple[MetaState, int]:
    """The stored metadata state and the group's applied index (empty: 0)."""
    raw = engine.get(META_STATE_KEY)
    if raw is None:
        return MetaState(), 0
    applied, plain = msgpack.unpackb(raw, raw=False)
    return MetaState.from_plain(plain), applied


# ---- following: the node's range cache, groups and replicators ---------------------------

class MetaFollower:
    """Brings the node's range cache, Raft groups and strong replicators in step
    with the metadata state (see the module docstring)."""

    def __init__(self, node_id, ranges, host, store, replicators, settings, transport,
                 clock_ms, rng, heartbeats=None) -> None:
        self.node_id = node_id
        self.heartbeats = heartbeats
        self.ranges = ranges
        self.host = host
        self.store = store
        self.replicators = replicators
        self.settings = settings
        self.transport = transport
        self.clock_ms = clock_ms
        self.rng = rng
        self.on_drop: list = []  # callables of a dropped keyspace's name (KV's caches)
        self.machine: MetaStateMachine | None = None
        self.service = None  # the node's MetaService (build_meta)
        self._pending = False

    def changed(self) -> None:
        """The state applied something: refresh once, after this host turn."""
        if not self._pending:
            self._pending = True
            self.host.defer(self.refresh)

    def refresh(self) -> None:
        self._pending = False
        gone, new = differences(self.ranges, self.machine.state)
        for name in gone:
            self.drop(name)
        for ks, descriptors in new:
            self.add(ks, descriptors)
        self.ranges.refresh(self.machine.state.descriptors())  # newer generations only
        self.sync_peers(self.machine.state)
        self.reconcile_members(self.machine.state)
        if self.service is not None:
            self.service.mark_up_if_joining()

    def sync_peers(self, state: MetaState) -> None:
        """The transport and the heartbeats talk to every node of the metadata that
        has not left (a node that joined), and to none that left."""
        known = self.transport.peers()
        for node in state.nodes():
            node_id = node.node_id
            if node_id == self.node_id:
                continue
            if node.state == LEFT:
                if node_id in known:
                    self.transport.remove_peer(node_id)
                    if self.heartbeats is not None:
                        self.heartbeats.remove_peer(node_id)
                    log.info("node %s left the cluster: no longer a peer", node_id)
                continue
            # a known peer keeps its link: a node's peer address never changes in
            # the metadata (a bootstrap node's is the layout's; a joined one's, its own)
            host, _, port = node.info.peer.rpartition(":")
            if node_id not in known:
                self.transport.add_peer(node_id, host, int(port))
                if self.heartbeats is not None:
                    self.heartbeats.add_peer(node_id)
                log.info("node %s (%s) is a peer now", node_id, node.info.peer)

    def reconcile_members(self, state: MetaState) -> None:
        """On the metadata group's leader: every node of the metadata is in the
        group (a node that joined becomes a learner, so it gets the log), and a
        node that left is not; one change at a time, none while one is pending."""
        group = self.host.groups.get(META_GROUP)
        if group is None or group.role is not Role.LEADER or not state.bootstrapped:
            return
        raft = group.node.raft
        cs = raft.trk.conf_state()
        if raft.pending_conf_index > raft.log.applied or cs.voters_outgoing:
            return
        in_conf = cs.voters | cs.learners
        change = None
        for node in sorted(state.nodes(), key=lambda n: n.node_id):
            if node.state != LEFT and node.node_id not in in_conf:
                change = ConfChangeSingle(ConfChangeType.ADD_LEARNER, node.node_id)
                break
            if node.state == LEFT and node.node_id in in_conf and (
                    node.node_id in cs.learners or len(cs.voters) > 1):
                change = ConfChangeSingle(ConfChangeType.REMOVE_NODE, node.node_id)
                break
        if change is not None:
            log.info("metadata group: %s %s", change.type.name.lower(), change.node_id)
            try:
                self.host.propose_conf_change(META_GROUP, ConfChange((change,)))
            except ProposalDropped as exc:  # lost the lead meanwhile: the next one does it
                log.info("metadata group: membership change not proposed: %s", exc)

    def add(self, ks, descriptors) -> None:
        self.ranges.add_keyspace(ks, descriptors)
        log.info("keyspace %s (id %d, %s) added: %d ranges", ks.name, ks.keyspace_id,
                 ks.mode, len(descriptors))
        if ks.mode != STRONG:
            return  # the coordinator and replica serve it through the range cache
        self.replicators[ks.name] = StrongReplicator(
            self.node_id, ks, self.ranges, self.host, self.transport, self.clock_ms,
            self.settings.request_timeout_ms / 1000)
        fresh = []
        for d in descriptors:
            if self.node_id in d.replicas and d.range_id not in self.host.groups:
                fresh += _open(self.host, self.store, self.settings, self.node_id, ks, d,
                               self.rng)
        start_groups(self.host, self.store, self.settings, self.node_id, fresh, self.rng)

    def drop(self, name: str) -> None:
        ks = self.ranges.keyspaces[name]
        descriptors = self.ranges.ranges(name)
        self.ranges.remove_keyspace(name)
        self.replicators.pop(name, None)
        batch = self.store.write_batch()
        batch.delete_range(*keys.keyspace_span(ks.keyspace_id))
        for d in descriptors:
            if d.range_id in self.host.groups or d.range_id in self.store.groups():
                self.host.remove(d.range_id)
                batch.destroy(d.range_id)
                batch.delete_range(*keys.prefix_span(keys.session_prefix(d.range_id)))
                batch.delete(record.applied_index_record(d.range_id, 0)[0])
        self.store.commit(batch, sync=True)
        for callback in self.on_drop:
            callback(name)
        log.info("keyspace %s (id %d) dropped: its data and Raft logs deleted", name,
                 ks.keyspace_id)


def start_groups(host, store, settings, node_id, fresh, rng) -> None:
    """First conf states of new groups, durable before their RawNodes read them
    (as groups.build_raft does at start)."""
    if not fresh:
        return
    batch = store.write_batch()
    for group_id, voters in fresh:
        batch.set_conf_state(group_id, ConfState(voters=frozenset(voters)))
    store.commit(batch, sync=True)
    for group_id, _voters in fresh:
        host.groups[group_id].node = _rawnode(host, store, settings, node_id, group_id, rng)
    host.wake()


def differences(ranges, state: MetaState) -> tuple[list[str], list]:
    """``(names to drop, [(Keyspace, descriptors) to add])`` to bring ``ranges``
    to ``state``. Only a keyspace the state dropped leaves: one declared in
    cluster.toml after the bootstrap is not in the state and stays served as
    before. A keyspace whose name or id the cache already has is not added twice
    (a clash of a cluster.toml keyspace's ids with a created one's is logged)."""
    if not state.bootstrapped:
        return [], []  # before the first transaction, the static map is the truth
    changes = state.changes_since(0)
    live = {r.name for r in state.keyspaces()}
    gone = [name for name, ks in ranges.keyspaces.items()
            if ks.keyspace_id in changes.dropped_keyspaces and name not in live]
    ids = {ks.keyspace_id: name for name, ks in ranges.keyspaces.items() if name not in gone}
    new = []
    for record_ in state.keyspaces():
        if record_.name in ranges.keyspaces:
            continue
        descriptors = state.descriptors(record_.name)
        taken = [d.range_id for d in descriptors if ranges.by_id(d.range_id) is not None]
        if record_.keyspace_id in ids or taken:
            log.error("keyspace %s (id %d, ranges %s) clashes with a keyspace cluster.toml "
                      "declared after the bootstrap: not served", record_.name,
                      record_.keyspace_id, taken)
            continue
        new.append((runtime_keyspace(record_), descriptors))
    return gone, new


def sync_cache(ranges, state: MetaState) -> None:
    """At start, before the Raft groups are built: the static map of
    cluster.toml plus the keyspaces created since, minus the ones dropped."""
    gone, new = differences(ranges, state)
    for name in gone:
        ranges.remove_keyspace(name)
    for ks, descriptors in new:
        ranges.add_keyspace(ks, descriptors)
    ranges.refresh(state.descriptors())


def open_meta_group(host, store, settings, node_id, node_ids, machine, rng) -> None:
    """Add group 0 to the host: from its stored log, or (first start) from the
    voters and learners of :func:`meta_voters`."""
    group = Group(META_GROUP, None, store.group(META_GROUP), machine,
                  applied=machine.applied_index())
    if META_GROUP not in store.groups():
        voters, learners = meta_voters(node_ids)
        batch = store.write_batch()
        batch.set_conf_state(META_GROUP, ConfState(voters=frozenset(voters),
                                                   learners=frozenset(learners)))
        store.commit(batch, sync=True)
        group.log = store.group(META_GROUP)
    group.node = RawNode(raft_config(settings, node_id, group.applied), group.log, rng)
    host.add(group)


# ---- the front ends' entry point -----------------------------------------------------------

class MetaService:
    """Propose metadata commands on the leader; serve ``MetaRequest`` from peers."""

    def __init__(self, node_id, host, machine, transport, bootstrap, timeout_s) -> None:
        self.node_id = node_id
        self.host = host
        self.machine = machine
        self.transport = transport
        self.bootstrap = bootstrap  # core.meta.Bootstrap: the first transaction
        self.timeout_s = timeout_s
        self._marking = False  # a SetNodeState(up) of this node is in flight
        transport.handle(m.MetaRequest, self.on_requests)

    @property
    def state(self) -> MetaState:
        return self.machine.state

    async def submit(self, command) -> Result:
        """Apply ``command`` through the metadata group; the Result once this node
        has applied it too (so its own reads and routing see it)."""
        try:
            return await asyncio.wait_for(self._submit_when_bootstrapped(encode(command)),
                                          self.timeout_s)
        except asyncio.TimeoutError:
            raise RaftTimeout(f"the metadata group did not answer within "
                              f"{self.timeout_s * 1000:.0f} ms (no leader or no quorum); "
                              "the change may still apply") from None

    async def _submit_when_bootstrapped(self, data: bytes) -> Result:
        await self._bootstrapped()
        return await self._submit(data)

    async def _bootstrapped(self) -> None:
        """Return once this node has applied the bootstrap (a just-started cluster
        elects its metadata leader first; the caller's deadline bounds the wait)."""
        while not self.state.bootstrapped:
            await self._read_index()
            if not self.state.bootstrapped:
                await asyncio.sleep(RETRY_S)

    async def _submit(self, data: bytes) -> Result:
        while True:
            group = self.host.groups[META_GROUP]
            try:
                if group.role is Role.LEADER:
                    return result_from_plain(await self.host.propose(META_GROUP, data))
                if not group.leader:
                    raise ProposalDropped("no leader")
                result = await self._forward(group.leader, data)
                await self.host.read_index(META_GROUP)  # applied here as well
                return result
            except (ProposalDropped, ProposalLost, NotLeader, PeerError):
                await _changed_or_retry(self.host)

    async def _forward(self, peer: str, data: bytes) -> Result:
        reply = await self.transport.request(peer, m.MetaRequest(data))
        if type(reply) is m.ErrorReply:
            raise remote_error(reply.code, reply.message, tuple(reply.payload))
        return result_from_plain(msgpack.unpackb(reply.result, raw=False))

    async def read_state(self) -> MetaState:
        """The state, once this node has applied everything committed now."""
        try:
            await asyncio.wait_for(self._read_bootstrapped(), self.timeout_s)
        except asyncio.TimeoutError:
            raise RaftTimeout(f"the metadata group did not answer within "
                              f"{self.timeout_s * 1000:.0f} ms (no leader or no quorum)"
                              ) from None
        return self.state

    async def _read_bootstrapped(self) -> None:
        await self._bootstrapped()
        await self._read_index()

    async def _read_index(self) -> None:
        while True:
            try:
                group = self.host.groups[META_GROUP]
                if not group.leader:
                    raise ProposalDropped("no leader")
                return await self.host.read_index(META_GROUP)
            except (ProposalDropped, ProposalLost):
                await _changed_or_retry(self.host)

    def on_requests(self, items: list, channel) -> list:
        replies = []
        group = self.host.groups[META_GROUP]
        for req_id, request in items:
            if group.role is not Role.LEADER:
                replies.append((req_id, m.ErrorReply(m.ErrorCode.NOT_LEADER,
                                                     "not the metadata group's leader",
                                                     [group.leader])))
                continue
            asyncio.get_running_loop().create_task(self._serve(req_id, request, channel))
        return replies

    async def _serve(self, req_id: int, request, channel) -> None:
        try:
            plain = await asyncio.wait_for(self.host.propose(META_GROUP, request.command),
                                           self.timeout_s)
            answer = m.MetaReply(msgpack.packb(plain, use_bin_type=True))
        except (ProposalDropped, ProposalLost) as exc:
            answer = m.ErrorReply(m.ErrorCode.NOT_LEADER, str(exc),
                                  [self.host.groups[META_GROUP].leader])
        except asyncio.TimeoutError:
            answer = m.ErrorReply(m.ErrorCode.INTERNAL, "timed out waiting for the "
                                  "metadata group", [])
        except Exception as exc:  # answer, never leave the peer hanging
            answer = m.error_reply(exc)
        channel.send_later([(req_id, answer)])

    def mark_up_if_joining(self) -> None:
        """A node that joined marks itself up once its own AddNode reached it (it
        follows the metadata): new keyspaces then place ranges on it. Called after
        every metadata apply (MetaFollower.refresh); one attempt at a time."""
        me = self.state.node(self.node_id)
        if me is None or me.state != JOINING or self._marking:
            return
        self._marking = True
        asyncio.get_running_loop().create_task(self._mark_up())

    async def _mark_up(self) -> None:
        try:
            result = await self.submit(SetNodeState(self.node_id, UP))
            log.info("node %s is up in the cluster metadata%s", self.node_id,
                     "" if result.ok else f" ({result.error})")
        except Exception as exc:  # the next metadata apply tries again
            log.info("node %s: marking itself up failed: %s", self.node_id, exc)
        finally:
            self._marking = False

    async def run(self) -> None:
        """Propose the bootstrap while the state is empty; then, on each change of
        group 0's leader, let the follower look again (a new leader reconciles the
        group's membership with the metadata: a join its predecessor had not added).
        Woken by leader changes only, never by a timer."""
        await self.run_bootstrap()
        while True:
            await self.host.changed(META_GROUP)
            if self.host.groups[META_GROUP].role is Role.LEADER:
                self.follower.changed()

    async def run_bootstrap(self) -> None:
        """While the state is empty: propose the bootstrap on becoming leader."""
        while not self.state.bootstrapped:
            group = self.host.groups[META_GROUP]
            if group.role is not Role.LEADER:
                await self.host.changed(META_GROUP)
                continue
            try:
                result = result_from_plain(
                    await self.host.propose(META_GROUP, encode(self.bootstrap)))
                log.info("metadata bootstrap: %s", "applied" if result.ok else result.error)
            except (ProposalDropped, ProposalLost) as exc:
                log.info("metadata bootstrap proposal lost (%s); trying again", exc)
                await _changed_or_retry(self.host)


async def _changed_or_retry(host) -> None:
    """Wait for group 0's next leader change, at most RETRY_S x 10."""
    try:
        await asyncio.wait_for(host.changed(META_GROUP), RETRY_S * 10)
    except asyncio.TimeoutError:
        pass


def build_meta(settings, node_id, node_ids, ranges, host, replicators, machine, transport,
               clock_ms, rng, bootstrap, heartbeats=None) -> MetaService:
    """Group 0 on ``host``, its follower and its service (node/assembly.py).
    ``node_ids``: the bootstrap list, which group 0's first conf state is made of
    (on a node that joined too: it replays the conf changes from there)."""
    follower = MetaFollower(node_id, ranges, host, host.store, replicators, settings,
                            transport, clock_ms, rng, heartbeats)
    follower.machine = machine
    machine.on_applied = follower.changed
    open_meta_group(host, host.store, settings, node_id, node_ids, machine, rng)
    service = MetaService(node_id, host, machine, transport, bootstrap,
                          settings.request_timeout_ms / 1000)
    service.follower = follower
    follower.service = service
    return service
