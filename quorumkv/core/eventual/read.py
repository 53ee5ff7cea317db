"""A coordinated read of one key.

How it goes:

1. **Ask.** ``read_order`` sorts the replicas: this node, then live peers with an
   open connection, then the rest. Only as many as the level needs are asked: the
   first a full ``Get`` (this node: its storage), the others a digest (the version
   without its value). The rest are spares: one is asked when an asked replica
   fails, answers unusably, or is slow (``on_slow``: speculative retry).
2. **Answers.** An answer from a clock further ahead than the tolerated skew
   counts as a failure (``core.hlc.beyond_skew``). An answer at or below a
   truncation held here is hidden (it reads as nothing) and that replica is told
   of the truncation. The ``ReadQuorum`` tracker merges the rest.
3. **Decided.** If a digest named a newer write than any full answer, its value
   is fetched from a replica whose digest named it, one after the other
   (``FETCH``). If the client's session is not satisfied by the answers
   (``core.session``), the spares are asked too (``REST``), and the read fails
   with ``SessionError`` if even then it is not.
4. **Finish.** The session records the read, the HLC observes the newest
   timestamp, and the replicas that answered with something older are sent the
   newest version (read repair). Above ONE the client is answered once those
   repairs are acknowledged (or the deadline passes), so a following read at the
   same level cannot see the older value again; at ONE at once.
5. **Late answers** (after the decision) still reach the tracker, and a stale
   one is repaired in the background.
6. **Redirects.** Every Get and repair Put names the range and generation the
   read was routed by (``rng``). A replica that answers a typed redirect with a
   newer descriptor (``on_redirect``, core/eventual/redirect.py) is asked again
   once, routed by it; otherwise it has failed (as in 1: a spare is asked).

The phase of a read is one of the names below; ``on_timeout`` ends each.
"""

from __future__ import annotations

from ...errors import SessionError
from ..consistency import ONE
from ..hlc import beyond_skew
from ..messages import Get, GetReply, Put
from ..quorum import ReadQuorum
from ..version import new_tuple
from .actions import (DATA, DIGEST, FETCH, LOCAL_READ, REPAIR, REST, SPECULATE, Receipt,
                      Repair, Reply, Send, SkewedAnswer, TellTruncation)
from .receipts import failed, read_receipt
from .redirect import RETRY, judge

ASKING, FETCHING, ASKING_REST, REPAIRING, DONE = "asking", "fetching", "asking rest", \
    "repairing", "done"


def read_order(replicas: tuple, me: str, connected, down, queued) -> list:
    """Replicas in the order reads ask them: this node, then live peers with an
    open connection, then the rest. Among live peers, one that this loop turn's
    frame already goes to (``queued``) comes first: the reads of a turn then travel
    in fewer frames, and each frame costs a write and a wake-up of its peer."""
    first, queued_live, live, last = [], [], [], []
    for node in replicas:
        if node == me:
            first.append(node)
        elif connected(node) and not down(node):
            (queued_live if queued(node) else live).append(node)
        else:
            last.append(node)
    return first + queued_live + live + last


class Read:
    __slots__ = ("ctx", "tracker", "keyspace", "keyspace_id", "key", "session",
                 "truncation", "spares", "phase", "now_ms", "decision", "holders",
                 "waiting", "rng", "retried")

    def __init__(self, ctx, level, rng, keyspace: str, keyspace_id: int,
                 key: bytes, session=None, truncation: int | None = None) -> None:
        """``rng``: the descriptor of the key's range the read is routed by."""
        self.ctx = ctx
        self.tracker = ReadQuorum(level, rng.replicas)
        self.rng = rng
        self.keyspace = keyspace
        self.keyspace_id = keyspace_id
        self.key = key
        self.session = session
        self.truncation = truncation  # the keyspace's truncation held here, if any
        self.spares = None  # the list of replicas not asked yet (set by start)
        self.phase = ASKING
        self.now_ms = 0  # the latest time an event brought
        self.decision = None
        self.holders = None  # FETCHING: replicas left to fetch from
        self.waiting = None  # ASKING_REST / REPAIRING: the set of answers awaited
        self.retried = None  # the set of replicas asked again after a redirect

    def _get(self, digest: bool):
        rng = self.rng
        return new_tuple(Get, (self.keyspace, self.key, digest, rng.range_id,
                               rng.generation))

    # ---- events ---------------------------------------------------------------------

    def start(self, now_ms: int, connected, down, queued) -> list:
        """``connected``, ``down``, ``queued``: the transport's and the failure
        detector's view of each peer (see ``read_order``)."""
        self.now_ms = now_ms
        me = self.ctx.me
        targets = read_order(self.tracker.replicas, me, connected, down, queued)
        required = self.tracker.required
        self.spares = targets[required:]
        actions = [SPECULATE] if self.spares else []
        digest = None
        first = True
        for node in targets[:required]:  # the nearest sends the data, the others digests
            if node == me:
                actions.append(LOCAL_READ)
            elif first:
                actions.append(new_tuple(Send, (node, self._get(False), DATA)))
            else:
                if digest is None:
                    digest = self._get(True)
                actions.append(new_tuple(Send, (node, digest, DIGEST)))
            first = False
        return actions

    def on_local(self, version) -> list | None:
        """This node's stored version (trusted: no skew or truncation check)."""
        return self._answered(self.ctx.me, version, False)

    def on_reply(self, node: str, purpose: int, reply, now_ms: int) -> list | None:
        self.now_ms = now_ms
        if purpose == REPAIR:
            return self._repaired(node)
        if type(reply) is not GetReply:
            return self.on_failure(node, purpose, False)
        version = reply.version
        notice = None
        if version is not None:
            ahead = beyond_skew(version.ts, now_ms, self.ctx.max_skew_ms)
            if ahead:  # as if it had failed
                actions = [SkewedAnswer(node, version, ahead)]
                actions.extend(self.on_failure(node, purpose, False) or ())
                return actions
            truncation = self.truncation
            if truncation is not None and version.ts <= truncation:
                version = None  # flushed: what the replica has may be gone
                if node != self.ctx.me and self.ctx.notices.due(node, self.keyspace_id,
                                                               now_ms):
                    notice = TellTruncation(node, truncation)
        if purpose == DATA or purpose == DIGEST:
            actions = self._answered(node, version, purpose == DIGEST)
        elif purpose == FETCH:
            actions = self._fetched(node, version, reply.version is not None)
        else:
            actions = self._rest_answered(node, version)
        if notice is None:
            return actions
        return [notice] + (actions or [])

    def on_failure(self, node: str, purpose: int, unreachable: bool) -> list | None:
        if purpose == REPAIR:
            return self._repaired(node)
        if purpose == FETCH:
            return self._fetch_next() if self.phase == FETCHING else None
        if purpose == REST:
            return self._rest_answered(node, None, failed_=True)
        spare = self._ask_spare()
        decision = self.tracker.on_failure(node)
        actions = None if decision is None else self._on_decision(decision)
        if spare is None:
            return actions
        return [spare] + (actions or [])

    def on_redirect(self, node: str, purpose: int, error, known) -> list | None:
        """``node`` answered a typed redirect (``error``, an errors.RemoteError);
        ``known(range_id)``: this node's cached descriptor of a range."""
        if self.retried is None:
            self.retried = set()
        rng = self.rng
        verdict, theirs, actions = judge(error, node, rng.range_id, rng.generation, known,
                                         self.retried, purpose == REPAIR)
        if verdict == RETRY:
            address = (theirs.range_id, theirs.generation)
            if purpose == REPAIR:
                message = Put(self.keyspace, self.key, self.tracker.newest, *address)
            else:
                message = Get(self.keyspace, self.key, purpose == DIGEST, *address)
            actions.append(Send(node, message, purpose))
            return actions
        actions.extend(self.on_failure(node, purpose, False) or ())
        return actions or None

    def on_slow(self) -> list | None:
        """``speculative_retry_ms`` passed since the start: if still undecided, ask
        one more replica, so one silent replica costs latency, not a failed read."""
        spare = self._ask_spare()
        return None if spare is None else [spare]

    def on_timeout(self, late: list) -> list | None:
        phase = self.phase
        if phase == ASKING:
            decision = self.tracker.on_timeout()
            return None if decision is None else self._on_decision(decision)
        if phase == FETCHING:
            return self._fetch_failed()
        if phase == ASKING_REST:
            self.waiting.clear()
            return self._rest_done()
        if phase == REPAIRING:
            return self._reply_newest()
        return None

    # ---- the steps ------------------------------------------------------------------

    def _ask_spare(self):
        """A full read of the next replica not asked yet, while undecided."""
        if self.tracker.decision is not None or not self.spares:
            return None
        return new_tuple(Send, (self.spares.pop(0), self._get(False), DATA))

    def _answered(self, node: str, version, digest: bool) -> list | None:
        tracker = self.tracker
        was_decided = tracker.decision is not None
        decision = tracker.on_answer(node, version, digest)
        if was_decided:  # a late answer: repair in the background
            return self._repairs()
        if decision is None:
            return None
        return self._on_decision(decision)

    def _on_decision(self, decision) -> list:
        self.decision = decision
        tracker = self.tracker
        if not decision.ok:
            return self._fail(failed(self.ctx, decision))
        if tracker.needs_data:  # a digest named a newer write
            self.phase = FETCHING
            self.holders = tracker.data_holders
            return self._fetch_next()
        session = self.session
        if session is not None and session.enforced and not self._session_satisfied():
            # possibly behind what this session wrote or read (core.session)
            if not self.spares:
                return self._fail(SessionError(len(tracker.seen), len(tracker.replicas)),
                                  receipt=False)
            self.phase = ASKING_REST
            message = self._get(False)
            rest, self.spares = self.spares, []
            self.waiting = set(rest)
            return [new_tuple(Send, (node, message, REST)) for node in rest]
        return self._finish()

    def _session_satisfied(self) -> bool:
        """The newest timestamp the read saw, for its session: a truncation held
        here counts, since whatever the session saw at or before it is gone."""
        tracker = self.tracker
        newest = tracker.newest
        ts = newest.ts if newest is not None else 0
        if self.truncation is not None and self.truncation > ts:
            ts = self.truncation
        return self.session.satisfied(ts, len(tracker.seen), len(tracker.replicas))

    def _fetch_next(self) -> list:
        if not self.holders:
            return self._fetch_failed()
        return [new_tuple(Send, (self.holders.pop(0), self._get(False), FETCH))]

    def _fetched(self, node: str, version, had_version: bool) -> list | None:
        if self.phase != FETCHING:
            return None
        if not had_version:
            return self._fetch_next()
        self.tracker.on_answer(node, version)
        if self.tracker.needs_data:
            return self._fetch_next()
        self.phase = ASKING
        return self._on_decision(self.decision)

    def _fetch_failed(self) -> list:
        """The replicas holding the newest write did not send it in time."""
        decision = self.decision
        return self._fail(failed(self.ctx, decision._replace(
            ok=False, answered=len(self.tracker.seen) - 1, timed_out=True)), receipt=False)

    def _rest_answered(self, node: str, version, failed_: bool = False) -> list | None:
        if self.phase != ASKING_REST or node not in self.waiting:
            return None
        self.waiting.discard(node)
        if not failed_:
            self.tracker.on_answer(node, version)
        return None if self.waiting else self._rest_done()

    def _rest_done(self) -> list:
        if not self._session_satisfied():
            # a replica that did not answer may hold what this session wrote
            tracker = self.tracker
            return self._fail(SessionError(len(tracker.seen), len(tracker.replicas)),
                              receipt=False)
        return self._finish()

    def _finish(self) -> list:
        tracker = self.tracker
        newest = tracker.newest
        session = self.session
        if newest is not None:
            if session is not None:
                session.observe(newest.ts, len(tracker.holders_of_newest()))
            hlc = self.ctx.hlc
            # what this client saw orders its next write after it, unless it comes
            # from a clock too far ahead (local data from a bad clock)
            if newest.ts > hlc.last and not beyond_skew(newest.ts, self.now_ms,
                                                        self.ctx.max_skew_ms):
                hlc.observe(newest.ts, self.now_ms)
        actions = self._repairs()
        if actions and self.decision.level is not ONE:
            self.phase = REPAIRING  # answered once the repairs are acknowledged
            self.waiting = set(actions[0].nodes)
        if session is not None and session.receipts is not None:
            actions.append(Receipt(read_receipt(self, self.decision)))
        if self.phase != REPAIRING:
            actions.append(self._reply_newest()[0])
        return actions

    def _repairs(self) -> list:
        """Send the newest version to the replicas that answered something older
        (this node included: the driver writes it to storage)."""
        stale = self.tracker.take_repairs()
        if not stale:
            return []
        rng = self.rng
        return [Repair(tuple(stale), new_tuple(Put, (self.keyspace, self.key,
                                                     self.tracker.newest, rng.range_id,
                                                     rng.generation)))]

    def _repaired(self, node: str) -> list | None:
        if self.phase != REPAIRING:
            return None
        self.waiting.discard(node)
        return None if self.waiting else self._reply_newest()

    def _reply_newest(self) -> list:
        self.phase = DONE
        return [new_tuple(Reply, (self.tracker.newest, None))]

    def _fail(self, error, receipt: bool = True) -> list:
        self.phase = DONE
        actions = []
        session = self.session
        if receipt and session is not None and session.receipts is not None:
            actions.append(Receipt(read_receipt(self, self.decision)))
        actions.append(Reply(None, error))
        return actions
