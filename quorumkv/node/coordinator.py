"""The coordinator: the driver of the eventual protocol's core (core/eventual/).

Any node coordinates. Every protocol decision of a read, write, truncation or
scan (which replicas to ask, digests, speculative retry, hints, read repair,
session escalation, receipts, truncation hiding, the clock-skew rule) is made by
a pure request object of ``core.eventual``; this module executes what it returns
(sends through the transport, storage reads and writes, hints, timers) and feeds
back what comes of it. It holds no protocol rule of its own.

``Coordinator`` keeps the API the client layers call (``start_write``,
``start_read``, ``write``, ``read``, ``start_truncate``, ``truncate``,
``scan_page``, ``scan_span``, ``new_version``), each naming a keyspace; they ask
that keyspace's ``EventualReplicator`` (``Coordinator.replicator(name)``), which
builds the request objects. A ``_Run`` drives one of them: its outstanding peer
requests, its deadline and speculation timers, and the caller's callback.

The hot path is callbacks end to end: ``start_write``/``start_read`` call
``on_done`` once the request is answered (possibly before they return), with no
task, coroutine or future per request; ``write``/``read`` wrap them for async
callers. Timers are one deadline sweep per time slot (node/deadlines.py).

Every request to a replica names the range id and generation it was routed by
(the descriptor ``ranges.lookup`` gave). A replica's typed redirect is handed to
the request as ``on_redirect`` with the cache's ``by_id``; the request decides
(core/eventual/redirect.py) and this driver replaces the one descriptor it says
(``RefreshDescriptor``) before sending the retry routed by it.

``--log-level debug`` logs each request's path (replicas asked, hints, the
decision, read repairs). The level is read once, at construction: with debug off
a request pays one attribute test, and no message is formatted.
"""

from __future__ import annotations

import asyncio
import logging

from ..core import messages as m
from ..core.consistency import Level
from ..core.eventual.actions import (LOCAL_READ, REPAIR, SCAN, SPECULATE, WRITE,
                                     LaggingReplica, LocalScan, LocalTruncate, LocalWrite,
                                     OweTruncation, Receipt, RefreshDescriptor, Repair, Reply,
                                     Send, SkewedAnswer, StoreHint, TellTruncation)
from ..core.eventual.context import Context
from ..core.eventual.read import Read
from ..core.eventual.scan import SpanScan
from ..core.eventual.write import Truncate, Write, truncation_nodes
from ..core.hlc import HLC
from ..core.placement import HASH_SPACE, RangeMap, hash_prefix
from ..core.scan import ScanPage, SpanPage, clip, hash_of_pkey, range_below
from ..core.version import Version, new_tuple
from ..errors import ConsistencyError, ErrorCode, UnknownKeyspaceError
from ..storage import Storage
from .deadlines import Deadlines
from .replica import scan_range
from .truncation import Truncations

log = logging.getLogger(__name__)
PUT_ACK = m.PUT_ACK
RANGE_PAGES_MAX = 64  # replica pages one range read may ask for before it answers
# module globals, not attributes of ``m``: read on every request and reply
Put, ErrorReply = m.Put, m.ErrorReply
# the codes of typed redirects: handed to the request's on_redirect
REDIRECTS = frozenset((ErrorCode.RANGE_NOT_FOUND, ErrorCode.STALE_GENERATION,
                       ErrorCode.NOT_LEADER))
LAGGING_LOGGED_MAX = 1024  # (node, range, generation) lagging replicas logged, at most


class Coordinator:
    def __init__(self, node_id: str, ranges: RangeMap, storage: Storage, transport,
                 hlc: HLC, clock_ms, timeout_s: float, metrics,
                 speculative_retry_s: float = 0.05, is_down=None, hints=None,
                 max_skew_ms: int = 500) -> None:
        self.max_skew_ms = max_skew_ms
        self.node_id = node_id
        self.ranges = ranges
        self.storage = storage
        self.transport = transport
        self.hlc = hlc
        self.clock_ms = clock_ms
        self.timeout_s = timeout_s
        self.metrics = metrics
        self.is_down = is_down or (lambda node: False)  # the failure detector's verdict
        self.hints = hints  # HintedHandoff, or None: no hints
        self.debug = log.isEnabledFor(logging.DEBUG)  # once: free on the hot path when off
        self.loop = asyncio.get_running_loop()
        self.deadlines = Deadlines(timeout_s, self.loop, _Run.expire)
        self.speculation = (Deadlines(speculative_retry_s, self.loop, _Run.speculate, 0.01)
                            if speculative_retry_s > 0 else None)
        # keyspace id -> T: the storage's own dict (empty unless a FLUSHDB happened)
        self.truncated = storage.truncated
        self.truncations = Truncations(storage, ranges, hlc, clock_ms, max_skew_ms)
        self.ctx = Context(node_id, hlc, round(timeout_s * 1000), max_skew_ms)
        self.replicators: dict[str, EventualReplicator] = {}
        # range id -> client requests coordinated here (core/load.py: quorumkv ranges)
        self.range_reads = metrics.range_load.reads
        self.range_writes = metrics.range_load.writes
        self.lagging_logged: set = set()  # (node, range id, generation) logged lagging

    def replicator(self, name: str) -> "EventualReplicator":
        """The replicator of keyspace ``name`` (UnknownKeyspaceError if none); a
        new one when the keyspace's descriptor changed."""
        ks = self.ranges.keyspaces.get(name)
        rep = self.replicators.get(name)
        if rep is None or rep.keyspace is not ks:
            if ks is None:
                raise UnknownKeyspaceError(f"unknown keyspace '{name}'")
            rep = self.replicators[name] = EventualReplicator(self, ks)
        return rep

    def new_version(self, value: bytes | None, expiry_ms: int = 0) -> Version:
        ts = self.hlc.now(self.clock_ms())
        if value is None:
            return new_tuple(Version, (ts, self.node_id, True, 0, b""))
        return new_tuple(Version, (ts, self.node_id, False, expiry_ms, value))

    # ---- the API by keyspace name (api/, sim/) ------------------------------------------

    def start_write(self, keyspace: str, key: bytes, version: Version, level: Level,
                    on_done, session=None) -> None:
        """Write ``version``; ``on_done(error)`` once decided (None: acknowledged).
        An acknowledged write advances ``session`` (core.session) to its timestamp."""
        rep = self.replicators.get(keyspace)  # the replicator, without a call
        if rep is None or rep.keyspace is not self.ranges.keyspaces.get(keyspace):
            rep = self.replicator(keyspace)
        ks = rep.keyspace
        pkey = ks.placement_key(key)
        rng = self.ranges.lookup(keyspace, pkey)
        self.range_writes[rng.range_id] += 1
        replicas = rng.replicas
        write = Write(self.ctx, level, replicas, ks.hints_count,
                      new_tuple(Put, (keyspace, key, version, rng.range_id, rng.generation)),
                      key, pkey, version, session)
        run = _Run(rep, write, on_done, False, False, pkey)
        actions = write.start(self.is_down)
        if self.debug:
            log.debug("write %r at %s: replicas %s, down (hinted): %s", key, level.name,
                      ",".join(replicas), ",".join(
                          a.node for a in actions if type(a) is StoreHint) or "none")
        run.execute(actions)

    async def write(self, keyspace: str, key: bytes, version: Version, level: Level,
                    session=None) -> Version:
        return await self.replicator(keyspace).write(key, version, level, session)

    def start_read(self, keyspace: str, key: bytes, level: Level, on_done,
                   session=None) -> None:
        """Read the newest version of ``key`` among ``level`` replicas (it may be a
        tombstone or expired: the caller decides what is live). ``on_done(version,
        error)`` once decided, and above ONE once the stale replicas that answered
        are repaired (core/eventual/read.py)."""
        rep = self.replicators.get(keyspace)  # the replicator, without a call
        if rep is None or rep.keyspace is not self.ranges.keyspaces.get(keyspace):
            rep = self.replicator(keyspace)
        pkey = rep.keyspace.placement_key(key)
        rng = self.ranges.lookup(keyspace, pkey)
        self.range_reads[rng.range_id] += 1
        truncated = self.truncated  # empty unless a FLUSHDB happened
        read = Read(self.ctx, level, rng, keyspace, rep.keyspace_id, key, session,
                    truncated.get(rep.keyspace_id) if truncated else None)
        run = _Run(rep, read, on_done, True, True, pkey)
        transport = self.transport
        actions = read.start(self.clock_ms(), transport.is_connected, self.is_down,
                             transport.has_queued)
        if self.debug:
            asked = [self.node_id if a is LOCAL_READ else a.node for a in actions
                     if a is LOCAL_READ or type(a) is Send]
            log.debug("read %r at %s: asking %s of %s", key, level.name, ",".join(asked),
                      ",".join(rng.replicas))
        run.execute(actions)


    async def read(self, keyspace: str, key: bytes, level: Level,
                   session=None) -> Version | None:
        return await self.replicator(keyspace).read(key, level, session)

    def keyspace_nodes(self, keyspace: str) -> list[str]:
        """Every node that replicates a range of ``keyspace``."""
        return list(truncation_nodes(self.ranges.all_ranges(), keyspace))

    def start_truncate(self, keyspace: str, level: Level, sync: bool, on_done) -> int:
        """Truncate ``keyspace`` at a new HLC timestamp T on every node of it, counted
        like a write at ``level`` over those nodes; ``on_done(error)`` once decided.
        Nodes that are down or do not answer in time are owed the truncation (a
        hint). Returns T."""
        return self.replicator(keyspace).start_truncate(level, sync, on_done)

    async def truncate(self, keyspace: str, level: Level, sync: bool) -> int:
        return await self.replicator(keyspace).truncate(level, sync)

    async def scan_page(self, keyspace: str, position: int, limit: int,
                        level: Level) -> ScanPage:
        """Live keys of one range of a hash keyspace from hash ``position`` on,
        about ``limit``."""
        return await self.replicator(keyspace).scan_page(position, limit, level)

    async def scan_span(self, keyspace: str, start: bytes, end: bytes, limit: int,
                        level: Level, reverse: bool = False) -> SpanPage:
        """Live keys and versions of placement keys ``[start, end)`` within the
        range that holds ``start``, about ``limit``, in placement-key order
        (``reverse``: within the range below ``end``, descending)."""
        return await self.replicator(keyspace).scan_span(start, end, limit, level,
                                                         reverse)

    async def range_read(self, keyspace: str, start: bytes, end: bytes, limit: int,
                         level: Level, reverse: bool = False) -> SpanPage:
        """At most ``limit`` live ``(key, version)`` of ``[start, end)`` of a range
        keyspace across its ranges, in key order (``reverse``: descending);
        ``resume`` is the next start (reverse: the next end), None when done."""
        return await self.replicator(keyspace).range_read(start, end, limit, level,
                                                          reverse)


class EventualReplicator:
    """One keyspace's replication in eventual mode: builds the core request
    objects for it and runs them. Get one with ``Coordinator.replicator(name)``."""

    def __init__(self, coordinator: Coordinator, keyspace) -> None:
        self.coordinator = coordinator
        self.keyspace = keyspace  # core.placement.Keyspace
        self.name = keyspace.name
        self.keyspace_id = keyspace.keyspace_id

    def _truncation(self) -> int | None:
        truncated = self.coordinator.truncated
        return truncated.get(self.keyspace_id) if truncated else None

    # ---- writes ----------------------------------------------------------------

    def start_write(self, key: bytes, version: Version, level: Level, on_done,
                    session=None) -> None:
        """Write ``version``; ``on_done(error)`` once decided (None: acknowledged)."""
        self.coordinator.start_write(self.name, key, version, level, on_done, session)

    async def write(self, key: bytes, version: Version, level: Level,
                    session=None) -> Version:
        done = self.coordinator.loop.create_future()
        self.start_write(key, version, level,
                         lambda error: settle(done, version, error), session)
        return await done

    # ---- truncations (FLUSHDB) -------------------------------------------------------

    def start_truncate(self, level: Level, sync: bool, on_done) -> int:
        c = self.coordinator
        nodes = truncation_nodes(c.ranges.all_ranges(), self.name)
        ts = c.hlc.now(c.clock_ms())
        truncate = Truncate(c.ctx, level, nodes, self.keyspace.hints_count, self.name, ts,
                            sync)
        run = _Run(self, truncate, on_done, False, False)
        log.info("truncating keyspace %s at %d on %s", self.name, ts, ", ".join(nodes))
        run.execute(truncate.start(c.is_down))
        return ts

    async def truncate(self, level: Level, sync: bool) -> int:
        done = self.coordinator.loop.create_future()
        ts = self.start_truncate(level, sync, lambda error: settle(done, None, error))
        await done
        return ts

    # ---- reads -----------------------------------------------------------------

    def start_read(self, key: bytes, level: Level, on_done, session=None) -> None:
        """Read the newest version of ``key``: ``on_done(version, error)``."""
        self.coordinator.start_read(self.name, key, level, on_done, session)

    async def read(self, key: bytes, level: Level, session=None) -> Version | None:
        done = self.coordinator.loop.create_future()
        self.start_read(key, level, lambda version, error: settle(done, version, error),
                        session)
        return await done

    # ---- scans -----------------------------------------------------------------

    def start_scan_span(self, start: bytes, end: bytes, limit: int, level: Level,
                        on_done, reverse: bool = False) -> None:
        """:meth:`scan_span` in callback form: ``on_done(page, error)``."""
        c = self.coordinator
        if reverse:
            rng = range_below(c.ranges.ranges(self.name), end)
        else:
            rng = c.ranges.lookup(self.name, start)
        c.range_reads[rng.range_id] += 1  # a page counts as one read of its range
        scan = SpanScan(c.ctx, level, self.keyspace, rng, start, end, rng.end,
                        limit, self._truncation(), reverse, rng.start)
        _Run(self, scan, on_done, True, True).execute(scan.start())

    async def scan_span(self, start: bytes, end: bytes, limit: int,
                        level: Level, reverse: bool = False) -> SpanPage:
        """Live keys of placement keys ``[start, end)`` (``end`` b"": unbounded)
        within the range holding ``start``, with their versions, about ``limit``,
        in placement-key order, merged across replicas like a read; ``resume`` is
        where the next page starts (None: the span is done). For a range keyspace
        the placement key is the key. A ``reverse`` page (range keyspaces) is of
        the range holding the keys just below ``end``, keys descending, and its
        ``resume`` is where the next page ends."""
        done = self.coordinator.loop.create_future()
        self.start_scan_span(start, end, limit, level,
                             lambda page, error: settle(done, page, error), reverse)
        return await done

    async def range_read(self, start: bytes, end: bytes, limit: int, level: Level,
                         reverse: bool = False) -> SpanPage:
        """Pages of :meth:`scan_span` range after range until ``limit`` keys, the
        end of the span, or RANGE_PAGES_MAX pages (a stretch of expired or deleted
        keys may need many); then cut to ``limit`` (``core.scan.clip``)."""
        if end and start >= end:
            return SpanPage([], None)  # an empty span, as ZRANGEBYLEX's min > max
        items: list = []
        bound: bytes | None = end if reverse else start
        for _ in range(RANGE_PAGES_MAX):
            if reverse:
                page = await self.scan_span(start, bound, limit - len(items), level, True)
            else:
                page = await self.scan_span(bound, end, limit - len(items), level)
            items += page.items
            bound = page.resume
            if bound is None or len(items) >= limit:
                break
        return clip(items, bound, limit, reverse)

    async def scan_page(self, position: int, limit: int, level: Level) -> ScanPage:
        """Live keys of one range of a hash keyspace from hash ``position`` on,
        about ``limit``; ``next_position`` is HASH_SPACE once the keyspace is done."""
        page = await self.scan_span(hash_prefix(position), b"", limit, level)
        resume = page.resume
        return ScanPage([key for key, _ in page.items],
                        HASH_SPACE if resume is None else hash_of_pkey(resume))


def settle(future: asyncio.Future, result, error) -> None:
    """Resolve ``future`` from a callback's ``(result, error)``, unless it is done
    (a caller that stopped waiting cancelled it)."""
    if not future.done():
        future.set_exception(error) if error is not None else future.set_result(result)


def _ignore_reply(reply, error) -> None:
    return None


class _Run:
    """Drives one core request object (``machine``): executes its actions, hands
    it the replies, failures and timers, and answers the caller on its ``Reply``.
    At the deadline, peer requests still outstanding are forgotten and the machine
    is told; answers before then still reach it (reads use late answers to repair).
    Timers are released once the caller is answered and nothing is outstanding."""

    __slots__ = ("replicator", "coordinator", "machine", "on_done", "result_too", "timed",
                 "outstanding", "deadline", "speculation", "replied", "pkey")

    def __init__(self, replicator: EventualReplicator, machine, on_done, result_too: bool,
                 timed: bool, pkey: bytes | None = None) -> None:
        self.replicator = replicator
        self.coordinator = coordinator = replicator.coordinator
        self.machine = machine
        self.on_done = on_done         # the caller's callback
        self.result_too = result_too   # on_done(result, error), else on_done(error)
        self.timed = timed             # the machine's replies need the time
        self.outstanding: dict[str, int] = {}  # node -> transport request id
        self.deadline = coordinator.deadlines.add(self)  # [due, run] entry
        self.speculation = None
        self.replied = False
        self.pkey = pkey  # the request's key in storage (writes, reads)

    def execute(self, actions) -> None:
        """Carry out ``actions`` in order (core/eventual/actions.py)."""
        for action in actions:
            kind = type(action)
            if kind is Send:  # one unpacking costs less than three attribute reads
                node, message, purpose = action
                self.send(node, message, purpose)
            elif kind is Reply:
                self.answer(action)
            elif kind is LocalWrite:
                version, purpose = action
                self._write_local(version, purpose)
            elif action is LOCAL_READ:
                more = self.machine.on_local(self.coordinator.storage.get(
                    self.replicator.keyspace_id, self.pkey))
                if more:
                    self.execute(more)
            elif action is SPECULATE:
                if self.coordinator.speculation is not None:
                    self.speculation = self.coordinator.speculation.add(self)
            else:
                _EXECUTE[kind](self, action)
        self._release_if_finished()

    def feed(self, actions) -> None:
        if actions:
            self.execute(actions)
        else:
            self._release_if_finished()

    def send(self, node: str, message, purpose: int) -> None:
        c = self.coordinator
        if self.deadline is None or self.deadline[1] is None:  # released or expired
            self.deadline = c.deadlines.add(self)

        def on_done(reply, error) -> None:
            self.outstanding.pop(node, None)
            if error is None:
                if type(reply) is ErrorReply:
                    actions = self._refused(node, purpose, reply)
                else:
                    actions = self.machine.on_reply(node, purpose, reply,
                                                    c.clock_ms() if self.timed else 0)
            else:
                c.metrics.replica_failures.inc()
                actions = self.machine.on_failure(node, purpose, True)
            if actions:
                self.execute(actions)
            else:
                self._release_if_finished()

        self.outstanding[node] = c.transport.send_request(node, message, on_done)

    def _refused(self, node: str, purpose: int, reply) -> list | None:
        """A typed error from ``node``: a redirect goes to the request's
        ``on_redirect`` (with this node's cached descriptors), any other error
        to its ``on_reply``, which counts it as a failure."""
        c = self.coordinator
        if reply.code in REDIRECTS:
            log.debug("replica %s redirects: %s", node, reply.message)
            return self.machine.on_redirect(node, purpose, reply.error(), c.ranges.by_id)
        log.warning("replica %s: %s", node, reply.message)
        return self.machine.on_reply(node, purpose, reply, c.clock_ms() if self.timed else 0)

    def _refresh(self, action: RefreshDescriptor) -> None:
        """Replace the one descriptor in the range cache (the request's retry,
        which follows, is routed by it)."""
        new = action.descriptor
        if self.coordinator.ranges.refresh((new,)):
            log.info("range %d of %s refreshed to generation %d (replicas %s) from a "
                     "replica's redirect", new.range_id, new.keyspace, new.generation,
                     ",".join(new.replicas))

    def _lagging(self, action: LaggingReplica) -> None:
        """Once per replica, range and generation: a replica that lags."""
        c, old = self.coordinator, action.descriptor
        seen = (action.node, old.range_id, old.generation)
        if seen in c.lagging_logged:
            return
        if len(c.lagging_logged) >= LAGGING_LOGGED_MAX:
            c.lagging_logged.clear()
        c.lagging_logged.add(seen)
        mine = c.ranges.by_id(old.range_id)
        log.warning("replica %s holds range %d at generation %d, older than this node's "
                    "%s: counted as failed until its metadata catches up", action.node,
                    old.range_id, old.generation, mine.generation if mine else "(none)")

    def answer(self, reply: Reply) -> None:
        self.replied = True
        result, error = reply
        if error is not None and type(error) is ConsistencyError:
            self.coordinator.metrics.consistency_failures.labels(error.level).inc()
        if self.coordinator.debug:
            _log_answer(self.machine, reply)
        if self.result_too:
            self.on_done(result, error)
        else:
            self.on_done(error)

    def _write_local(self, version: Version, purpose: int) -> None:
        c = self.coordinator
        node = c.node_id
        machine = self.machine

        def written(error) -> None:
            if error is not None:
                log.error("local write failed: %s", error)
                self.feed(machine.on_failure(node, purpose, False))
            else:
                self.feed(machine.on_reply(node, purpose, PUT_ACK, 0))

        c.storage.write_soon([(self.replicator.keyspace_id, self.pkey, version)], written,
                             cache=purpose == WRITE)

    def _store_hint(self, action) -> None:
        """Keep the write for ``action.node``; the machine hears once it is kept
        and once it is durable."""
        c, node, machine = self.coordinator, action.node, self.machine
        rep = self.replicator

        def stored(error) -> None:
            self.feed(machine.on_hint_stored(node, error is None))

        if c.hints is None:
            kept = False
        elif type(action) is OweTruncation:
            kept = c.hints.store_truncation(node, rep.name, rep.keyspace_id, machine.version,
                                            stored)
        else:
            kept = c.hints.store(node, rep.name, rep.keyspace_id, machine.key, self.pkey,
                                 machine.version, stored)
        if c.debug:
            log.debug("write %r: hint kept for %s" if kept else
                      "write %r: no hint kept for %s (bound reached or no hints)",
                      machine.key, node)
        actions = machine.on_hint_kept(node, kept)
        if actions:
            self.execute(actions)

    def _repair(self, action: Repair) -> None:
        c = self.coordinator
        newest = action.message.version
        c.metrics.read_repairs.inc(len(action.nodes))
        if c.debug:
            log.debug("read repair of %r: ts %d to %s", self.machine.key, newest.ts,
                      ",".join(action.nodes))
        for node in action.nodes:
            if node == c.node_id:
                self._write_local(newest, REPAIR)
            else:
                self.send(node, action.message, REPAIR)

    def _scan_local(self, action: LocalScan) -> None:
        c, message = self.coordinator, action.message
        reply = scan_range(c.storage, self.replicator.keyspace, message.start, message.end,
                           message.limit, message.reverse)
        self.feed(self.machine.on_reply(c.node_id, SCAN, reply, c.clock_ms()))

    def _truncate_local(self, action: LocalTruncate) -> None:
        self.coordinator.loop.create_task(self._truncate_task(action.ts, action.sync))

    async def _truncate_task(self, ts: int, sync: bool) -> None:
        c = self.coordinator
        try:
            await c.truncations.apply(self.replicator.name, ts, sync)
        except Exception as exc:
            log.error("local truncation failed: %s", exc)
            self.feed(self.machine.on_failure(c.node_id, WRITE, False))
        else:
            self.feed(self.machine.on_reply(c.node_id, WRITE, PUT_ACK, 0))

    def _tell_truncation(self, action: TellTruncation) -> None:
        self.coordinator.transport.send_request(
            action.node, m.Truncate(self.replicator.name, action.ts), _ignore_reply)

    def _skewed(self, action: SkewedAnswer) -> None:
        c = self.coordinator
        c.metrics.clock_skew_refusals.inc()
        log.warning("clock skew: %s answered a version from %s that is %d ms ahead of "
                    "%s's clock (node.max_clock_skew_ms = %d); ignored", action.node,
                    action.version.node_id, action.ahead_ms, c.node_id, c.max_skew_ms)

    def _receipt(self, action: Receipt) -> None:
        self.machine.session.receipts.append(action.receipt)

    def _release_if_finished(self) -> None:
        """Answered and nothing outstanding: leave the timers now."""
        if self.replied and not self.outstanding:
            if self.deadline is not None:
                Deadlines.cancel(self.deadline)
            if self.speculation is not None:
                Deadlines.cancel(self.speculation)

    def speculate(self) -> None:
        """Called ``speculative_retry_ms`` after a read started."""
        self.speculation = None
        actions = self.machine.on_slow()
        if actions:
            c = self.coordinator
            c.metrics.speculative_retries.inc()
            if c.debug:
                log.debug("read %r: slow replicas, speculative retry", self.machine.key)
            self.execute(actions)

    def expire(self) -> None:
        """Called by the deadline sweep."""
        self.deadline = None
        late = list(self.outstanding)
        if late:
            c = self.coordinator
            c.metrics.replica_timeouts.inc(len(late))
            for node, req_id in self.outstanding.items():
                c.transport.forget(node, req_id)
            self.outstanding.clear()
        self.feed(self.machine.on_timeout(late))


_EXECUTE = {
    StoreHint: _Run._store_hint,
    OweTruncation: _Run._store_hint,
    Repair: _Run._repair,
    LocalScan: _Run._scan_local,
    LocalTruncate: _Run._truncate_local,
    TellTruncation: _Run._tell_truncation,
    SkewedAnswer: _Run._skewed,
    Receipt: _Run._receipt,
    RefreshDescriptor: _Run._refresh,
    LaggingReplica: _Run._lagging,
}


def _log_answer(machine, reply: Reply) -> None:
    """The debug line of a request's answer."""
    tracker = machine.tracker
    decision = tracker.decision
    if type(machine) is Write:
        log.debug("write %r: %s %s (acks from %s; hinted %s)", machine.key,
                  decision.level.name, "reached" if reply.error is None else "not met",
                  ",".join(sorted(tracker.answered)) or "none",
                  ",".join(machine.hinted or ()) or "none")
    elif type(machine) is Read:
        if reply.error is not None and decision is not None and not decision.ok:
            log.debug("read %r: %s not met (%d of %d answered%s)", machine.key,
                      decision.level.name, decision.answered, decision.total,
                      ", timed out" if decision.timed_out else "")
        elif reply.error is not None:
            log.debug("read %r: %s", machine.key, reply.error)
        else:
            newest = tracker.newest
            log.debug("read %r: %s reached from %s; newest %s; %d read repairs",
                      machine.key, decision.level.name, ",".join(sorted(tracker.seen)),
                      "none" if newest is None else f"ts {newest.ts} from {newest.node_id}",
                      len(tracker.repaired))
    elif reply.error is not None:
        log.debug("%s: %s", "truncation" if type(machine) is Truncate else "scan",
                  reply.error)
