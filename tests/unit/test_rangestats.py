"""This node's per-range rows: sizes of the ranges it stores, load it coordinated."""

from __future__ import annotations

import asyncio

from quorumkv.core.load import RangeLoad
from quorumkv.core.placement import Keyspace, RangeMap, bootstrap_ranges
from quorumkv.core.version import Version
from quorumkv.node.rangestats import RangeStats
from quorumkv.storage.engine import Durability, Storage


def test_sizes_count_only_the_ranges_this_node_stores_and_load_comes_from_the_counters(
        tmp_path):
    ks = Keyspace("default", 1, replication_factor=1)
    ranges = RangeMap()
    ranges.add_keyspace(ks, bootstrap_ranges(ks, ["n1", "n2"], 4))
    storage = Storage(str(tmp_path), Durability.PERIODIC)
    keys = [f"key{i}".encode() for i in range(3000)]
    storage.apply([(1, ks.placement_key(k), Version(10 + i, "n1", value=b"v" * 10))
                   for i, k in enumerate(keys)])
    mine = [r for r in ranges.all_ranges() if "n1" in r.replicas]
    expected = {r.range_id: sum(1 for k in keys if r.contains(ks.placement_key(k)))
                for r in mine}
    load = RangeLoad()
    now = [0.0]
    stats = RangeStats("n1", ranges, storage, load, clock_s=lambda: now[0])
    asyncio.run(stats.measure_sizes())
    load.sample(0.0)
    hot = mine[0].range_id
    for _ in range(30):
        load.count_read(hot)
    now[0] = 10.0
    rows = {row["range_id"]: row for row in stats.local_rows()}
    assert len(rows) == 4
    for r in ranges.all_ranges():
        row = rows[r.range_id]
        if r.range_id in expected:
            assert row["keys"] == expected[r.range_id] > 0
            assert row["bytes"] > row["keys"] * 10  # key, placement hash and value
        else:  # stored on n2 only: n1 has no size for it
            assert row["keys"] is None and row["bytes"] is None
    assert rows[hot]["reads"] == 30 and rows[hot]["reads_per_s"] == 3.0
    assert sum(row["keys"] or 0 for row in rows.values()) == len(keys) - sum(
        1 for k in keys if not any(r.contains(ks.placement_key(k)) for r in mine))
    storage.close()
