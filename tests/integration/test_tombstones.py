"""Tombstone GC: deletes and expired values are purged after the grace period,
and what is live stays."""

import time
import urllib.request

from .cluster import ProcessCluster


def purged(c, node_id: str) -> float:
    with urllib.request.urlopen(c.http(node_id) + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("qkv_tombstones_purged_total "):
                return float(line.split()[-1])
    raise AssertionError("no qkv_tombstones_purged_total metric")


def test_tombstones_and_expired_values_are_purged_after_the_grace_period(tmp_path):
    c = ProcessCluster(tmp_path, tombstone_gc_interval_ms=200,
                       cluster_settings={"gc_grace_ms": 500})
    try:
        c.start()
        r = c.redis("n1")
        for i in range(50):
            r.set(f"t:{i}", i)
        assert r.delete(*[f"t:{i}" for i in range(25)]) == 25
        for i in range(25, 35):
            r.set(f"t:{i}", i, px=50)
        deadline = time.monotonic() + 20
        while min(purged(c, n) for n in ("n1", "n2", "n3")) < 35:
            assert time.monotonic() < deadline, [purged(c, n) for n in ("n1", "n2", "n3")]
            time.sleep(0.2)
        assert all(purged(c, n) == 35 for n in ("n1", "n2", "n3"))  # nothing live purged
        all_ = c.redis("n2", consistency="ALL")
        assert [all_.get(f"t:{i}") for i in range(35)] == [None] * 35
        assert [all_.get(f"t:{i}") for i in range(35, 50)] == [str(i).encode()
                                                                for i in range(35, 50)]
    finally:
        c.close()
