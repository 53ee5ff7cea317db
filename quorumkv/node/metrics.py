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
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily)

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


class Histogram:
    """A latency histogram in plain numbers (LATENCY_BUCKETS), exported when scraped."""

    __slots__ = ("buckets", "total_s")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.total_s = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total_s += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        total, out = 0, []
        for bound, count in zip(LATENCY_BUCKETS + (float("inf"),), self.buckets):
            total += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), total))
        return out


class RaftGroupCounts:
    """What the Raft host counted for one group (a range of a strong keyspace)."""

    __slots__ = ("proposals", "commits", "leader_changes", "read_requests")

    def __init__(self) -> None:
        self.proposals = self.commits = self.leader_changes = self.read_requests = 0


class RaftMetrics:
    """The ``qkv_raft_*`` metrics of node/raft/host.py. The host counts into plain
    numbers with one call where each thing happens; elections and ReadIndex batches
    are the Raft core's own counters (``Raft.campaigns``, ``Raft.read_rounds``), and
    the gauges are read from the host, all when ``/metrics`` is scraped. Per-group
    series are labelled by keyspace and range (a node holds at most a few thousand)."""

    def __init__(self) -> None:
        self.host = None                 # node.raft.host.RaftHost, set by the host
        self.groups: dict[int, RaftGroupCounts] = {}
        self.apply = Histogram()         # seconds to apply (and write) a turn's entries
        self.fsync = Histogram()         # seconds of one turn's log sync

    def group(self, group_id: int) -> RaftGroupCounts:
        counts = self.groups.get(group_id)
        if counts is None:
            counts = self.groups[group_id] = RaftGroupCounts()
        return counts

    def describe(self):
        return []

    def collect(self):
        host = self.host
        groups = sorted(host.groups.values(), key=lambda g: g.group_id) if host else []
        labels = ["keyspace", "range"]
        families = {name: CounterMetricFamily(f"qkv_raft_{name}", text, labels=labels)
                    for name, text in RAFT_COUNTERS}
        for group in groups:
            values = self._group_values(group)
            key = [getattr(group.machine, "keyspace_name", ""), str(group.group_id)]
            for name, _text in RAFT_COUNTERS:
                families[name].add_metric(key, values[name])
        yield from families.values()
        yield CounterMetricFamily("qkv_raft_turns", "Raft host loop turns that persisted "
                                  "something (one write batch each)",
                                  value=host.turns if host else 0)
        yield GaugeMetricFamily("qkv_raft_groups", "Raft groups on this node",
                                value=len(groups))
        yield GaugeMetricFamily("qkv_raft_quiet_groups", "Raft groups with nothing to do, "
                                "not ticked while their leader's node is alive",
                                value=sum(1 for g in groups if g.node is not None
                                          and g.node.is_quiet()))
        for name, text, histogram in (
                ("qkv_raft_apply_seconds", "Time to apply one host turn's committed "
                 "entries and write their batch (turns that applied some)", self.apply),
                ("qkv_raft_fsync_seconds", "Time of one host turn's Raft log sync",
                 self.fsync)):
            family = HistogramMetricFamily(name, text)
            family.add_metric([], histogram.cumulative(), histogram.total_s)
            yield family

    def _group_values(self, group) -> dict[str, int]:
        counts = self.groups.get(group.group_id) or RaftGroupCounts()
        raft = group.node.raft if group.node is not None else None
        return {"proposals": counts.proposals, "commits": counts.commits,
                "leader_changes": counts.leader_changes,
                "read_index_requests": counts.read_requests,
                "elections": raft.campaigns if raft else 0,
                "read_index_batches": raft.read_rounds if raft else 0}


RAFT_COUNTERS = (
    ("proposals", "Commands proposed to a Raft group by this node"),
    ("commits", "Committed log entries applied by this node"),
    ("elections", "Elections (campaigns) this node started"),
    ("leader_changes", "Times this node learnt of a new leader of the group"),
    ("read_index_batches", "Heartbeat rounds, led by this node, that confirmed ReadIndex "
     "requests"),
    ("read_index_requests", "ReadIndex (linearizable read) requests made on this node"),
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = RequestMetrics()
        r.register(self.requests)
        self.range_load = RangeLoad()  # the coordinator counts into it
        self.range_metrics = RangeLoadMetrics(self.range_load)
        r.register(self.range_metrics)
        self.raft = RaftMetrics()  # node/raft/host.py counts into it
        r.register(self.raft)
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
