"""Serves peer requests against local storage.

All the writes of one incoming read (one or many frames) go to storage as one
batch; their acknowledgements wait for that batch to be durable.
"""

from __future__ import annotations

import asyncio
import logging

from ..core import messages as m
from ..core.hlc import HLC, beyond_skew
from ..core.rangemap import RangeMap
from ..core.scan import group_prefix, page_items
from ..core.version import Version, new_tuple
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
        self.debug = log.isEnabledFor(logging.DEBUG)  # once: free per batch when off
        self.truncations = Truncations(storage, ranges, hlc, clock_ms, max_skew_ms)

    def handle(self, items: list, send_later):
        """``[(req_id, message)]`` in, the replies that are ready now out. Write
        acknowledgements wait for the storage batch of this loop turn to be
        durable and go out through ``send_later(replies)``."""
        replies, puts, put_ids = [], [], []
        now = self.clock_ms()  # one reading serves the whole batch
        newest_ts = 0
        keyspaces = self.ranges.keyspaces
        for req_id, message in items:
            try:
                cls = type(message)
                if cls is m.Put:
                    ks = keyspaces[message.keyspace]
                    ts = message.version.ts
                    # a ts no newer than an already accepted one cannot be too far ahead
                    if ts > newest_ts:
                        ahead = beyond_skew(ts, now, self.max_skew_ms)
                        if ahead:
                            replies.append((req_id, self._refuse_skewed(message, ahead)))
                            continue
                    puts.append((ks.keyspace_id, ks.placement_key(message.key),
                                 message.version))
                    put_ids.append(req_id)
                    if ts > newest_ts:
                        newest_ts = ts
                elif cls is m.Get:
                    ks = keyspaces[message.keyspace]
                    version = self.storage.get(ks.keyspace_id, ks.placement_key(message.key))
                    if message.digest and version is not None:  # the version, no value
                        version = new_tuple(Version, version[:4] + (b"",))
                    replies.append((req_id, new_tuple(m.GetReply, (version,))))
                elif isinstance(message, m.Scan):
                    replies.append((req_id, self._scan(message)))
                elif isinstance(message, ANTI_ENTROPY_REQUESTS):
                    # may scan a whole range: in a task, answered when done
                    asyncio.ensure_future(self._anti_entropy(req_id, message, send_later))
                elif isinstance(message, m.Ping):
                    replies.append((req_id, m.Pong(self.node_id)))
                elif isinstance(message, m.Stats):
                    keys, size = self.storage.stats()
                    replies.append((req_id, m.StatsReply(self.node_id, keys, size,
                                                         self.hlc.last)))
                elif cls is m.Truncate:  # answered once durable (and swept, if sync)
                    asyncio.ensure_future(self._truncate(req_id, message, send_later))
                elif cls is m.TruncationsRequest:
                    replies.append((req_id, m.TruncationsReply(self.truncations.table())))
                else:
                    replies.append((req_id, m.ErrorReply(f"unexpected {type(message).__name__}")))
            except Exception as exc:  # one bad request must not sink the batch
                log.exception("peer request failed")
                replies.append((req_id, m.ErrorReply(f"{type(exc).__name__}: {exc}")))
        if self.debug:
            log_requests(items)
        if not puts:
            return replies
        self.hlc.observe(newest_ts, now)  # orders this node's next writes after them

        def durable(error) -> None:
            if error is not None:
                failed = m.ErrorReply(f"storage: {error}")
                send_later([(i, failed) for i in put_ids])
            else:
                send_later([(i, PUT_ACK) for i in put_ids])

        self.storage.write_soon(puts, durable)
        return replies

    async def _truncate(self, req_id: int, message: m.Truncate, send_later) -> None:
        try:
            await self.truncations.apply(message.keyspace, message.ts, message.sync)
            reply = PUT_ACK
        except Exception as exc:
            log.warning("truncation of %s refused: %s", message.keyspace, exc)
            reply = m.ErrorReply(f"{type(exc).__name__}: {exc}")
        send_later([(req_id, reply)])

    async def _anti_entropy(self, req_id: int, message, send_later) -> None:
        try:
            reply = await antientropy.answer(self.storage, self.ranges, message,
                                             self.truncations)
        except Exception as exc:
            log.exception("anti-entropy request failed")
            reply = m.ErrorReply(f"{type(exc).__name__}: {exc}")
        send_later([(req_id, reply)])

    def _refuse_skewed(self, message: m.Put, ahead_ms: int) -> m.ErrorReply:
        self.metrics.clock_skew_refusals.inc()
        text = (f"clock skew: a version from {message.version.node_id} is {ahead_ms} ms "
                f"ahead of {self.node_id}'s clock (node.max_clock_skew_ms = "
                f"{self.max_skew_ms}); refused")
        log.warning("%s", text)
        return m.ErrorReply(text)

    def _scan(self, message: m.Scan) -> m.ScanReply:
        ks = self.ranges.keyspaces[message.keyspace]
        return scan_range(self.storage, ks, message.start, message.end, message.limit)


def log_requests(items: list) -> None:
    """One debug line per incoming batch, by message type (heartbeats left out)."""
    kinds: dict[str, int] = {}
    for _, message in items:
        if type(message) is not m.Ping:
            name = type(message).__name__
            kinds[name] = kinds.get(name, 0) + 1
    if kinds:
        log.debug("peer requests: %s", ", ".join(f"{n} {k}" for k, n in kinds.items()))


def scan_range(storage: Storage, keyspace, start: bytes, end: bytes,
               limit: int) -> m.ScanReply:
    """This node's page of a span of ``keyspace``; in a hash keyspace it never
    splits a group of keys that share one hash (see core.scan)."""
    limit = max(1, min(limit, SCAN_LIMIT_MAX))
    items, truncated, last = storage.scan(keyspace.keyspace_id, start, end, limit,
                                          group_prefix=group_prefix(keyspace))
    return m.ScanReply(page_items(keyspace, items), truncated, last)
