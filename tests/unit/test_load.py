"""Per-range load counters and their rates over a window (core/load.py)."""

import pytest

from quorumkv.core.load import RangeLoad, merge_views, order_rows


def test_no_rate_before_the_first_sample():
    load = RangeLoad()
    load.count_read(1)
    assert load.rates(5.0) == {}
    load.sample(5.0)
    assert load.rates(5.0) == {}  # no time has passed


def test_rates_run_from_the_oldest_sample_to_the_totals_now():
    load = RangeLoad(window_s=60)
    load.sample(0.0)
    for _ in range(50):
        load.count_read(7)
    for _ in range(10):
        load.count_write(7)
    load.count_write(8)
    rates = load.rates(10.0)  # no second sample needed
    assert rates[7] == pytest.approx((5.0, 1.0))
    assert rates[8] == pytest.approx((0.0, 0.1))


def test_load_older_than_the_window_stops_counting():
    load = RangeLoad(window_s=60)
    load.sample(0.0)
    for _ in range(600):
        load.count_read(1)
    for t in range(5, 200, 5):
        load.sample(float(t))
    assert load.rates(200.0)[1][0] == 0.0  # the burst is more than a window ago
    assert load.reads[1] == 600  # totals are kept for the counters


def test_the_window_keeps_a_starting_point_a_window_back():
    load = RangeLoad(window_s=60)
    for t in range(0, 125, 5):
        load.sample(float(t))
        load.count_write(3)
    # one write every 5 s: 0.2 writes/s whatever the sampling phase
    assert load.rates(125.0)[3][1] == pytest.approx(0.2)
    assert 60 <= 125.0 - load._samples[0][0] <= 65


def row(node, rid, reads=0, writes=0, keys=None, size=None):
    return {"node_id": node, "range_id": rid, "keyspace": "ks", "start": "", "end": "",
            "replicas": ["n1", "n2"], "reads": reads, "writes": writes,
            "reads_per_s": float(reads), "writes_per_s": float(writes), "keys": keys,
            "bytes": size}


def test_merge_sums_loads_and_takes_the_largest_replica_size():
    merged = merge_views([[row("n1", 1, reads=3, keys=10, size=100), row("n1", 2, writes=1)],
                          [row("n2", 1, reads=2, writes=4, keys=12, size=90)]])
    first, second = merged
    assert (first["reads"], first["writes"], first["keys"], first["bytes"]) == (5, 4, 12, 100)
    assert first["sized_by"] == ["n1", "n2"]
    assert (second["writes"], second["keys"], second["sized_by"]) == (1, None, [])


def test_order_by_load_puts_the_hottest_first_and_keeps_range_order_on_ties():
    rows = merge_views([[row("n1", 1), row("n1", 2, reads=9), row("n1", 3, writes=2),
                         row("n1", 4)]])
    assert [r["range_id"] for r in order_rows(rows, "load")] == [2, 3, 1, 4]
    with pytest.raises(ValueError):
        order_rows(rows, "heat")


def test_per_range_counters_are_exported_to_prometheus_with_keyspace_and_range_labels():
    from prometheus_client import generate_latest

    from quorumkv.core.placement import Keyspace, RangeMap, bootstrap_ranges
    from quorumkv.node.metrics import Metrics

    metrics = Metrics()
    ks = Keyspace("users", 2, partitioner="range")
    ranges = RangeMap()
    ranges.add_keyspace(ks, bootstrap_ranges(ks, ["n1"], 1, first_range_id=5))
    metrics.range_metrics.ranges = ranges
    for _ in range(3):
        metrics.range_load.count_read(5)
    text = generate_latest(metrics.registry).decode()
    assert 'qkv_range_reads_total{keyspace="users",range="5"} 3.0' in text
    assert 'qkv_range_writes_total{keyspace="users",range="5"} 0.0' in text
