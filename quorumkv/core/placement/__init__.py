"""Placement: keyspaces cut into ranges of an ordered placement key.

* partitioner.py: key -> placement key (``hash``: xxh3 prefix; ``range``: the key);
* keyspace.py: a keyspace's run-time settings;
* descriptor.py: one range, its typed replicas and its generation;
* rangecache.py: every range, by key and by id, replaced one descriptor at a time;
* bootstrap.py: the first map, from the static configuration;
* addressing.py: the check a replica makes of a request's range id and generation.
"""

from .addressing import refusal
from .bootstrap import bootstrap_ranges, place_replicas
from .descriptor import LEARNER, PENDING, ROLES, VOTER, RangeDescriptor
from .keyspace import EVENTUAL, Keyspace
from .partitioner import (HASH, HASH_BYTES, HASH_SPACE, PARTITIONERS, RANGE, hash_placement_key,
                          hash_prefix, hash_split_points, key_hash, range_split_points,
                          readable_bound, readable_span)
from .rangecache import RangeCache, RangeMap, ReplaceRefused, StaleGeneration, check_tiling

__all__ = [
    "EVENTUAL", "HASH", "HASH_BYTES", "HASH_SPACE", "LEARNER", "PARTITIONERS", "PENDING",
    "RANGE", "ROLES", "VOTER", "Keyspace", "RangeCache", "RangeDescriptor", "RangeMap",
    "ReplaceRefused", "StaleGeneration", "bootstrap_ranges", "check_tiling",
    "hash_placement_key", "hash_prefix", "hash_split_points", "key_hash", "place_replicas",
    "range_split_points", "readable_bound", "readable_span", "refusal",
]
