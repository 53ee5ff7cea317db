"""Anti-entropy: replicas of a range compare Merkle trees and exchange what differs.

For one range and one peer replica (``repair_range``):

1. both build the range's tree (core/merkle.py) from a consistent view of their
   storage; the peer sends its root and leaves (``TreeRequest``);
2. equal roots: done. Otherwise, for the buckets whose leaves differ, the peer
   sends per-key digests (``DigestRequest``);
3. keys whose digests differ are fetched from the peer (``FetchRequest``) and
   merged here, and this node's versions of them are pushed to the peer as
   ordinary ``Put`` requests (merged there). LWW decides on both sides, so the
   exchange only ever moves a replica forward.

The keyspace's truncation (FLUSHDB) travels with step 1 both ways, and each side
takes the later one before it compares digests: a replica that missed a FLUSHDB
learns it here, and no version older than the truncation is ever streamed in
either direction (storage drops such writes and hides such entries).

Every request names the range and the generation it was routed by. A peer that
answers with a typed redirect carrying a newer descriptor has it taken into this
node's range cache (one descriptor replaced), and the exchange of that range
ends there: the next pass compares by the refreshed descriptor.

``AntiEntropy.run`` does this in the background for every range this node
replicates, against every live peer replica, one range every
``node.anti_entropy_interval_ms`` (0: off); ``quorumkv repair`` runs it on demand
through ``POST /v1/repair``. Trees are built in chunks, yielding to the event loop,
so a large range does not stall requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from ..core import messages as m
from ..core.hlc import beyond_skew
from ..core.merkle import DEFAULT_DEPTH, MerkleTree, entry_hash, keys_to_exchange
from ..core.placement import HASH_BYTES
from ..errors import RangeNotFound
from ..core.version import Version
from .truncation import Truncations

log = logging.getLogger(__name__)
CHUNK = 2000          # entries hashed between two yields to the event loop
FETCH_BATCH = 500     # keys per FetchRequest / pushed per turn
REQUEST_TIMEOUT_S = 30.0


async def build_tree(storage, keyspace_id: int, start: bytes, end: bytes,
                     depth: int = DEFAULT_DEPTH) -> MerkleTree:
    tree = MerkleTree(start, end, depth)
    for i, (pkey, raw) in enumerate(storage.iter_range_raw(keyspace_id, start, end)):
        tree.add(pkey, raw)
        if i % CHUNK == CHUNK - 1:
            await asyncio.sleep(0)
    return tree


async def bucket_digests(storage, keyspace_id: int, start: bytes, end: bytes, depth: int,
                         buckets) -> dict[bytes, int]:
    """``{pkey: entry digest}`` for the entries in ``buckets`` of the range's tree."""
    wanted = set(buckets)
    tree = MerkleTree(start, end, depth)
    out = {}
    for i, (pkey, raw) in enumerate(storage.iter_range_raw(keyspace_id, start, end)):
        if tree.bucket(pkey) in wanted:
            out[pkey] = entry_hash(pkey, raw)
        if i % CHUNK == CHUNK - 1:
            await asyncio.sleep(0)
    return out


@dataclass
class RepairStats:
    ranges_compared: int = 0
    ranges_differing: int = 0
    keys_fetched: int = 0
    keys_pushed: int = 0
    bytes_exchanged: int = 0  # peer message bodies, both directions
    errors: list = field(default_factory=list)

    def add(self, other: "RepairStats") -> None:
        self.ranges_compared += other.ranges_compared
        self.ranges_differing += other.ranges_differing
        self.keys_fetched += other.keys_fetched
        self.keys_pushed += other.keys_pushed
        self.bytes_exchanged += other.bytes_exchanged
        self.errors += other.errors

    def summary(self) -> str:
        """One line for the log, with the same figures as ``quorumkv repair``."""
        return (f"ranges compared {self.ranges_compared}, differing "
                f"{self.ranges_differing}; keys streamed "
                f"{self.keys_fetched + self.keys_pushed} (fetched {self.keys_fetched}, "
                f"pushed {self.keys_pushed}); {self.bytes_exchanged} bytes exchanged")

    def to_json(self) -> dict:
        return {"ranges_compared": self.ranges_compared,
                "ranges_differing": self.ranges_differing,
                "keys_fetched": self.keys_fetched, "keys_pushed": self.keys_pushed,
                "keys_streamed": self.keys_fetched + self.keys_pushed,
                "bytes_exchanged": self.bytes_exchanged, "errors": self.errors}


class AntiEntropy:
    def __init__(self, node_id: str, ranges, storage, transport, is_down, hlc, clock_ms,
                 metrics, max_skew_ms: int, interval_s: float,
                 depth: int = DEFAULT_DEPTH, monotonic_s=time.monotonic) -> None:
        self.node_id = node_id
        self.monotonic_s = monotonic_s  # durations in the log (the sim's virtual clock)
        self.ranges = ranges
        self.storage = storage
        self.transport = transport
        self.is_down = is_down
        self.hlc = hlc
        self.clock_ms = clock_ms
        self.metrics = metrics
        self.max_skew_ms = max_skew_ms
        self.interval_s = interval_s
        self.depth = depth
        self.truncations = Truncations(storage, ranges, hlc, clock_ms, max_skew_ms)
        self._lock = asyncio.Lock()  # one exchange at a time from this node

    def my_ranges(self, keyspace: str | None = None, range_id: int | None = None) -> list:
        """This node's ranges of eventual keyspaces (a strong range's replicas agree
        through its Raft log, not by exchanging trees)."""
        eventual = {ks.name for ks in self.ranges.keyspaces.values() if ks.mode == "eventual"}
        return [r for r in self.ranges.all_ranges()
                if self.node_id in r.replicas and r.keyspace in eventual
                and (keyspace is None or r.keyspace == keyspace)
                and (range_id is None or r.range_id == range_id)]

    async def run(self) -> None:
        """Background repair: one range every interval, round robin; one log line
        per pass over every range (and one per range that differed)."""
        while True:
            started = self.monotonic_s()
            ranges = self.my_ranges()
            passed = RepairStats()
            if not ranges:  # a node that holds no range (one that just joined) waits
                await asyncio.sleep(self.interval_s)
                continue
            for rng in ranges:
                await asyncio.sleep(self.interval_s)
                for peer in rng.replicas:
                    if peer != self.node_id and not self.is_down(peer):
                        try:
                            passed.add(await self.repair_range(rng, peer))
                        except Exception as exc:
                            log.warning("anti-entropy of range %d with %s failed: %s",
                                        rng.range_id, peer, exc)
            log.info("anti-entropy pass over %d ranges in %.0f s: %s", len(ranges),
                     self.monotonic_s() - started, passed.summary())

    async def repair(self, keyspace: str | None = None, range_id: int | None = None,
                     progress=None) -> RepairStats:
        """Every matching range this node replicates, against each live peer replica;
        ``progress(done, total, stats)`` after each range."""
        todo = self.my_ranges(keyspace, range_id)
        total = RepairStats()
        started = self.monotonic_s()
        log.info("repair of %d ranges requested (keyspace %s, range %s)", len(todo),
                 keyspace or "any", range_id or "any")
        for done, rng in enumerate(todo, 1):
            for peer in rng.replicas:
                if peer == self.node_id:
                    continue
                if self.is_down(peer):
                    total.errors.append(f"range {rng.range_id}: {peer} is down")
                    continue
                try:
                    total.add(await self.repair_range(rng, peer))
                except Exception as exc:
                    total.errors.append(f"range {rng.range_id} with {peer}: {exc}")
            if progress is not None:
                await progress(done, len(todo), total)
        log.log(logging.WARNING if total.errors else logging.INFO,
                "repair of %d ranges done in %.1f s: %s%s", len(todo),
                self.monotonic_s() - started, total.summary(),
                f"; errors: {'; '.join(total.errors)}" if total.errors else "")
        return total

    async def _ask(self, peer: str, message, stats: RepairStats):
        stats.bytes_exchanged += len(m.encode(1, message))
        reply = await asyncio.wait_for(self.transport.request(peer, message),
                                       REQUEST_TIMEOUT_S)
        if isinstance(reply, m.ErrorReply):
            error = reply.error()
            if isinstance(error, RangeNotFound):  # STALE_GENERATION too
                self._refresh(error, peer)
            raise error
        stats.bytes_exchanged += len(m.encode(-1, reply))
        return reply

    def _refresh(self, error: RangeNotFound, peer: str) -> None:
        """Take a newer descriptor a peer's redirect carries into the range cache."""
        for descriptor in self.ranges.refresh(error.descriptors):
            log.info("range %d refreshed to generation %d from %s (anti-entropy)",
                         descriptor.range_id, descriptor.generation, peer)

    async def repair_range(self, rng, peer: str) -> RepairStats:
        async with self._lock:
            return await self._repair_range(rng, peer)

    async def _repair_range(self, rng, peer: str) -> RepairStats:
        stats = RepairStats(ranges_compared=1)
        ks = self.ranges.keyspaces[rng.keyspace]
        mine = await build_tree(self.storage, ks.keyspace_id, rng.start, rng.end, self.depth)
        root = mine.root()
        truncated = self.storage.truncated.get(ks.keyspace_id, 0)
        address = (rng.range_id, rng.generation)
        theirs = await self._ask(peer, m.TreeRequest(ks.name, rng.start, rng.end, self.depth,
                                                     root, truncated, *address), stats)
        if theirs.truncated > truncated:  # they hold a later FLUSHDB: take it first
            await self._take_truncation(ks.name, theirs.truncated, peer)
        if theirs.root == root:
            log.debug("anti-entropy of range %d with %s: trees equal", rng.range_id, peer)
            return stats
        stats.ranges_differing = 1
        buckets = tuple(mine.differing_buckets(theirs.leaves))
        their_digests = dict((await self._ask(peer, m.DigestRequest(
            ks.name, rng.start, rng.end, self.depth, buckets, *address), stats)).items)
        my_digests = await bucket_digests(self.storage, ks.keyspace_id, rng.start, rng.end,
                                          self.depth, buckets)
        fetch, push = keys_to_exchange(my_digests, their_digests)
        theirs_now: dict[bytes, Version] = {}
        for i in range(0, len(fetch), FETCH_BATCH):
            reply = await self._ask(peer, m.FetchRequest(
                ks.name, tuple(fetch[i:i + FETCH_BATCH]), *address), stats)
            theirs_now.update(reply.items)
            stats.keys_fetched += await self._merge_here(ks, reply.items)
        if theirs_now:  # where their version won here, there is nothing to push back
            mine_now = self.storage.get_many(ks.keyspace_id, push)
            push = [p for p, v in zip(push, mine_now) if theirs_now.get(p) != v]
        for i in range(0, len(push), FETCH_BATCH):
            batch = push[i:i + FETCH_BATCH]
            versions = self.storage.get_many(ks.keyspace_id, batch)
            puts = [m.Put(ks.name, pkey[HASH_BYTES:] if ks.partitioner == "hash" else pkey, v,
                          *address) for pkey, v in zip(batch, versions) if v is not None]
            replies = await asyncio.gather(*(self._ask(peer, put, stats) for put in puts),
                                           return_exceptions=True)
            stats.keys_pushed += sum(1 for r in replies if isinstance(r, m.PutAck))
        self.metrics.anti_entropy_keys.inc(stats.keys_fetched + stats.keys_pushed)
        log.info("anti-entropy of range %d with %s: trees differed; %d keys fetched, "
                 "%d pushed", rng.range_id, peer, stats.keys_fetched, stats.keys_pushed)
        return stats

    async def _take_truncation(self, keyspace: str, ts: int, peer: str) -> None:
        try:
            if await self.truncations.apply(keyspace, ts):
                log.info("learned from %s (anti-entropy) the truncation of %s at %d",
                         peer, keyspace, ts)
        except Exception as exc:  # refused for skew: its versions stay as they are
            log.warning("truncation of %s from %s not taken: %s", keyspace, peer, exc)

    async def _merge_here(self, ks, items) -> int:
        entries = []
        now = self.clock_ms()
        for pkey, version in items:
            if beyond_skew(version.ts, now, self.max_skew_ms):
                continue  # from a clock too far ahead: as replicas refuse such writes
            self.hlc.observe(version.ts, now)
            entries.append((ks.keyspace_id, pkey, version))
        if not entries:
            return 0
        done = asyncio.get_running_loop().create_future()
        self.storage.write_soon(entries, lambda error: done.set_result(error))
        error = await done
        if error is not None:
            raise error
        return len(entries)


def span_of(message) -> tuple[bytes, bytes] | None:
    """The placement keys ``[start, end)`` an anti-entropy request concerns (what
    the replica checks against the range it names); None for an empty fetch."""
    if isinstance(message, m.FetchRequest):
        if not message.pkeys:
            return None
        return min(message.pkeys), max(message.pkeys) + b"\0"
    return message.start, message.end


async def answer(storage, ranges, message, truncations: Truncations | None = None):
    """A replica's answer to an anti-entropy request (``truncations``: to take the
    asker's later truncation of the keyspace before building the tree)."""
    ks = ranges.keyspaces[message.keyspace]
    if isinstance(message, m.TreeRequest):
        if truncations is not None and message.truncated > storage.truncated.get(
                ks.keyspace_id, 0):
            try:
                await truncations.apply(ks.name, message.truncated)
            except Exception as exc:
                log.warning("truncation of %s not taken: %s", ks.name, exc)
        tree = await build_tree(storage, ks.keyspace_id, message.start, message.end,
                                message.depth)
        root = tree.root()
        return m.TreeReply(root, b"" if root == message.root else tree.leaf_bytes(),
                           storage.truncated.get(ks.keyspace_id, 0))
    if isinstance(message, m.DigestRequest):
        digests = await bucket_digests(storage, ks.keyspace_id, message.start, message.end,
                                       message.depth, message.buckets)
        return m.DigestReply(tuple(digests.items()))
    versions: list[Version | None] = storage.get_many(ks.keyspace_id, message.pkeys)
    return m.FetchReply(tuple((p, v) for p, v in zip(message.pkeys, versions)
                              if v is not None))
