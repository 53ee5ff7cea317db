"""The first range map of a cluster, derived only from its configuration.

Every node computes the same map from the same node list and keyspaces, so a
cluster needs no exchange to agree on its first layout (every descriptor at
generation 1). Rack- and datacenter-aware placement and the planner of moves
replace :func:`place_replicas` when nodes carry a topology.
"""

from __future__ import annotations

from .descriptor import RangeDescriptor
from .keyspace import Keyspace
from .partitioner import HASH, hash_split_points, range_split_points


def place_replicas(node_ids: list[str], index: int, replication_factor: int) -> tuple[str, ...]:
    """Replicas for the ``index``-th range: ``rf`` distinct nodes, round robin.

    Nodes are taken in sorted order starting at ``index`` so that every node leads
    (holds the first replica of) an equal share of ranges.
    """
    nodes = sorted(node_ids)
    rf = min(replication_factor, len(nodes))
    return tuple(nodes[(index + i) % len(nodes)] for i in range(rf))


def bootstrap_ranges(keyspace: Keyspace, node_ids: list[str], range_count: int = 1,
                     first_range_id: int = 1, split_points=()) -> list[RangeDescriptor]:
    """The initial ranges of a keyspace: a hash keyspace cut into ``range_count``
    equal parts of the hash space, a range keyspace at its ``split_points``
    (one range without any)."""
    if keyspace.partitioner == HASH:
        points = hash_split_points(range_count)
    else:
        points = range_split_points(split_points)
    bounds = [b""] + points + [b""]
    return [
        RangeDescriptor.of(first_range_id + i, keyspace.name, bounds[i], bounds[i + 1],
                           place_replicas(node_ids, i, keyspace.replication_factor))
        for i in range(len(bounds) - 1)
    ]
