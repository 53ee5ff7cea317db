"""Prometheus metrics of one node (a registry per node, so tests can run many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
                   0.5, 1.0, 2.0, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("qkv_requests_total", "Client requests by command and outcome",
                                ["api", "command", "outcome"], registry=r)
        self.latency = Histogram("qkv_request_seconds", "Client request latency by command",
                                 ["api", "command"], buckets=LATENCY_BUCKETS, registry=r)
        self.replica_timeouts = Counter("qkv_replica_timeouts_total",
                                        "Replica requests that got no answer in time",
                                        registry=r)
        self.replica_failures = Counter("qkv_replica_failures_total",
                                        "Replica requests that failed (unreachable, error)",
                                        registry=r)
        self.read_repairs = Counter("qkv_read_repairs_total",
                                    "Stale replicas sent the newest version by a read",
                                    registry=r)
        self.consistency_failures = Counter("qkv_consistency_failures_total",
                                            "Requests failed for too few replica answers",
                                            ["level"], registry=r)
        self.clients = Gauge("qkv_connected_clients", "Open RESP connections", registry=r)
        self.speculative_retries = Counter("qkv_speculative_retries_total",
                                           "Reads that asked one more replica because "
                                           "the asked ones were slow", registry=r)
