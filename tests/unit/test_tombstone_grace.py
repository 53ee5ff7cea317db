"""The tombstone GC takes each keyspace's own grace period (gc_grace_ms)."""

from __future__ import annotations

import asyncio

from quorumkv.core.placement import Keyspace, RangeCache, bootstrap_ranges
from quorumkv.core.version import Version
from quorumkv.node.metrics import Metrics
from quorumkv.node.tombstones import TombstoneGC
from quorumkv.storage.engine import Durability, Storage

NOW_MS = 1_800_000_000_000
AGE_MS = 60_000  # every tombstone below was written a minute ago


def test_each_keyspace_purges_after_its_own_grace_period(tmp_path):
    short = Keyspace("short", 1, gc_grace_ms=1_000)                    # a minute is past it
    long = Keyspace("long", 2, partitioner="range", gc_grace_ms=3_600_000)  # not yet
    ranges = RangeCache()
    ranges.add_keyspace(short, bootstrap_ranges(short, ["n1"], 4))
    ranges.add_keyspace(long, bootstrap_ranges(long, ["n1"], first_range_id=5,
                                               split_points=["m"]))
    storage = Storage(str(tmp_path), Durability.PERIODIC)
    tomb = Version((NOW_MS - AGE_MS) << 16, "n1", tombstone=True)
    keys = [b"a", b"n", b"z"]
    storage.apply([(ks.keyspace_id, ks.placement_key(k), tomb) for ks in (short, long)
                   for k in keys])
    gc = TombstoneGC("n1", ranges, storage, lambda: NOW_MS, Metrics(), interval_s=1)

    async def sweep_and_settle() -> int:
        purged = await gc.sweep()
        done = asyncio.get_running_loop().create_future()
        storage.write_raw_soon([], lambda error: done.set_result(error))
        await done
        return purged

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(sweep_and_settle()) == 3
    finally:
        loop.close()
    left = {ks.name: [p for p, _ in storage.iter_range_raw(ks.keyspace_id, b"", b"",
                                                            include_hidden=True)]
            for ks in (short, long)}
    assert left == {"short": [], "long": keys}
    storage.close()
