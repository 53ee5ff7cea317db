"""Keyspace truncations (FLUSHDB) on this node: applying them, sweeping, learning them.

core/truncation.py has the rule (versions at or below ``T`` are gone) and the
records; storage/engine.py hides and drops such versions. This module does the
rest of the local work, for every path a truncation arrives by: a ``Truncate``
request (from the FLUSHDB's coordinator, a hint, a read repair), the
coordinator's own part, an anti-entropy exchange, or the peers asked at start.

* :meth:`Truncations.apply` refuses a ``T`` from a clock too far ahead (as a
  ``Put``: it would hide writes made after it), moves the HLC past ``T`` (this
  node's next writes sort after the FLUSHDB), records the truncation and, when
  the storage could not drop the keyspace's span at once, sweeps.
* :meth:`Truncations.sweep` walks the keyspace in chunks, yielding to the event
  loop, and deletes the versions the truncation hides that are still stored as
  seen; a write that arrives meanwhile is newer and stays.
* :meth:`Truncations.learn_from_peers` asks every peer for its truncations when
  the node starts, before it serves clients, so a node that was down during a
  FLUSHDB does not answer with the flushed data (bounded wait: peers that do not
  answer in time are left to hints and anti-entropy).
"""

from __future__ import annotations

import asyncio
import logging

from ..core import messages as m
from ..core.hlc import beyond_skew
from ..core.version import Version
from ..core.keys import storage_key

log = logging.getLogger(__name__)
CHUNK = 2000  # entries walked between two yields to the event loop
LEARN_TIMEOUT_S = 1.0


class TruncationRefused(Exception):
    """A truncation from a clock too far ahead of this node's."""


class Truncations:
    def __init__(self, storage, ranges, hlc, clock_ms, max_skew_ms: int) -> None:
        self.storage = storage
        self.ranges = ranges
        self.hlc = hlc
        self.clock_ms = clock_ms
        self.max_skew_ms = max_skew_ms

    def table(self) -> tuple:
        """``((keyspace name, T), ...)`` of this node's truncations."""
        truncated = self.storage.truncated
        return tuple((ks.name, truncated[ks.keyspace_id])
                     for ks in self.ranges.keyspaces.values() if ks.keyspace_id in truncated)

    async def apply(self, keyspace: str, ts: int, sync: bool = False) -> bool:
        """Truncate ``keyspace`` here at ``ts``; returns once durable and, with
        ``sync``, once the old versions are deleted. True if ``ts`` was newer than
        the truncation held. Raises :class:`TruncationRefused` (clock skew) or the
        storage's error."""
        now = self.clock_ms()
        ahead = beyond_skew(ts, now, self.max_skew_ms)
        if ahead:
            raise TruncationRefused(
                f"clock skew: a truncation of {keyspace} is {ahead} ms ahead of this "
                f"node's clock (node.max_clock_skew_ms = {self.max_skew_ms}); refused")
        ks = self.ranges.keyspaces[keyspace]
        self.hlc.observe(ts, now)
        newer = ts > self.storage.truncated.get(ks.keyspace_id, -1)
        durable = asyncio.get_running_loop().create_future()
        needs_sweep = self.storage.truncate(ks.keyspace_id, ts, lambda e: _settle(durable, e))
        if newer:
            log.info("keyspace %s truncated at %d", keyspace, ts)
        sweep = None
        if needs_sweep:
            sweep = asyncio.ensure_future(self.sweep(ks.keyspace_id))
            sweep.add_done_callback(_log_failure)
        error = await durable
        if error is not None:
            raise error
        if sync and sweep is not None:
            await sweep
        return newer

    def learn(self, keyspace: str, ts: int) -> None:
        """Take a truncation a peer holds, in the background, if it is newer."""
        ks = self.ranges.keyspaces.get(keyspace)
        if ks is not None and ts > self.storage.truncated.get(ks.keyspace_id, -1):
            asyncio.ensure_future(self._learn(keyspace, ts))

    async def _learn(self, keyspace: str, ts: int) -> None:
        try:
            await self.apply(keyspace, ts)
        except Exception as exc:
            log.warning("truncation of %s at %d not taken: %s", keyspace, ts, exc)

    async def sweep(self, keyspace_id: int) -> int:
        """Delete the stored versions that the keyspace's truncation hides; the
        number deleted."""
        storage = self.storage
        ts = storage.unswept.get(keyspace_id)
        if ts is None:
            return 0
        deleted, candidates = 0, []
        for i, (pkey, raw) in enumerate(storage.iter_range_raw(keyspace_id, b"", b"",
                                                               include_hidden=True)):
            if Version.decode(raw).ts <= ts:
                candidates.append(storage_key(keyspace_id, pkey))
            if i % CHUNK == CHUNK - 1:
                deleted += self._delete_hidden(candidates, ts)
                candidates = []
                await asyncio.sleep(0)
        deleted += self._delete_hidden(candidates, ts)
        done = asyncio.get_running_loop().create_future()
        storage.swept(keyspace_id, ts, lambda e: _settle(done, e))
        error = await done
        if error is not None:
            raise error
        log.info("truncation sweep deleted %d versions", deleted)
        return deleted

    def _delete_hidden(self, skeys: list, ts: int) -> int:
        """Delete those of ``skeys`` whose stored version is still at or below
        ``ts`` (no await in here: a newer write queued later in this turn lands
        after the delete, in the same batch)."""
        if not skeys:
            return 0
        current = self.storage.get_raw_many(skeys)
        doomed = [(k, None) for k, raw in zip(skeys, current)
                  if raw is not None and Version.decode(raw).ts <= ts]
        if doomed:
            self.storage.write_raw_soon(doomed, lambda error: None)
        return len(doomed)

    async def resume_sweeps(self) -> None:
        """Finish the sweeps a restart interrupted."""
        for keyspace_id in list(self.storage.unswept):
            try:
                await self.sweep(keyspace_id)
            except Exception:
                log.exception("truncation sweep failed")

    async def learn_from_peers(self, transport, peers: list[str],
                               timeout_s: float = LEARN_TIMEOUT_S) -> None:
        """Ask every peer for its truncations and take the newer ones (at start,
        before serving: a node that missed a FLUSHDB must not serve the old data)."""
        async def ask(peer: str):
            try:
                return await asyncio.wait_for(transport.request(peer, m.TruncationsRequest()),
                                              timeout_s)
            except Exception:
                return None  # down or slow: hints and anti-entropy bring it later

        replies = await asyncio.gather(*(ask(p) for p in peers))
        for peer, reply in zip(peers, replies):
            if not isinstance(reply, m.TruncationsReply):
                continue
            for keyspace, ts in reply.items:
                ks = self.ranges.keyspaces.get(keyspace)
                if ks is None or ts <= self.storage.truncated.get(ks.keyspace_id, -1):
                    continue
                try:
                    await self.apply(keyspace, ts)
                    log.info("learned from %s the truncation of %s at %d", peer, keyspace, ts)
                except Exception as exc:
                    log.warning("truncation of %s from %s not taken: %s", keyspace, peer, exc)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("truncation sweep failed", exc_info=task.exception())


def _settle(future: asyncio.Future, error) -> None:
    if not future.done():
        future.set_result(error)
