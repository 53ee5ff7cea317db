"""Serves peer requests against local storage.

``Replica.register(transport)`` puts one handler per message type in the
transport's registry; each gets the requests of its type from one incoming read.
All the writes of one incoming read (one or many frames) go to storage as one
batch; their acknowledgements wait for that batch to be durable. Failures are
answered with typed errors (``ErrorReply`` with an ``errors.ErrorCode``).

Every request that concerns a range names the range id and generation it was
routed by; one this node does not hold at that generation (or whose key lies
outside it) is answered with a typed redirect carrying this node's descriptor
(core/placement/addressing.py has the rule). On the Put and Get path the check
is a dict lookup, an int compare and the key's bounds.
"""

from __future__ import annotations

import asyncio
import logging

from ..core import messages as m
from ..core.hlc import HLC, beyond_skew
from ..core.placement import RangeMap
from ..core.placement.addressing import point, refusal
from ..core.scan import group_prefix, page_items
from ..core.version import Version, new_tuple
from ..errors import ErrorCode
from ..storage import Storage
from . import antientropy
from .truncation import Truncations

log = logging.getLogger(__name__)
ANTI_ENTROPY_REQUESTS = (m.TreeRequest, m.DigestRequest, m.FetchRequest)
SCAN_LIMIT_MAX = 10_000
PUT_ACK = m.PUT_ACK


class Replica:
    def __init__(self, node_id: str, ranges: RangeMap, storage: Storage, hlc: HLC,
                 clock_ms, metrics, max_skew_ms: int = 500) -> None:
        self.max_skew_ms = max_skew_ms
        self.node_id = node_id
        self.ranges = ranges
        self.storage = storage
        self.hlc = hlc
        self.clock_ms = clock_ms
        self.metrics = metrics
        self.truncations = Truncations(storage, ranges, hlc, clock_ms, max_skew_ms)

    def register(self, transport) -> None:
        """Serve this replica's message types through ``transport``'s handler
        registry (net/transport.py ``Handlers``): each handler gets the requests
        of its type from one incoming read."""
        for cls, handler in ((m.Put, self._on_puts), (m.Get, self._on_gets),
                             (m.Scan, self._on_scans),
                             (m.Stats, self._on_stats), (m.Truncate, self._on_truncates),
                             (m.TruncationsRequest, self._on_truncations_requests),
                             *((cls, self._on_anti_entropy) for cls in ANTI_ENTROPY_REQUESTS)):
            transport.handle(cls, handler)

    def _on_puts(self, items: list, channel):
        """The writes of one read: one storage batch, acknowledged (one PutAcks on
        the wire) through ``channel.send_later`` once it is durable."""
        replies, puts, put_ids = [], [], []
        now = self.clock_ms()  # one reading serves the whole batch
        newest_ts = 0
        keyspaces = self.ranges.keyspaces
        held = self.ranges.held_by(self.node_id)
        for req_id, message in items:
            try:
                # one unpacking costs less than reading the named fields one by one
                name, key, version, range_id, generation = message
                ks = keyspaces.get(name)
                if ks is None or ks.mode != "eventual":
                    replies.append((req_id, self._unknown_keyspace(name, ks)))
                    continue
                pkey = ks.placement_key(key)
                rng = held.get(range_id)  # the range check (addressing.py), inline
                if (rng is None or rng.generation != generation or rng.keyspace != name
                        or pkey < rng.start or (rng.end and pkey >= rng.end)):
                    replies.append((req_id, self._misrouted(message, *point(pkey))))
                    continue
                ts = version.ts
                # a ts no newer than an already accepted one cannot be too far ahead
                if ts > newest_ts:
                    ahead = beyond_skew(ts, now, self.max_skew_ms)
                    if ahead:
                        replies.append((req_id, self._refuse_skewed(message, ahead)))
                        continue
                puts.append((ks.keyspace_id, pkey, version))
                put_ids.append(req_id)
                if ts > newest_ts:
                    newest_ts = ts
            except Exception as exc:  # one bad request must not sink the batch
                log.exception("peer request failed")
                replies.append((req_id, m.error_reply(exc)))
        if not puts:
            return replies
        self.hlc.observe(newest_ts, now)  # orders this node's next writes after them
        send_later = channel.send_later

        def durable(error) -> None:
            if error is not None:
                failed = m.ErrorReply(ErrorCode.STORAGE, f"storage: {error}")
                send_later([(i, failed) for i in put_ids])
            else:
                send_later([(i, PUT_ACK) for i in put_ids])

        self.storage.write_soon(puts, durable)
        return replies

    def _on_gets(self, items: list, channel) -> list:
        replies = []
        keyspaces = self.ranges.keyspaces
        held = self.ranges.held_by(self.node_id)
        get = self.storage.get
        for req_id, message in items:
            try:
                name, key, digest, range_id, generation = message  # one unpacking
                ks = keyspaces.get(name)
                if ks is None or ks.mode != "eventual":
                    replies.append((req_id, self._unknown_keyspace(name, ks)))
                    continue
                pkey = ks.placement_key(key)
                rng = held.get(range_id)  # the range check (addressing.py), inline
                if (rng is None or rng.generation != generation or rng.keyspace != name
                        or pkey < rng.start or (rng.end and pkey >= rng.end)):
                    replies.append((req_id, self._misrouted(message, *point(pkey))))
                    continue
                version = get(ks.keyspace_id, pkey)
                if digest and version is not None:  # the version, no value
                    version = new_tuple(Version, version[:4] + (b"",))
                replies.append((req_id, new_tuple(m.GetReply, (version,))))
            except Exception as exc:
                log.exception("peer request failed")
                replies.append((req_id, m.error_reply(exc)))
        return replies

    def _on_scans(self, items: list, channel) -> list:
        return [(req_id, self._answer(self._scan, message)) for req_id, message in items]

    def _on_stats(self, items: list, channel) -> list:
        keys, size = self.storage.stats()
        stats = m.StatsReply(self.node_id, keys, size, self.hlc.last)
        return [(req_id, stats) for req_id, _ in items]

    def _on_truncations_requests(self, items: list, channel) -> list:
        table = m.TruncationsReply(self.truncations.table())
        return [(req_id, table) for req_id, _ in items]

    def _on_truncates(self, items: list, channel) -> None:
        for req_id, message in items:  # answered once durable (and swept, if sync)
            asyncio.ensure_future(self._truncate(req_id, message, channel.send_later))

    def _on_anti_entropy(self, items: list, channel) -> None:
        for req_id, message in items:  # may scan a whole range: in a task, answered when done
            asyncio.ensure_future(self._anti_entropy(req_id, message, channel.send_later))

    def _answer(self, serve, message):
        """``serve(message)``, or the typed error it ends in."""
        try:
            return serve(message)
        except KeyError as exc:
            if message.keyspace not in self.ranges.keyspaces:
                return self._unknown_keyspace(message.keyspace)
            log.exception("peer request failed")
            return m.error_reply(exc)
        except Exception as exc:
            log.exception("peer request failed")
            return m.error_reply(exc)

    def _misrouted(self, message, start: bytes, end: bytes) -> m.ErrorReply | None:
        """The typed redirect for a request routed by a range this node does not
        serve it for, over placement keys ``[start, end)``; None if it does."""
        refused = refusal(self.ranges, self.node_id, message.keyspace, message.range_id,
                          message.generation, start, end)
        if refused is None:
            return None
        code, text, payload = refused
        log.debug("refused a request: %s", text)
        return m.ErrorReply(int(code), text, payload)

    def _unknown_keyspace(self, name: str, ks=None) -> m.ErrorReply:
        """A Put or Get for a keyspace this node does not know, or one whose ranges
        are written through Raft (a strong keyspace takes no eventual writes)."""
        if ks is not None:
            return m.ErrorReply(ErrorCode.UNKNOWN_KEYSPACE,
                                f"keyspace {name!r} at {self.node_id} is {ks.mode}: "
                                f"it is served by its Raft groups, not by replicas")
        return m.ErrorReply(ErrorCode.UNKNOWN_KEYSPACE,
                            f"unknown keyspace {name!r} at {self.node_id}")

    async def _truncate(self, req_id: int, message: m.Truncate, send_later) -> None:
        try:
            await self.truncations.apply(message.keyspace, message.ts, message.sync)
            reply = PUT_ACK
        except Exception as exc:
            log.warning("truncation of %s refused: %s", message.keyspace, exc)
            reply = m.error_reply(exc)
        send_later([(req_id, reply)])

    async def _anti_entropy(self, req_id: int, message, send_later) -> None:
        try:
            span = antientropy.span_of(message)
            reply = self._misrouted(message, *span) if span is not None else None
            if reply is None:
                reply = await antientropy.answer(self.storage, self.ranges, message,
                                                 self.truncations)
        except Exception as exc:
            log.exception("anti-entropy request failed")
            reply = m.error_reply(exc)
        send_later([(req_id, reply)])

    def _refuse_skewed(self, message: m.Put, ahead_ms: int) -> m.ErrorReply:
        self.metrics.clock_skew_refusals.inc()
        text = (f"clock skew: a version from {message.version.node_id} is {ahead_ms} ms "
                f"ahead of {self.node_id}'s clock (node.max_clock_skew_ms = "
                f"{self.max_skew_ms}); refused")
        log.warning("%s", text)
        return m.ErrorReply(ErrorCode.CLOCK_SKEW, text)

    def _scan(self, message: m.Scan) -> m.ScanReply:
        refused = self._misrouted(message, message.start, message.end)
        if refused is not None:
            return refused
        ks = self.ranges.keyspaces[message.keyspace]
        return scan_range(self.storage, ks, message.start, message.end, message.limit,
                          message.reverse)


def scan_range(storage: Storage, keyspace, start: bytes, end: bytes,
               limit: int, reverse: bool = False) -> m.ScanReply:
    """This node's page of a span of ``keyspace``; in a hash keyspace it never
    splits a group of keys that share one hash (see core.scan). ``reverse`` pages
    run from ``end`` down (a range keyspace's; a hash keyspace has no order to
    reverse, so it is refused)."""
    limit = max(1, min(limit, SCAN_LIMIT_MAX))
    group = group_prefix(keyspace)
    if reverse and group:
        raise ValueError(f"a reverse scan of hash keyspace {keyspace.name!r}")
    items, truncated, last = storage.scan(keyspace.keyspace_id, start, end, limit,
                                          group_prefix=group, reverse=reverse)
    return m.ScanReply(page_items(keyspace, items), truncated, last)
