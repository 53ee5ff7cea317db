"""The replicator of a strong keyspace: one command in, the range's reply out.

Any node accepts a command for a strong keyspace. Its keys must all lie in one
range (keys that share a hash tag ``{...}`` do, as in Redis Cluster); that range's
Raft group decides:

* a write is proposed by the group's leader. On the leader it is proposed here; on
  any other node it goes to the leader this node knows (else to a replica) as a
  ``StrongRequest``, and a node that does not lead answers NOT_LEADER naming the
  leader it knows, which is followed (at most ``MAX_HOPS`` times);
* a read (core.strong.commands.is_read_only) takes no log entry: the node waits for
  a ReadIndex (on a follower replica the core asks the leader for it) and then
  reads its own state machine, so it sees every write acknowledged before the read
  began. A node with no replica of the range forwards the read like a write.

A write's proposal is stamped with the leader's clock (expiry is then decided the
same on every replica) and the client's session, if it has one, for exactly-once.
"""

from __future__ import annotations

import asyncio

from ...core import messages as m
from ...core.raft.raft import ProposalDropped
from ...core.raft.types import Role
from ...core.strong import commands as c
from ...core.strong.replies import reply_from_wire, reply_to_wire
from ...errors import (CrossSlotError, ErrorCode, NotLeader, PeerError, RaftTimeout,
                       RangeNotFound, remote_error)
from ..deadlines import Deadlines
from .host import ProposalLost

MAX_HOPS = 3
RETRY_S = 0.05  # a node with no replica of the range asks again this often


class StrongReplicator:
    def __init__(self, node_id: str, keyspace, ranges, host, transport, clock_ms,
                 timeout_s: float) -> None:
        self.node_id = node_id
        self.keyspace = keyspace      # core.placement.Keyspace
        self.ranges = ranges          # core.placement.RangeCache
        self.host = host              # node.raft.host.RaftHost
        self.transport = transport
        self.clock_ms = clock_ms
        self.timeout_s = timeout_s

    # ---- the entry point ---------------------------------------------------------

    async def execute(self, command, client_id: bytes = b"", seq: int = 0):
        """The reply (core.strong.replies) to ``command``."""
        descriptor = self.range_of(c.keys_of(command))
        try:
            # asyncio.timeout, not wait_for: no second task per request (hot path)
            async with asyncio.timeout(self.timeout_s):
                return await self._execute(descriptor, command, client_id, seq)
        except TimeoutError:
            raise RaftTimeout(f"range {descriptor.range_id} of keyspace "
                              f"'{self.keyspace.name}' did not answer within "
                              f"{self.timeout_s * 1000:.0f} ms (no leader or no quorum); "
                              "a write may still apply") from None

    def range_of(self, keys):
        """The one range that holds every key, or CrossSlotError."""
        name = self.keyspace.name
        pkey_of = self.keyspace.placement_key
        first = None
        for key in keys:
            descriptor = self.ranges.lookup(name, pkey_of(key))
            if first is None:
                first = descriptor
            elif descriptor.range_id != first.range_id:
                raise CrossSlotError(
                    "Keys in request don't hash to the same range of keyspace "
                    f"'{name}' (give them one hash tag, e.g. {{user1}}.a and {{user1}}.b)")
        if first is None:  # a command without keys: any range will do
            first = self.ranges.ranges(name)[0]
        return first

    def leader_elsewhere(self, command) -> tuple[int, str] | None:
        """``(range id, leader)`` when this node would forward ``command`` to the
        range's leader it knows of (a write on a follower replica); None when it
        serves it here, or knows no leader (QKV.REDIRECT, api/resp/strong.py)."""
        descriptor = self.range_of(c.keys_of(command))
        group = self.host.groups.get(descriptor.range_id)
        if (group is None or group.role is Role.LEADER or not group.leader
                or c.is_read_only(command)):
            return None
        return descriptor.range_id, group.leader

    async def _execute(self, descriptor, command, client_id: bytes, seq: int):
        """Serve here if this node can, else forward; while the range's group here
        has no leader (an election, a restart), wait for its next change and retry
        (bounded by the caller's deadline)."""
        range_id = descriptor.range_id
        while True:
            group = self.host.groups.get(range_id)
            try:
                if group is not None and not group.leader:
                    raise ProposalDropped("no leader")
                if group is not None and c.is_read_only(command):
                    await self.host.read_index(range_id)
                    return group.machine.read(command, self.clock_ms())
                if group is not None and group.role is Role.LEADER:
                    return await self.propose(range_id, command, client_id, seq)
                return await self._forward(descriptor, command, client_id, seq)
            except ProposalDropped:
                if group is not None:
                    await self.host.changed(range_id)
                else:  # no group here to learn from: try the replicas again soon
                    await asyncio.sleep(RETRY_S)

    def propose(self, range_id: int, command, client_id: bytes, seq: int) -> asyncio.Future:
        """On the leader: a future of the reply, set once the command is applied here."""
        proposal = c.Proposal(command, self.clock_ms(), client_id or None, seq)
        return self.host.propose(range_id, c.encode_proposal(proposal))

    # ---- forwarding --------------------------------------------------------------

    async def _forward(self, descriptor, command, client_id: bytes, seq: int):
        """Send the command to the leader this node knows, else to each other
        replica in turn, following NOT_LEADER redirects; ProposalDropped when no
        one took it (the caller waits and tries again). A write without a session
        whose link fails after sending is not sent elsewhere: the PeerError
        (indeterminate) goes to the client, since the first replica may have
        proposed it; one that was never sent (no connection) goes on."""
        request = m.StrongRequest(descriptor.range_id, descriptor.generation,
                                  c.encode_command(command), client_id, seq)
        queue = self._targets(descriptor)
        tried = set()
        while queue and len(tried) < MAX_HOPS + len(descriptor.replicas):
            target = queue.pop(0)
            tried.add(target)
            try:
                reply = await self._request(target, request)
                if type(reply) is m.ErrorReply:
                    raise remote_error(reply.code, reply.message, tuple(reply.payload))
            except NotLeader as exc:
                if exc.leader and exc.leader not in tried and exc.leader != self.node_id:
                    queue.insert(0, exc.leader)
                continue
            except PeerError as exc:
                if not (exc.unsent or client_id or c.is_read_only(command)):
                    raise  # it may have been proposed there: sent again it could apply twice
                continue  # never sent, or a read, or a session's retry: the next replica
            except RangeNotFound:
                continue  # no group there yet: the next replica
            return reply_from_wire(reply.reply)
        raise ProposalDropped(f"no replica of range {descriptor.range_id} took the request")

    def _targets(self, descriptor) -> list[str]:
        """The replicas to try, the leader this node knows first."""
        others = [r for r in descriptor.replicas if r != self.node_id]
        group = self.host.groups.get(descriptor.range_id)
        if group is not None and group.leader in others:
            others.remove(group.leader)
            others.insert(0, group.leader)
        return others

    async def _request(self, peer: str, request):
        future = self.host.loop().create_future()

        def on_done(reply, error) -> None:
            if not future.done():
                future.set_exception(error) if error else future.set_result(reply)

        req_id = self.transport.send_request(peer, request, on_done)
        try:
            return await future
        finally:
            self.transport.forget(peer, req_id)


class StrongService:
    """Serves ``StrongRequest`` from peers: propose (or read) on the leader, else
    answer NOT_LEADER naming the leader this node knows.

    On callbacks, not a task per request (the forwarded half of every write
    comes through here): the proposal's (or ReadIndex's) future answers the peer
    when it resolves, or its deadline (node/deadlines.py, one loop timer for
    many requests) does after the replicator's timeout."""

    def __init__(self, host, replicators) -> None:
        self.host = host
        self.replicators = replicators  # keyspace name -> StrongReplicator
        self._deadlines: dict[float, Deadlines] = {}  # by timeout, made on the loop

    def on_requests(self, items: list, channel) -> list:
        replies = []
        for req_id, request in items:
            refusal = self._refusal(request)
            if refusal is None:
                refusal = self._start(req_id, request, channel)
            if refusal is not None:
                replies.append((req_id, refusal))
        return replies

    def _refusal(self, request):
        group = self.host.groups.get(request.range_id)
        if group is None:
            return m.ErrorReply(ErrorCode.RANGE_NOT_FOUND,
                                f"range {request.range_id} has no Raft group on this node", [])
        if group.role is not Role.LEADER:
            return m.ErrorReply(ErrorCode.NOT_LEADER,
                                f"not the leader of range {request.range_id}", [group.leader])
        return None

    def _start(self, req_id: int, request, channel):
        """Propose (or ask a ReadIndex for) the request; the error reply if that
        fails at once, else None (the answer is sent when the future resolves)."""
        group = self.host.groups[request.range_id]
        try:
            command = c.decode_command(request.command)
            replicator = self.replicators[group.machine.keyspace_name]
            read_only = c.is_read_only(command)
            if read_only:
                future = self.host.read_index(request.range_id)
            else:
                future = replicator.propose(request.range_id, command, request.client_id,
                                            request.seq)
        except Exception as exc:
            return _error_answer(exc, group)
        answered = False

        def answer(reply) -> None:
            nonlocal answered
            if not answered:
                answered = True
                Deadlines.cancel(deadline)
                channel.send_later([(req_id, reply)])

        def on_done(done) -> None:
            if done.cancelled():
                return answer(m.ErrorReply(ErrorCode.INTERNAL, "the request was cancelled", []))
            error = done.exception()
            if error is not None:
                return answer(_error_answer(error, group))
            try:
                reply = (group.machine.read(command, replicator.clock_ms()) if read_only
                         else done.result())
                answer(m.StrongReply(reply_to_wire(reply)))
            except Exception as exc:  # answer, never leave the peer hanging
                answer(_error_answer(exc, group))

        deadline = self._deadlines_of(replicator.timeout_s).add(answer)
        future.add_done_callback(on_done)
        return None

    def _deadlines_of(self, timeout_s: float) -> Deadlines:
        deadlines = self._deadlines.get(timeout_s)
        if deadlines is None:
            deadlines = self._deadlines[timeout_s] = Deadlines(
                timeout_s, self.host.loop(), _time_out)
        return deadlines


_TIMED_OUT = m.ErrorReply(ErrorCode.INTERNAL, "timed out waiting for the range's Raft group", [])


def _time_out(answer) -> None:
    answer(_TIMED_OUT)


def _error_answer(exc: BaseException, group):
    """A proposal dropped before it entered the log, or whose slot another
    leader's entry took, certainly did not apply: NOT_LEADER, so the forwarding
    node tries the leader it names."""
    if isinstance(exc, (ProposalLost, ProposalDropped)):
        return m.ErrorReply(ErrorCode.NOT_LEADER, str(exc), [group.leader])
    return m.error_reply(exc)
