"""The coordinator: runs one client request against the replicas of its key.

Any node coordinates. It timestamps writes with its HLC, sends each request to
every replica of the key's range (itself included, through local storage), feeds
the answers to a core quorum tracker and answers the client once the tracker
decides. Reads resolve the newest version and send it to every replica that
answered with something older (read repair). Above ONE the repair is blocking:
the client gets its answer once the stale replicas among those that answered
have the newest version (or the deadline passes), so a following read at the
same level cannot see the older value again. Replicas whose answers arrive after
the decision are repaired in the background.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ..core import messages as m
from ..core.consistency import Level
from ..core.hlc import HLC
from ..core.quorum import ReadQuorum, WriteQuorum, _Tracker
from ..core.rangemap import HASH_SPACE, RangeMap, hash_prefix, key_hash
from ..core.scan import hash_of_pkey
from ..core.version import Version, merge
from ..errors import ConsistencyError, UnknownKeyspaceError
from ..storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScanPage:
    keys: list[bytes]
    next_position: int  # HASH_SPACE when the keyspace is exhausted


class Coordinator:
    def __init__(self, node_id: str, ranges: RangeMap, storage: Storage, transport,
                 hlc: HLC, clock_ms, timeout_s: float, metrics) -> None:
        self.node_id = node_id
        self.ranges = ranges
        self.storage = storage
        self.transport = transport
        self.hlc = hlc
        self.clock_ms = clock_ms
        self.timeout_s = timeout_s
        self.metrics = metrics

    def _keyspace(self, name: str):
        try:
            return self.ranges.keyspaces[name]
        except KeyError:
            raise UnknownKeyspaceError(f"unknown keyspace '{name}'") from None

    def new_version(self, value: bytes | None, expiry_ms: int = 0) -> Version:
        ts = self.hlc.now(self.clock_ms())
        if value is None:
            return Version(ts, self.node_id, True, 0, b"")
        return Version(ts, self.node_id, False, expiry_ms, value)

    # ---- writes ----------------------------------------------------------------

    async def write(self, keyspace: str, key: bytes, version: Version, level: Level) -> Version:
        ks = self._keyspace(keyspace)
        pkey = ks.placement_key(key)
        replicas = self.ranges.lookup(keyspace, pkey).replicas
        tracker = WriteQuorum(level, replicas)
        message = m.Put(keyspace, key, version)
        run = _Run(tracker, self.timeout_s, self.metrics)
        for node in replicas:
            if node == self.node_id:
                try:
                    durable = self.storage.apply([(ks.keyspace_id, pkey, version)])
                except Exception:
                    log.exception("local write failed")
                    run.decide(tracker.on_failure(node))
                    continue
                if durable is None:
                    run.decide(tracker.on_ack(node))
                else:
                    run.watch(node, durable, lambda n, r: tracker.on_ack(n))
            else:
                run.watch(node, self.transport.request_future(node, message),
                          lambda n, r: tracker.on_ack(n) if isinstance(r, m.PutAck)
                          else tracker.on_failure(n))
        decision = await run.result()
        if not decision.ok:
            self.metrics.consistency_failures.labels(level.name).inc()
            raise ConsistencyError(level.name, decision.answered, decision.required,
                                   decision.total)
        return version

    # ---- reads -----------------------------------------------------------------

    async def read(self, keyspace: str, key: bytes, level: Level) -> Version | None:
        """The newest version of ``key`` among ``level`` replicas (may be a tombstone
        or expired: the caller decides what is live)."""
        ks = self._keyspace(keyspace)
        pkey = ks.placement_key(key)
        replicas = self.ranges.lookup(keyspace, pkey).replicas
        tracker = ReadQuorum(level, replicas)
        run = _Run(tracker, self.timeout_s, self.metrics)

        def answered(node, reply):
            if not isinstance(reply, m.GetReply):
                return tracker.on_failure(node)
            decision = tracker.on_answer(node, reply.version)
            if tracker.decision is not None and decision is None:
                self._repair(ks, key, pkey, tracker)  # a late answer
            return decision

        message = m.Get(keyspace, key)
        for node in replicas:
            if node == self.node_id:
                run.decide(tracker.on_answer(node, self.storage.get(ks.keyspace_id, pkey)))
            else:
                run.watch(node, self.transport.request_future(node, message), answered)
        decision = await run.result()
        if not decision.ok:
            self.metrics.consistency_failures.labels(level.name).inc()
            raise ConsistencyError(level.name, decision.answered, decision.required,
                                   decision.total)
        pending = self._repair(ks, key, pkey, tracker)
        if pending and level is not Level.ONE:
            await asyncio.wait(pending, timeout=run.remaining())
        return tracker.newest

    def _repair(self, ks, key: bytes, pkey: bytes, tracker: ReadQuorum) -> list:
        """Send the newest version to stale replicas; the futures of their acks."""
        stale = tracker.take_repairs()
        if not stale:
            return []
        self.metrics.read_repairs.inc(len(stale))
        message = m.Put(ks.name, key, tracker.newest)
        pending = []
        for node in stale:
            if node == self.node_id:
                durable = self.storage.apply([(ks.keyspace_id, pkey, tracker.newest)])
                if durable is not None:
                    pending.append(durable)
            else:
                future = self.transport.request_future(node, message)
                future.add_done_callback(_ignore)
                pending.append(future)
        return pending

    # ---- scans -----------------------------------------------------------------

    async def scan_page(self, keyspace: str, position: int, limit: int,
                        level: Level) -> ScanPage:
        """Live keys of one range from hash ``position`` on, about ``limit``."""
        ks = self._keyspace(keyspace)
        start = hash_prefix(position)
        rng = self.ranges.lookup(keyspace, start)
        tracker = _Tracker(level, rng.replicas)
        replies: dict[str, m.ScanReply] = {}
        run = _Run(tracker, self.timeout_s, self.metrics)

        def answered(node, reply):
            if not isinstance(reply, m.ScanReply):
                return tracker.on_failure(node)
            replies[node] = reply
            tracker.answered.add(node)
            return tracker._check()

        for node in rng.replicas:
            if node == self.node_id:
                items, truncated, last = self.storage.scan(ks.keyspace_id, start, rng.end,
                                                           limit, group_prefix=8)
                items = tuple((p[8:], v) for p, v in items)
                run.decide(answered(node, m.ScanReply(items, truncated, last)))
            else:
                run.watch(node, self.transport.request_future(
                    node, m.Scan(keyspace, start, rng.end, limit)), answered)
        decision = await run.result()
        if not decision.ok:
            raise ConsistencyError(level.name, decision.answered, decision.required,
                                   decision.total)
        return merge_scan_replies(list(replies.values()), rng.end, self.clock_ms())


def merge_scan_replies(replies: list[m.ScanReply], end: bytes, now_ms: int) -> ScanPage:
    """Union the replicas' pages, cut where the shortest truncated page ends."""
    cut = min((hash_of_pkey(r.last_pkey) for r in replies if r.truncated), default=None)
    newest: dict[bytes, Version] = {}
    for reply in replies:
        for key, version in reply.items:
            newest[key] = merge(newest.get(key), version)
    keys = [k for k, v in newest.items()
            if v.is_live(now_ms) and (cut is None or key_hash(k) <= cut)]
    if cut is not None:
        next_position = cut + 1
    else:
        next_position = hash_of_pkey(end) if end else HASH_SPACE
    return ScanPage(keys, next_position)


def _ignore(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class _Run:
    """Waits for a tracker's decision, bounded by the request deadline.

    Outstanding replica requests are cancelled at the deadline, or as soon as
    every replica has answered; answers that arrive in between still reach the
    tracker (reads use them to repair)."""

    def __init__(self, tracker: _Tracker, timeout_s: float, metrics) -> None:
        self.tracker = tracker
        self.metrics = metrics
        self.loop = asyncio.get_running_loop()
        self.done = self.loop.create_future()
        self.outstanding: dict[str, asyncio.Future] = {}
        self.deadline = self.loop.time() + timeout_s
        self.timer = self.loop.call_at(self.deadline, self._expire)

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.loop.time())

    def decide(self, decision) -> None:
        if decision is not None and not self.done.done():
            self.done.set_result(decision)
        if self.tracker.complete:
            self.timer.cancel()

    def watch(self, node: str, future: asyncio.Future, on_reply) -> None:
        self.outstanding[node] = future

        def finished(f: asyncio.Future) -> None:
            self.outstanding.pop(node, None)
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                self.metrics.replica_failures.inc()
                self.decide(self.tracker.on_failure(node))
            else:
                self.decide(on_reply(node, f.result()))

        future.add_done_callback(finished)

    def _expire(self) -> None:
        if self.outstanding:
            self.metrics.replica_timeouts.inc(len(self.outstanding))
        for future in list(self.outstanding.values()):
            future.cancel()
        self.decide(self.tracker.on_timeout())

    async def result(self):
        return await self.done
