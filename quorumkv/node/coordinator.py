"""The coordinator: runs one client request against the replicas of its key.

Any node coordinates. It timestamps writes with its HLC and sends them to every
replica of the key's range (itself included, through local storage). Reads ask
only as many replicas as the level needs (this node first, then peers with an
open connection), and one more when an asked replica fails or has not answered
after ``speculative_retry_ms``. The answers go to a core quorum tracker; the
client is answered once the tracker decides.

Reads resolve the newest version and send it to every replica that answered with
something older (read repair). Above ONE the repair is blocking: the client gets
its answer once the stale replicas among those that answered have the newest
version (or the deadline passes), so a following read at the same level cannot
see the older value again. Replicas whose answers arrive after the decision
(after a speculative retry) are repaired in the background.

A truncation (FLUSHDB, ``start_truncate``) is sent to every node of the keyspace
and acknowledged like a write; a node that misses it is owed it as a hint. Once
this node holds a truncation, it hides what replicas answer that is at or below
it, and tells such a replica of the truncation (a read repair of the FLUSHDB).

The hot path is callbacks end to end: ``start_write``/``start_read`` call
``on_done`` once the request is decided (possibly before they return), with no
task, coroutine or future per request; ``write``/``read`` wrap them for async
callers. Timers are one deadline sweep per time slot.

``--log-level debug`` logs each request's path (replicas asked, hints, the
decision, read repairs). The level is read once, at construction: with debug off
a request pays one attribute test, and no message is formatted.
"""

from __future__ import annotations

import asyncio
import logging

from ..core import messages as m
from ..core.consistency import Level
from ..core.hlc import HLC, ahead_by_ms
from ..core.quorum import Quorum, ReadQuorum, WriteQuorum
from ..core.rangemap import RangeMap, hash_prefix
from ..core.scan import ScanPage, merge_pages
from ..core.version import Version, new_tuple
from ..errors import ConsistencyError, SessionError, UnknownKeyspaceError
from ..storage import Storage
from .deadlines import Deadlines
from .replica import scan_range
from .truncation import Truncations

log = logging.getLogger(__name__)


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
        self._told: dict[tuple[str, int], float] = {}  # (node, ks id) -> loop time told

    def _keyspace(self, name: str):
        try:
            return self.ranges.keyspaces[name]
        except KeyError:
            raise UnknownKeyspaceError(f"unknown keyspace '{name}'") from None

    def new_version(self, value: bytes | None, expiry_ms: int = 0) -> Version:
        ts = self.hlc.now(self.clock_ms())
        if value is None:
            return new_tuple(Version, (ts, self.node_id, True, 0, b""))
        return new_tuple(Version, (ts, self.node_id, False, expiry_ms, value))

    def usable(self, reply, node: str) -> bool:
        """A replica's answer to a ``Get`` that a read may count."""
        return isinstance(reply, m.GetReply) and not (
            reply.version is not None and self.skewed(reply.version, node))

    def skewed(self, version: Version, node: str) -> bool:
        """True (and logged) if ``version`` comes from a clock further ahead than the
        tolerated skew: replicas refuse such writes, and reads must not spread one
        that a node with a broken clock stored locally."""
        ahead = ahead_by_ms(version.ts, self.clock_ms())
        if ahead <= self.max_skew_ms:
            return False
        self.metrics.clock_skew_refusals.inc()
        log.warning("clock skew: %s answered a version from %s that is %d ms ahead of "
                    "%s's clock (node.max_clock_skew_ms = %d); ignored", node,
                    version.node_id, ahead, self.node_id, self.max_skew_ms)
        return True

    def _failed(self, decision) -> ConsistencyError:
        self.metrics.consistency_failures.labels(decision.level.name).inc()
        return ConsistencyError(decision.level.name, decision.answered, decision.required,
                                decision.total,
                                round(self.timeout_s * 1000) if decision.timed_out else None)

    # ---- writes ----------------------------------------------------------------

    def start_write(self, keyspace: str, key: bytes, version: Version, level: Level,
                    on_done, session=None) -> None:
        """Write ``version``; ``on_done(error)`` once decided (None: acknowledged).
        An acknowledged write advances ``session`` (core.session) to its timestamp."""
        ks = self._keyspace(keyspace)
        pkey = ks.placement_key(key)
        replicas = self.ranges.lookup(keyspace, pkey).replicas
        run = _Run(self, WriteQuorum(level, replicas, ks.hints_count), _write_decided, on_done)
        run.write = (ks, key, pkey, version)
        run.session = session
        message = new_tuple(m.Put, (keyspace, key, version))
        down = []
        local = False
        for node in replicas:
            if node == self.node_id:
                local = True
            elif self.is_down(node):  # do not wait on it: hinted once the rest is sent
                down.append(node)
            else:
                run.send(node, message, _on_put_reply)
        if self.debug:
            log.debug("write %r at %s: replicas %s, down (hinted): %s", key, level.name,
                      ",".join(replicas), ",".join(down) or "none")
        if local:  # after the sends: the replicas work while this node writes
            self._write_local(run, ks.keyspace_id, pkey, version)
        for node in down:
            self.hint(run, node)

    def hint(self, run: "_Run", node: str) -> None:
        """``node`` did not take the write of ``run``: keep it as a hint; the tracker
        hears of it once the hint is durable (it counts as an ack at ANY)."""
        ks, key, pkey, version = run.write

        def stored(error) -> None:
            run.decide(run.tracker.on_hint(node) if error is None
                       else run.tracker.on_failure(node))

        if key is None:  # a truncation (start_truncate): owed to the node, never dropped
            stored_ok = self.hints is not None and self.hints.store_truncation(
                node, ks.name, ks.keyspace_id, version, stored)
        else:
            stored_ok = self.hints is not None and self.hints.store(
                node, ks.name, ks.keyspace_id, key, pkey, version, stored)
        if stored_ok:
            run.hinted.append(node)
            if self.debug:
                log.debug("write %r: hint kept for %s", key, node)
        else:  # no hints here, or the bound for that target is reached
            if self.debug:
                log.debug("write %r: no hint kept for %s (bound reached or no hints)",
                          key, node)
            run.decide(run.tracker.on_failure(node))

    async def write(self, keyspace: str, key: bytes, version: Version, level: Level,
                    session=None) -> Version:
        done = self.loop.create_future()
        self.start_write(keyspace, key, version, level,
                         lambda error: settle(done, version, error), session)
        return await done

    def _write_local(self, run: "_Run", keyspace_id: int, pkey: bytes,
                     version: Version) -> None:
        node = self.node_id

        def written(error) -> None:
            if error is not None:
                log.error("local write failed: %s", error)
                run.decide(run.tracker.on_failure(node))
            else:
                run.decide(run.tracker.on_ack(node))

        self.storage.write_soon([(keyspace_id, pkey, version)], written, cache=True)

    # ---- truncations (FLUSHDB) -------------------------------------------------------

    def keyspace_nodes(self, keyspace: str) -> list[str]:
        """Every node that replicates a range of ``keyspace``."""
        return sorted({n for r in self.ranges.all_ranges() if r.keyspace == keyspace
                       for n in r.replicas})

    def start_truncate(self, keyspace: str, level: Level, sync: bool, on_done) -> int:
        """Truncate ``keyspace`` at a new HLC timestamp T on every node of it, counted
        like a write at ``level`` over those nodes; ``on_done(error)`` once decided.
        Nodes that are down or do not answer in time are owed the truncation (a
        hint). Returns T."""
        ks = self._keyspace(keyspace)
        nodes = self.keyspace_nodes(keyspace)
        ts = self.hlc.now(self.clock_ms())
        run = _Run(self, WriteQuorum(level, tuple(nodes), ks.hints_count), _write_decided,
                   on_done)
        run.write = (ks, None, None, ts)  # key None: hint() owes a truncation
        message = m.Truncate(ks.name, ts, sync)
        down = []
        for node in nodes:
            if node == self.node_id:
                self.loop.create_task(self._truncate_local(run, ks.name, ts, sync))
            elif self.is_down(node):
                down.append(node)
            else:
                run.send(node, message, _on_put_reply)
        for node in down:
            self.hint(run, node)
        log.info("truncating keyspace %s at %d on %s", ks.name, ts, ", ".join(nodes))
        return ts

    async def truncate(self, keyspace: str, level: Level, sync: bool) -> int:
        done = self.loop.create_future()
        ts = self.start_truncate(keyspace, level, sync, lambda error: settle(done, None, error))
        await done
        return ts

    async def _truncate_local(self, run: "_Run", keyspace: str, ts: int, sync: bool) -> None:
        try:
            await self.truncations.apply(keyspace, ts, sync)
        except Exception as exc:
            log.error("local truncation failed: %s", exc)
            run.decide(run.tracker.on_failure(self.node_id))
        else:
            run.decide(run.tracker.on_ack(self.node_id))

    def visible(self, ks, node: str, version: Version | None) -> Version | None:
        """A replica's answer as this node sees it: None if a truncation held here
        hides it; that replica then hears of the truncation (read repair)."""
        if version is None:
            return None
        ts = self.truncated.get(ks.keyspace_id)
        if ts is None or version.ts > ts:
            return version
        self._tell_truncation(ks, node, ts)
        return None

    def _tell_truncation(self, ks, node: str, ts: int) -> None:
        """Send a replica that answered with flushed data the truncation, at most
        once a second (hints and anti-entropy bring it too, should this be lost)."""
        now = self.loop.time()
        if node == self.node_id or now - self._told.get((node, ks.keyspace_id), -1.0) < 1.0:
            return
        self._told[(node, ks.keyspace_id)] = now
        self.transport.send_request(node, m.Truncate(ks.name, ts), _ignore_reply)

    # ---- reads -----------------------------------------------------------------

    def start_read(self, keyspace: str, key: bytes, level: Level, on_done,
                   session=None) -> None:
        """Read the newest version of ``key`` among ``level`` replicas (it may be a
        tombstone or expired: the caller decides what is live). ``on_done(version,
        error)`` once decided, and above ONE once the stale replicas that answered
        are repaired. With a ``session``, an answer older than its token makes the
        read ask the remaining replicas too (core.session)."""
        ks = self._keyspace(keyspace)
        pkey = ks.placement_key(key)
        replicas = self.ranges.lookup(keyspace, pkey).replicas
        tracker = ReadQuorum(level, replicas)
        run = _Run(self, tracker, _read_decided, on_done)
        run.repair_target = (ks, key, pkey)
        run.session = session
        message = new_tuple(m.Get, (keyspace, key, False))
        targets = self._read_order(replicas)
        run.spares = targets[tracker.required:]
        run.spare_request = (message, _on_get_reply)
        if run.spares and self.speculation is not None:
            run.speculation = self.speculation.add(run)
        if self.debug:
            log.debug("read %r at %s: asking %s of %s", key, level.name,
                      ",".join(targets[:tracker.required]), ",".join(replicas))
        # the nearest replica sends the data, the others digests (no value)
        digest = new_tuple(m.Get, (keyspace, key, True))
        for i, node in enumerate(targets[:tracker.required]):
            if run.decided:
                break
            if node == self.node_id:
                run.decide(tracker.on_answer(node, self.storage.get(ks.keyspace_id, pkey)))
            elif i == 0:
                run.send(node, message, _on_get_reply)
            else:
                run.send(node, digest, _on_digest_reply)

    async def read(self, keyspace: str, key: bytes, level: Level,
                   session=None) -> Version | None:
        done = self.loop.create_future()
        self.start_read(keyspace, key, level,
                        lambda version, error: settle(done, version, error), session)
        return await done

    def _after_read(self, run: "_Run", decision) -> None:
        tracker: ReadQuorum = run.tracker
        if decision.ok and tracker.needs_data:  # a digest named a newer write
            self.loop.create_task(self._fetch_newest(run, decision))
            return
        if not decision.ok:
            if self.debug:
                log.debug("read %r: %s not met (%d of %d answered%s)", run.repair_target[1],
                          decision.level.name, decision.answered, decision.total,
                          ", timed out" if decision.timed_out else "")
            if run.session is not None and run.session.receipts is not None:
                run.session.receipts.append(_receipt(run, decision, "read"))
            run.on_done(None, self._failed(decision))
            return
        session = run.session
        if session is not None and session.enforced and not session.satisfied(
                self._newest_ts(run), len(tracker.seen), len(tracker.replicas)):
            # possibly behind what this session wrote or read (core.session)
            if run.spares:
                self.loop.create_task(self._read_rest_for_session(run, decision))
            else:
                run.on_done(None, SessionError(len(tracker.seen), len(tracker.replicas)))
            return
        self._finish_read(run, decision)

    def _newest_ts(self, run: "_Run") -> int:
        """The newest timestamp a read saw, for its session: a truncation held here
        counts, since whatever the session saw at or before it is gone."""
        newest = run.tracker.newest
        ts = newest.ts if newest is not None else 0
        if self.truncated:
            return max(ts, self.truncated.get(run.repair_target[0].keyspace_id, 0))
        return ts

    async def _fetch_newest(self, run: "_Run", decision) -> None:
        """The value of the newest write, from a replica whose digest named it."""
        tracker: ReadQuorum = run.tracker
        message = run.spare_request[0]
        for node in tracker.data_holders:
            if run.remaining() <= 0:
                break
            try:
                reply = await asyncio.wait_for(asyncio.shield(run.request(node, message)),
                                               run.remaining())
            except asyncio.TimeoutError:
                reply = None
            if self.usable(reply, node) and reply.version is not None:
                tracker.on_answer(node, self.visible(run.repair_target[0], node,
                                                     reply.version)
                                  if self.truncated else reply.version)
                if not tracker.needs_data:
                    self._after_read(run, decision)
                    return
        # the replica holding the newest write did not send it in time
        run.on_done(None, self._failed(decision._replace(
            ok=False, answered=len(tracker.seen) - 1, timed_out=True)))

    async def _read_rest_for_session(self, run: "_Run", decision) -> None:
        tracker: ReadQuorum = run.tracker
        message = run.spare_request[0]
        asked = [(node, run.request(node, message)) for node in run.spares]
        run.spares = []
        await asyncio.wait([f for _, f in asked], timeout=run.remaining())
        for node, answer in asked:
            reply = answer.result() if answer.done() else None
            if self.usable(reply, node):
                tracker.on_answer(node, self.visible(run.repair_target[0], node,
                                                     reply.version)
                                  if self.truncated else reply.version)
        if not run.session.satisfied(self._newest_ts(run), len(tracker.seen),
                                     len(tracker.replicas)):
            # a replica that did not answer may hold what this session wrote
            run.on_done(None, SessionError(len(tracker.seen), len(tracker.replicas)))
            return
        self._finish_read(run, decision)

    def _finish_read(self, run: "_Run", decision) -> None:
        tracker: ReadQuorum = run.tracker
        if run.session is not None and tracker.newest is not None:
            run.session.observe(tracker.newest.ts, len(tracker.holders_of_newest()))
        if tracker.newest is not None and tracker.newest.ts > self.hlc.last:
            # what this client saw orders its next write after it (HLC), unless it
            # comes from a clock too far ahead (see Replica: such writes are refused)
            now = self.clock_ms()
            if ahead_by_ms(tracker.newest.ts, now) <= self.max_skew_ms:  # else local data
                self.hlc.observe(tracker.newest.ts, now)               # from a bad clock
        pending = self.repair(run)
        if self.debug:
            newest = tracker.newest
            log.debug("read %r: %s reached from %s; newest %s; %d read repairs",
                      run.repair_target[1], decision.level.name, ",".join(sorted(tracker.seen)),
                      "none" if newest is None else f"ts {newest.ts} from {newest.node_id}",
                      len(pending))
        if run.session is not None and run.session.receipts is not None:
            run.session.receipts.append(_receipt(run, decision, "read"))
        if pending and decision.level is not Level.ONE:
            self.loop.create_task(self._answer_after_repair(run, pending))
        else:
            run.on_done(tracker.newest, None)

    async def _answer_after_repair(self, run: "_Run", pending: list) -> None:
        await asyncio.wait(pending, timeout=run.remaining())
        run.on_done(run.tracker.newest, None)

    def _read_order(self, replicas: tuple[str, ...]) -> list[str]:
        """Replicas in the order reads ask them: this node, then live peers with an
        open connection, then the rest. A read asks as many as its level needs and asks
        the next one only when one fails. Among live peers, one that this loop turn's
        frame already goes to comes first: the reads of a turn then travel in fewer
        frames, and each frame costs a write and a wake-up of its peer."""
        me, connected, is_down = self.node_id, self.transport.is_connected, self.is_down
        queued = self.transport.has_queued
        first, queued_live, live, last = [], [], [], []
        for node in replicas:
            if node == me:
                first.append(node)
            elif connected(node) and not is_down(node):
                (queued_live if queued(node) else live).append(node)
            else:
                last.append(node)
        return first + queued_live + live + last

    def repair(self, run: "_Run") -> list:
        """Send the newest version to stale replicas; futures of their acks."""
        tracker: ReadQuorum = run.tracker
        stale = tracker.take_repairs()
        if not stale:
            return []
        ks, key, pkey = run.repair_target
        self.metrics.read_repairs.inc(len(stale))
        if self.debug:
            log.debug("read repair of %r: ts %d to %s", key, tracker.newest.ts,
                      ",".join(stale))
        message = m.Put(ks.name, key, tracker.newest)
        pending = []
        for node in stale:
            if node == self.node_id:
                written = self.loop.create_future()
                self.storage.write_soon([(ks.keyspace_id, pkey, tracker.newest)],
                                        lambda error, f=written: f.set_result(error))
                pending.append(written)
            else:
                pending.append(run.request(node, message))
        return pending

    # ---- scans -----------------------------------------------------------------

    async def scan_page(self, keyspace: str, position: int, limit: int,
                        level: Level) -> ScanPage:
        """Live keys of one range from hash ``position`` on, about ``limit``."""
        ks = self._keyspace(keyspace)
        start = hash_prefix(position)
        rng = self.ranges.lookup(keyspace, start)
        tracker = Quorum(level, rng.replicas)
        done = self.loop.create_future()
        run = _Run(self, tracker, _scan_decided, lambda d: settle(done, d, None))
        run.replies = {}
        for node in rng.replicas:
            if node == self.node_id:
                _on_scan_reply(run, node, scan_range(self.storage, ks.keyspace_id, start,
                                                     rng.end, limit))
            else:
                run.send(node, m.Scan(keyspace, start, rng.end, limit), _on_scan_reply)
        decision = await done
        if not decision.ok:
            raise self._failed(decision)
        replies = run.replies
        if self.truncated and ks.keyspace_id in self.truncated:
            replies = {node: reply._replace(items=tuple(
                (key, v) for key, v in reply.items if self.visible(ks, node, v) is not None))
                for node, reply in replies.items()}
        return merge_pages(list(replies.values()), rng.end, self.clock_ms())


# ---- decided: (run, decision) -> None, then the caller's on_done ---------------------

def _write_decided(run: "_Run", decision) -> None:
    if run.coordinator.debug:
        log.debug("write %r: %s %s (acks from %s; hinted %s)", run.write[1],
                  decision.level.name, "reached" if decision.ok else "not met",
                  ",".join(sorted(run.tracker.answered)) or "none",
                  ",".join(run.hinted) or "none")
    session = run.session
    if session is not None:
        if decision.ok:  # held by the replicas that acknowledged it (not by hints)
            answered = run.tracker.answered
            session.observe(run.write[3].ts, len(answered - set(run.hinted)) if run.hinted
                            else len(answered))
        if session.receipts is not None:
            session.receipts.append(_receipt(run, decision, "write"))
    run.on_done(None if decision.ok else run.coordinator._failed(decision))


def _receipt(run: "_Run", decision, op: str) -> dict:
    """What a request did, for a client that asked (QKV.RECEIPT, ?receipt=1)."""
    tracker = run.tracker
    target = run.write if op == "write" else run.repair_target
    receipt = {
        "op": op,
        "key": target[1].decode("utf-8", "replace"),
        "level": decision.level.name,
        "ok": decision.ok,
        "timed_out": decision.timed_out,
        "replicas": list(tracker.replicas),
        "answered": sorted(tracker.answered),
        "failed": sorted(tracker.failed),
    }
    if op == "write":
        receipt["version"] = _version_json(run.write[3])
        receipt["hinted"] = sorted(run.hinted)
    else:
        receipt["versions"] = {node: _version_json(v) for node, v in tracker.seen.items()}
        receipt["newest"] = _version_json(tracker.newest)
        receipt["read_repaired"] = tracker.repaired
        receipt["asked_all_for_session"] = bool(run.session and run.session.enforced
                                               and len(tracker.seen) > decision.required)
    return receipt


def _version_json(version) -> dict | None:
    if version is None:
        return None
    return {"ts": version.ts, "coordinator": version.node_id, "tombstone": version.tombstone}


def _read_decided(run: "_Run", decision) -> None:
    run.coordinator._after_read(run, decision)


def _scan_decided(run: "_Run", decision) -> None:
    run.on_done(decision)


def settle(future: asyncio.Future, result, error) -> None:
    """Resolve ``future`` from a callback's ``(result, error)``, unless it is done
    (a caller that stopped waiting cancelled it)."""
    if not future.done():
        future.set_exception(error) if error is not None else future.set_result(result)


# ---- replies from replicas: (run, node, reply) -> None ------------------------------

def _on_put_reply(run: "_Run", node: str, reply) -> None:
    ok = isinstance(reply, m.PutAck)
    run.decide(run.tracker.on_ack(node) if ok else run.tracker.on_failure(node))


def _on_digest_reply(run: "_Run", node: str, reply) -> None:
    _on_get_reply(run, node, reply, digest=True)


def _ignore_reply(reply, error) -> None:
    return None


def _on_get_reply(run: "_Run", node: str, reply, digest: bool = False) -> None:
    tracker: ReadQuorum = run.tracker
    coordinator = run.coordinator
    if not coordinator.usable(reply, node):  # as if it had failed
        run._ask_spare()
        run.decide(tracker.on_failure(node))
        return
    version = reply.version
    if coordinator.truncated:  # flushed: what the replica has may be gone
        version = coordinator.visible(run.repair_target[0], node, version)
    was_decided = tracker.decision is not None
    run.decide(tracker.on_answer(node, version, digest))
    if was_decided:  # a late answer: repair in the background
        run.coordinator.repair(run)


def _on_scan_reply(run: "_Run", node: str, reply) -> None:
    if not isinstance(reply, m.ScanReply):
        run.decide(run.tracker.on_failure(node))
        return
    run.replies[node] = reply
    run.decide(run.tracker.on_ack(node))


class _Run:
    """One coordinated request: its tracker, outstanding replica requests and what
    to call once it is decided. At the deadline, requests still outstanding are
    forgotten and the tracker is told; answers before then still reach it (reads
    use late answers to repair)."""

    __slots__ = ("coordinator", "tracker", "decided", "on_decided", "on_done",
                 "outstanding", "deadline", "speculation", "repair_target", "replies",
                 "spares", "spare_request", "write", "session", "hinted")

    def __init__(self, coordinator: Coordinator, tracker: Quorum, on_decided,
                 on_done) -> None:
        self.coordinator = coordinator
        self.tracker = tracker
        self.decided = False
        self.on_decided = on_decided  # (run, decision): the coordinator's next step
        self.on_done = on_done        # the caller's callback
        self.outstanding: dict[str, int] = {}
        self.deadline = coordinator.deadlines.add(self)  # [due, run] entry
        self.speculation = None
        self.spares: list[str] = []  # replicas to ask if an asked one fails
        self.write = None  # (keyspace, key, pkey, version) of a write: for hints
        self.session = None  # the client's core.session.Session, if it has one
        self.hinted: list[str] = []  # replicas a hint was stored for

    def request(self, node: str, message) -> asyncio.Future:
        """A request outside the tracker (a read repair, a session's extra read): a
        future of the reply (None if it failed); forgotten at the deadline."""
        acked = self.coordinator.loop.create_future()
        if self.deadline[1] is None:  # released already: the repair needs a deadline
            self.deadline = self.coordinator.deadlines.add(self)

        def on_done(reply, error) -> None:
            self.outstanding.pop(node, None)
            if not acked.done():
                acked.set_result(reply)

        self.outstanding[node] = self.coordinator.transport.send_request(node, message, on_done)
        return acked

    def speculate(self) -> None:
        """Called when a read's asked replicas are slow: ask one more (speculative
        retry), so one silent replica costs latency, not a failed read."""
        if self._ask_spare():
            self.coordinator.metrics.speculative_retries.inc()
            if self.coordinator.debug:
                log.debug("read %r: slow replicas, speculative retry", self.repair_target[1])

    def _ask_spare(self) -> bool:
        """Ask the next replica not asked yet, if the request is still undecided."""
        if self.decided or not self.spares:
            return False
        self.send(self.spares.pop(0), *self.spare_request)
        return True

    def send(self, node: str, message, on_reply) -> None:
        def on_done(reply, error) -> None:
            self.outstanding.pop(node, None)
            if self.decided and type(reply) is m.PutAck:  # a late write ack: done with
                self._release_if_finished()                 # it (reads still repair)
                return
            if error is None and not isinstance(reply, m.ErrorReply):
                on_reply(self, node, reply)  # every on_reply ends in decide()
                return
            if error is not None:
                self.coordinator.metrics.replica_failures.inc()
            else:
                log.warning("replica %s: %s", node, reply.message)
            if self.write is not None and error is not None:
                # unreachable: keep it as a hint (a replica that refused the write,
                # as for clock skew, would refuse the hint as well)
                self.coordinator.hint(self, node)
                return
            self._ask_spare()
            self.decide(self.tracker.on_failure(node))

        self.outstanding[node] = self.coordinator.transport.send_request(node, message, on_done)

    def decide(self, decision) -> None:
        if decision is not None and not self.decided:
            self.decided = True
            self._release_if_finished()
            self.on_decided(self, decision)
        else:
            self._release_if_finished()

    def _release_if_finished(self) -> None:
        """Decided and nothing outstanding: leave the timers now."""
        if not self.outstanding and self.decided:
            Deadlines.cancel(self.deadline)
            if self.speculation is not None:
                Deadlines.cancel(self.speculation)

    def remaining(self) -> float:
        return self.coordinator.deadlines.remaining(self.deadline[0])

    def expire(self) -> None:
        """Called by the deadline sweep."""
        late = list(self.outstanding)
        if late:
            self.coordinator.metrics.replica_timeouts.inc(len(late))
            for node, req_id in self.outstanding.items():
                self.coordinator.transport.forget(node, req_id)
            self.outstanding.clear()
        self.decide(self.tracker.on_timeout())
        if self.write is not None:
            for node in late:  # no answer in time: it may lack the write
                self.coordinator.hint(self, node)
