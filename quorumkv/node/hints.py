"""Hinted handoff: keep writes for a replica that is down and deliver them later.

The coordinator stores a hint in its own storage (core/hints.py has the layout)
when a replica of a write is down, cannot be reached or does not answer by the
deadline (a replica that answers with a refusal, as for clock skew, gets no hint:
it would refuse the hint as well). Hints are bounded per target (``node.max_hints_per_target``; past it
a hint is dropped, counted in ``qkv_hints_dropped_total`` and logged: anti-entropy
repairs what a dropped hint would have carried).

Delivery: every ``DELIVERY_INTERVAL_S`` each target that the failure detector
sees up gets its oldest hints as ordinary ``Put`` requests, at most
``node.hint_delivery_rate`` per second; a hint is deleted once its ``Put`` is
acknowledged, and kept for the next round otherwise. Each ``Put`` is routed by
the range map as it is at delivery (range id and generation of the key's range
then); a typed redirect with a newer descriptor refreshes the map, and the hint
goes out by it in the next round.

The log says when a target starts getting hints, when its backlog is delivered,
and in between sums up every ``LOG_EVERY_S`` (stored, delivered, pending per
target): a few lines per outage, never one per hint.

A truncation (FLUSHDB) that a node did not acknowledge is owed to it the same way
(core/truncation.py has the record): one per target and keyspace, the latest
one, never dropped over the bound, delivered as a ``Truncate`` before the
target's write hints, and counted in its pending hints.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..core import hints as h
from ..core import messages as m
from ..core import truncation as tr
from ..core.version import Version

log = logging.getLogger(__name__)
DELIVERY_INTERVAL_S = 0.25
LOG_EVERY_S = 10.0


class HintLog:
    """Hint counts per target since they were last logged. Each kind of line
    (start, delivered, summary) is written at most once per ``LOG_EVERY_S`` per
    target; what a skipped line would have said goes into the next summary."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.stored: dict[str, int] = {}
        self.delivered: dict[str, int] = {}
        self._last: dict[tuple[str, str], float] = {}
        self._summarised = clock()

    def _may(self, kind: str, target: str) -> bool:
        now = self.clock()
        last = self._last.get((kind, target))
        if last is not None and now - last < LOG_EVERY_S:
            return False
        self._last[(kind, target)] = now
        return True

    def on_stored(self, target: str, pending: int) -> None:
        self.stored[target] = self.stored.get(target, 0) + 1
        if pending == 1 and self._may("start", target):
            log.info("storing hints for %s: it missed a write (down, unreachable or "
                     "too slow); they are delivered once it is up", target)

    def on_delivered(self, target: str, count: int, pending: int) -> None:
        self.delivered[target] = self.delivered.get(target, 0) + count
        if pending == 0 and self._may("done", target):
            log.info("hints for %s delivered: %d since the last report, none pending",
                     target, self.delivered.pop(target, 0))
            self.stored.pop(target, None)

    def summarise(self, pending: dict[str, int]) -> None:
        """Every ``LOG_EVERY_S``: one line per target with hint activity since."""
        if self.clock() - self._summarised < LOG_EVERY_S:
            return
        self._summarised = self.clock()
        for target in sorted(set(self.stored) | set(self.delivered)):
            log.info("hints for %s: %d stored, %d delivered in the last %.0f s; %d pending",
                     target, self.stored.pop(target, 0), self.delivered.pop(target, 0),
                     LOG_EVERY_S, pending.get(target, 0))


class HintedHandoff:
    def __init__(self, storage, transport, is_down, metrics, max_per_target: int,
                 rate_per_s: int, monotonic_s=time.monotonic, *, ranges) -> None:
        self.storage = storage
        self.ranges = ranges  # the node's range map: hints are routed at delivery
        self.transport = transport
        self.is_down = is_down
        self.metrics = metrics
        self.max_per_target = max_per_target
        self.rate_per_s = rate_per_s
        # target -> {keyspace id: (keyspace name, T)}: truncations owed to it
        self.owed: dict[str, dict[int, tuple[str, int]]] = self._load_owed()
        self.pending: dict[str, int] = self._count_stored()
        for target, n in self.pending.items():
            metrics.hints_pending.labels(target).set(n)
        if self.pending:  # kept from the last run: delivered once the targets are up
            log.info("hints recounted from storage: %s", ", ".join(
                f"{n} for {target}" for target, n in sorted(self.pending.items())))
        self._dropped_logged: set[str] = set()
        self.activity = HintLog(monotonic_s)  # the sim's virtual clock there

    def _count_stored(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        prefix = h.all_hints_prefix()
        for key, _ in self.storage.scan_raw(prefix, 1 << 62):
            target = h.hint_target(key)
            counts[target] = counts.get(target, 0) + 1
        for target, owed in self.owed.items():
            counts[target] = counts.get(target, 0) + len(owed)
        return counts

    def _load_owed(self) -> dict:
        owed: dict[str, dict[int, tuple[str, int]]] = {}
        for key, raw in self.storage.scan_raw(tr.all_owed_prefix(), 1 << 62):
            target, keyspace_id = tr.parse_owed_key(key)
            owed.setdefault(target, {})[keyspace_id] = tr.decode_owed(raw)
        return owed

    def store_truncation(self, target: str, keyspace: str, keyspace_id: int, ts: int,
                         on_durable) -> bool:
        """Owe ``target`` the truncation of a keyspace at ``ts`` (kept whatever the
        bound: it replaces any older one owed); ``on_durable(error)`` once stored."""
        owed = self.owed.setdefault(target, {})
        held = owed.get(keyspace_id)
        if held is not None and held[1] >= ts:
            self.storage.write_soon((), on_durable)  # already owed: durable
            return True
        if held is None:
            n = self.pending.get(target, 0) + 1
            self.pending[target] = n
            self.metrics.hints_pending.labels(target).set(n)
        owed[keyspace_id] = (keyspace, ts)
        self.metrics.hints_stored.labels(target).inc()
        self.storage.write_raw_soon([(tr.owed_key(target, keyspace_id),
                                      tr.encode_owed(keyspace, ts))], on_durable)
        return True

    def store(self, target: str, keyspace: str, keyspace_id: int, key: bytes, pkey: bytes,
              version: Version, on_durable) -> bool:
        """Queue a hint for ``target``; ``on_durable(error)`` once stored. False (and
        no callback) if the target's bound is reached and the hint was dropped."""
        n = self.pending.get(target, 0)
        if n >= self.max_per_target:
            self.metrics.hints_dropped.labels(target).inc()
            if target not in self._dropped_logged:
                self._dropped_logged.add(target)
                log.warning("hints for %s reached node.max_hints_per_target (%d): "
                            "dropping; repair will bring it up to date", target,
                            self.max_per_target)
            return False
        self.pending[target] = n + 1
        self.metrics.hints_stored.labels(target).inc()
        self.metrics.hints_pending.labels(target).set(n + 1)
        self.activity.on_stored(target, n + 1)
        record = (h.hint_key(target, version, keyspace_id, pkey),
                  h.encode_hint(keyspace, key, version))
        self.storage.write_raw_soon([record], on_durable)
        return True

    async def run(self) -> None:
        batch = max(1, int(self.rate_per_s * DELIVERY_INTERVAL_S))
        while True:
            await asyncio.sleep(DELIVERY_INTERVAL_S)
            self.activity.summarise(self.pending)
            for target, n in list(self.pending.items()):
                if n > 0 and not self.is_down(target):
                    try:
                        await self.deliver(target, batch)
                    except Exception:  # keep delivering to the others
                        log.exception("hint delivery to %s failed", target)

    async def deliver(self, target: str, limit: int) -> int:
        """Send the truncations owed to ``target``, then up to ``limit`` of its
        oldest hints; delete the acknowledged ones. Returns how many were delivered."""
        delivered = await self._deliver_truncations(target)
        records = self.storage.scan_raw(h.hint_prefix(target), limit)
        if not records:
            left_now = len(self.owed.get(target, ()))
            self.pending[target] = left_now
            self.metrics.hints_pending.labels(target).set(left_now)
            return delivered
        loop = asyncio.get_running_loop()
        acked: list[bytes] = []
        waiting = loop.create_future()
        left = len(records)

        def answered(hint_key: bytes, reply, error) -> None:
            nonlocal left
            if error is None and isinstance(reply, m.PutAck):
                acked.append(hint_key)
            elif error is None and isinstance(reply, m.ErrorReply):
                self._refresh(reply, target)
            left -= 1
            if left == 0 and not waiting.done():
                waiting.set_result(None)

        ids = []
        for hint_key, raw in records:
            keyspace, key, version = h.decode_hint(raw)
            if keyspace not in self.ranges.keyspaces:  # dropped: nothing to deliver
                answered(hint_key, m.PUT_ACK, None)    # so the hint is deleted
                continue
            ids.append(self.transport.send_request(
                target, self._routed_put(keyspace, key, version),
                lambda reply, error, k=hint_key: answered(k, reply, error)))
        try:
            await asyncio.wait_for(asyncio.shield(waiting), 5.0)
        except asyncio.TimeoutError:
            for req_id in ids:
                self.transport.forget(target, req_id)
        if acked:
            deleted = loop.create_future()
            self.storage.write_raw_soon([(k, None) for k in acked],
                                        lambda error: deleted.set_result(error))
            await deleted
            left_now = max(0, self.pending.get(target, 0) - len(acked))
            self.pending[target] = left_now
            self.metrics.hints_delivered.labels(target).inc(len(acked))
            self.metrics.hints_pending.labels(target).set(left_now)
            self._dropped_logged.discard(target)
            self.activity.on_delivered(target, len(acked), left_now)
        return delivered + len(acked)

    def _routed_put(self, keyspace: str, key: bytes, version: Version) -> m.Put:
        """The hint as a Put routed by the key's range as the map has it now."""
        ks = self.ranges.keyspaces[keyspace]
        rng = self.ranges.lookup(keyspace, ks.placement_key(key))
        return m.Put(keyspace, key, version, rng.range_id, rng.generation)

    def _refresh(self, reply: m.ErrorReply, target: str) -> None:
        """A redirect's newer descriptor into the map (the next round uses it)."""
        if reply.code not in (m.ErrorCode.STALE_GENERATION, m.ErrorCode.RANGE_NOT_FOUND):
            return
        for descriptor in self.ranges.refresh(reply.payload):
            log.info("range %d refreshed to generation %d from %s (hint delivery)",
                     descriptor.range_id, descriptor.generation, target)

    async def _deliver_truncations(self, target: str) -> int:
        owed = self.owed.get(target)
        if not owed:
            return 0
        loop = asyncio.get_running_loop()
        done = []
        for keyspace_id, (keyspace, ts) in list(owed.items()):
            if keyspace not in self.ranges.keyspaces:  # dropped: its data is gone anyway
                done.append((keyspace_id, (keyspace, ts)))
                continue
            try:
                reply = await asyncio.wait_for(
                    self.transport.request(target, m.Truncate(keyspace, ts)), 5.0)
            except Exception:  # unreachable or slow: kept for the next round
                return 0
            if isinstance(reply, m.PutAck):
                done.append((keyspace_id, (keyspace, ts)))
        # not one that a later FLUSHDB replaced meanwhile
        done = [k for k, held in done if owed.get(k) == held]
        for keyspace_id in done:
            del owed[keyspace_id]
        if done:
            deleted = loop.create_future()
            self.storage.write_raw_soon([(tr.owed_key(target, k), None) for k in done],
                                        lambda error: deleted.set_result(error))
            await deleted
            left_now = max(0, self.pending.get(target, 0) - len(done))
            self.pending[target] = left_now
            self.metrics.hints_delivered.labels(target).inc(len(done))
            self.metrics.hints_pending.labels(target).set(left_now)
            log.info("delivered %d owed truncations to %s", len(done), target)
        return len(done)
