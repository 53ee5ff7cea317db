"""A coordinated write (and a truncation, which is acknowledged like one).

The write goes to every replica of the key's range: a ``Send`` of the ``Put`` to
each peer that is not down, then this node's own ``LocalWrite`` (after the sends:
the replicas work while this node writes). A peer the failure detector sees as
down is not waited on: it gets a hint at once (``StoreHint``). So does a peer that
could not be reached, and, at the deadline, every peer that has not answered (it
may lack the write). A peer that *refused* the write (an ``ErrorReply``, as for
clock skew) only fails: it would refuse the hint as well.

A hint counts as an acknowledgement once durable if the level is ANY or the
keyspace says so (``core.quorum``). The client is answered once the tracker
decides; an acknowledged write advances the client's session to its timestamp,
held by the replicas that acknowledged it (hints are not replicas holding it).

A replica that answers a typed redirect (``on_redirect``, core/eventual/redirect.py)
with a newer descriptor is sent the write once more, routed by that descriptor;
otherwise, or if that fails too, it has failed (no hint: it would be refused too).

Events: ``start(down)``, ``on_reply``, ``on_failure``, ``on_redirect``,
``on_hint_kept``, ``on_hint_stored``, ``on_timeout(late)``. Each returns the actions (a list, or a
tuple built once) or None.
"""

from __future__ import annotations

from ..messages import PutAck, Truncate as TruncateMessage
from ..quorum import Quorum
from ..version import new_tuple
from .actions import (REPLY_OK, WRITE, LocalTruncate, LocalWrite, OweTruncation, Receipt,
                      Reply, Send, StoreHint)
from .receipts import failed, write_receipt
from .redirect import RETRY, judge

_ACKNOWLEDGED = (REPLY_OK,)  # the common outcome, built once


class Write:
    __slots__ = ("ctx", "tracker", "message", "key", "pkey", "version", "session",
                 "hinted", "retried")

    def __init__(self, ctx, level, replicas: tuple, hints_count: bool, message,
                 key: bytes | None, pkey: bytes | None, version, session=None) -> None:
        self.ctx = ctx
        self.tracker = Quorum(level, replicas, hints_count)
        self.message = message  # the Put every replica gets
        self.key = key
        self.pkey = pkey
        self.version = version
        self.session = session  # the client's core.session.Session, or None
        self.hinted = None  # the list of replicas a hint was kept for, once there is one
        self.retried = None  # the set of replicas sent the write again after a redirect

    def start(self, down) -> list:
        """``down(node)``: the failure detector's verdict."""
        me = self.ctx.me
        actions = []
        local = False
        down_nodes = None
        for node in self.tracker.replicas:
            if node == me:
                local = True
            elif down(node):  # do not wait on it: hinted once the rest is sent
                if down_nodes is None:
                    down_nodes = []
                down_nodes.append(node)
            else:
                actions.append(new_tuple(Send, (node, self.message, WRITE)))
        if local:
            actions.append(self._local())
        if down_nodes is not None:
            for node in down_nodes:
                actions.append(self._hint(node))
        return actions

    def _local(self):
        return new_tuple(LocalWrite, (self.version, WRITE))

    def _hint(self, node: str):
        return new_tuple(StoreHint, (node,))

    def on_reply(self, node: str, purpose: int, reply, now_ms: int = 0) -> list | None:
        if self.tracker.decision is not None:  # a late answer: nothing left to decide
            return None
        if type(reply) is PutAck:
            return self._decided(self.tracker.on_ack(node))
        return self._decided(self.tracker.on_failure(node))  # refused: no hint

    def on_failure(self, node: str, purpose: int, unreachable: bool) -> list | None:
        """No answer from ``node``: ``unreachable`` if the transport gave up on it
        (it may lack the write: hint it), else it failed (this node's storage)."""
        if unreachable and node != self.ctx.me:
            return [self._hint(node)]
        return self._decided(self.tracker.on_failure(node))

    def on_redirect(self, node: str, purpose: int, error, known) -> list | None:
        """``node`` answered a typed redirect (``error``, an errors.RemoteError);
        ``known(range_id)``: this node's cached descriptor of a range."""
        if self.retried is None:
            self.retried = set()
        message = self.message
        verdict, theirs, actions = judge(error, node, message.range_id, message.generation,
                                         known, self.retried, True)
        if self.tracker.decision is not None:  # late: only the cache may gain from it
            return actions or None
        if verdict == RETRY:
            actions.append(Send(node, message._replace(range_id=theirs.range_id,
                                                       generation=theirs.generation), purpose))
            return actions
        actions.extend(self._decided(self.tracker.on_failure(node)) or ())
        return actions or None

    def on_hint_kept(self, node: str, kept: bool) -> list | None:
        """The driver queued the hint (``kept``), or there is no hint to be had
        (no hinted handoff here, or the target's bound is reached)."""
        if kept:
            if self.hinted is None:
                self.hinted = []
            self.hinted.append(node)
            return None
        return self._decided(self.tracker.on_failure(node))

    def on_hint_stored(self, node: str, ok: bool) -> list | None:
        """A kept hint is durable (``ok``) or could not be stored."""
        tracker = self.tracker
        return self._decided(tracker.on_hint(node) if ok else tracker.on_failure(node))

    def on_timeout(self, late: list) -> list | None:
        """The deadline passed with ``late`` still not answered: they may lack the
        write, so each gets a hint."""
        actions = list(self._decided(self.tracker.on_timeout()) or ())
        for node in late:
            actions.append(self._hint(node))
        return actions or None

    def _decided(self, decision):
        """The actions once the tracker decided (a list or tuple), else None."""
        if decision is None:
            return None
        session = self.session
        if session is not None and decision.ok:  # held by the replicas that acked it
            answered = self.tracker.answered
            session.observe(self.version.ts, len(answered - set(self.hinted))
                            if self.hinted else len(answered))
        reply = _ACKNOWLEDGED if decision.ok else (Reply(None, failed(self.ctx, decision)),)
        if session is None or session.receipts is None:
            return reply
        return [Receipt(write_receipt(self, decision)), *reply]


class Truncate(Write):
    """A truncation of a keyspace at ``ts`` (FLUSHDB): sent to every node of the
    keyspace and counted like a write over them; a node that misses it is owed it
    (``OweTruncation``, never dropped)."""

    __slots__ = ("sync",)

    def __init__(self, ctx, level, nodes: tuple, hints_count: bool, keyspace: str,
                 ts: int, sync: bool) -> None:
        super().__init__(ctx, level, nodes, hints_count, TruncateMessage(keyspace, ts, sync),
                         None, None, ts)
        self.sync = sync

    def _local(self):
        return LocalTruncate(self.version, self.sync)

    def on_redirect(self, node: str, purpose: int, error, known) -> list | None:
        """A truncation names no range (it is per keyspace): a refusal."""
        return self._decided(self.tracker.on_failure(node))

    def _hint(self, node: str):
        return OweTruncation(node)


def truncation_nodes(ranges, keyspace: str) -> tuple:
    """Every node that replicates a range of ``keyspace`` (``ranges``: every range
    descriptor): the nodes a truncation goes to."""
    return tuple(sorted({n for r in ranges if r.keyspace == keyspace for n in r.replicas}))
