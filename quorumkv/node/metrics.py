"""Prometheus metrics of one node (a registry per node, so tests can run many).

Per-request counts and latencies are kept in plain Python numbers and exported
by a collector when ``/metrics`` is scraped: prometheus_client's labelled
children take a lock on every update, which on the request path of a
single-threaded event loop is pure overhead. Rare events use its counters.
"""

from __future__ import annotations

import bisect

from ..core.load import RangeLoad

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
                   0.5, 1.0, 2.0, 5.0)


class RequestStats:
    """Outcome counts and a latency histogram for one (api, command)."""

    __slots__ = ("outcomes", "buckets", "total_s")

    def __init__(self) -> None:
        self.outcomes: dict[str, int] = {}
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.total_s = 0.0

    def record(self, outcome: str, seconds: float) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total_s += seconds


class RequestMetrics:
    """``qkv_requests_total`` and ``qkv_request_seconds``, by api and command."""

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], RequestStats] = {}

    def stats(self, api: str, command: str) -> RequestStats:
        """The stats of one (api, command); callers may keep it and record into it."""
        key = (api, command)
        entry = self._stats.get(key)
        if entry is None:
            entry = self._stats[key] = RequestStats()
        return entry

    def items(self, api: str):
        """``(command, stats)`` of one api, for INFO commandstats."""
        return [(command, entry) for (a, command), entry in sorted(self._stats.items())
                if a == api]

    def describe(self):
        return []

    def collect(self):
        requests = CounterMetricFamily("qkv_requests", "Client requests by command and outcome",
                                       labels=["api", "command", "outcome"])
        latency = HistogramMetricFamily("qkv_request_seconds",
                                        "Client request latency by command",
                                        labels=["api", "command"])
        for (api, command), entry in sorted(self._stats.items()):
            for outcome, count in sorted(entry.outcomes.items()):
                requests.add_metric([api, command, outcome], count)
            cumulative, buckets = 0, []
            for bound, count in zip(LATENCY_BUCKETS + (float("inf"),), entry.buckets):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            latency.add_metric([api, command], buckets, entry.total_s)
        yield requests
        yield latency


class RangeLoadMetrics:
    """``qkv_range_reads_total`` and ``qkv_range_writes_total``: the requests this
    node coordinated per range, labelled by keyspace and range id (bounded: a
    keyspace has at most a few thousand ranges). Exported from core.load's plain
    counters when scraped, like RequestMetrics."""

    def __init__(self, load: RangeLoad) -> None:
        self.load = load
        self.ranges = None  # the node's range map, once it has one

    def describe(self):
        return []

    def collect(self):
        reads = CounterMetricFamily("qkv_range_reads", "Client reads coordinated here, "
                                    "per range", labels=["keyspace", "range"])
        writes = CounterMetricFamily("qkv_range_writes", "Client writes coordinated "
                                     "here, per range", labels=["keyspace", "range"])
        if self.ranges is not None:
            for rng in self.ranges.all_ranges():
                labels = [rng.keyspace, str(rng.range_id)]
                reads.add_metric(labels, self.load.reads.get(rng.range_id, 0))
                writes.add_metric(labels, self.load.writes.get(rng.range_id, 0))
        yield reads
        yield writes


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = RequestMetrics()
        r.register(self.requests)
        self.range_load = RangeLoad()  # the coordinator counts into it
        self.range_metrics = RangeLoadMetrics(self.range_load)
        r.register(self.range_metrics)
        self.replica_timeouts = Counter("qkv_replica_timeouts_total",
                                        "Replica requests that got no answer in time",
                                        registry=r)
        self.replica_failures = Counter("qkv_replica_failures_total",
                                        "Replica requests that failed (unreachable, error)",
                                        registry=r)
        self.read_repairs = Counter("qkv_read_repairs_total",
                                    "Stale replicas sent the newest version by a read",
                                    registry=r)
        self.speculative_retries = Counter("qkv_speculative_retries_total",
                                           "Reads that asked one more replica because "
                                           "the asked ones were slow", registry=r)
        self.consistency_failures = Counter("qkv_consistency_failures_total",
                                            "Requests failed for too few replica answers",
                                            ["level"], registry=r)
        self.hints_stored = Counter("qkv_hints_stored_total",
                                    "Writes kept here as hints for a replica that was down",
                                    ["target"], registry=r)
        self.hints_delivered = Counter("qkv_hints_delivered_total",
                                       "Hints delivered and acknowledged", ["target"],
                                       registry=r)
        self.hints_dropped = Counter("qkv_hints_dropped_total",
                                     "Hints dropped at node.max_hints_per_target", ["target"],
                                     registry=r)
        self.hints_pending = Gauge("qkv_hints_pending", "Hints held here, per target",
                                   ["target"], registry=r)
        self.clock_skew_refusals = Counter("qkv_clock_skew_refusals_total",
                                           "Peer writes refused: their timestamp was "
                                           "further ahead than node.max_clock_skew_ms",
                                           registry=r)
        self.anti_entropy_keys = Counter("qkv_anti_entropy_keys_total",
                                         "Keys streamed (fetched or pushed) by anti-entropy",
                                         registry=r)
        self.tombstones_purged = Counter("qkv_tombstones_purged_total",
                                         "Tombstones and expired values purged after "
                                         "their keyspace's gc_grace_ms", registry=r)
        self.clients = Gauge("qkv_connected_clients", "Open RESP connections", registry=r)
