"""The node's assembly of keyspaces: one range map with every keyspace (range ids
unique across them), each keyspace's own settings, the start-up log lines."""

from __future__ import annotations

from quorumkv.config import loads
from quorumkv.node.node import build_range_map, deprecation_notice, describe_config

NODES = "".join(f'[[cluster.nodes]]\nid = "n{i}"\npeer_port = {9400 + i}\n'
                f'resp_port = {7400 + i}\nhttp_port = {8400 + i}\n' for i in (1, 2, 3))
KEYSPACES = '''
[[keyspaces]]
name = "users"
partitioner = "range"
split_points = ["l", "r"]
db = 1
gc_grace_ms = 1000
[[keyspaces]]
name = "events"
ranges = 8
replication_factor = 2
default_consistency = "one"
hints_count_toward_consistency = "on"
'''


def config(text: str = KEYSPACES):
    return loads(text + NODES, env={}, overrides={"id": "n1"})


def test_one_map_holds_every_keyspace_with_unique_range_ids():
    ranges = build_range_map(config())
    assert list(ranges.keyspaces) == ["default", "users", "events"]
    assert [len(ranges.ranges(k)) for k in ranges.keyspaces] == [16, 3, 8]
    ids = [r.range_id for r in ranges.all_ranges()]
    assert sorted(ids) == list(range(1, 28))
    assert [r.range_id for r in ranges.ranges("default")] == list(range(1, 17)), \
        "default keeps the range ids it had before there were other keyspaces"
    assert ranges.lookup("users", b"mia").start == b"l"
    for r in ranges.all_ranges():
        assert ranges.by_id(r.range_id) is r


def test_each_keyspace_carries_its_own_settings():
    ks = build_range_map(config()).keyspaces
    assert (ks["users"].partitioner, ks["users"].db, ks["users"].gc_grace_ms,
            ks["users"].keyspace_id) == ("range", 1, 1000, 2)
    assert (ks["events"].replication_factor, ks["events"].default_consistency,
            ks["events"].hints_count, ks["events"].db) == (2, "ONE", True, None)
    assert (ks["default"].db, ks["default"].gc_grace_ms, ks["default"].mode) == \
        (0, 864_000_000, "eventual")
    assert ks["users"].placement_key(b"k") == b"k"
    assert len(ks["events"].placement_key(b"k")) == 9


def test_the_start_log_shows_every_keyspace_and_the_deprecated_keys():
    text = describe_config(config())
    assert "keyspace users (id 2, db 1): eventual, range, split points ['l', 'r']" in text
    assert "keyspace events (id 3, db None): eventual, hash, 8 ranges, replication " \
        "factor 2" in text
    assert "cluster.ranges" not in text, "the old keys are shown as keyspace default"
    legacy = config("[cluster]\nranges = 4\nreplication_factor = 2\n")
    assert legacy.deprecated == ("cluster.ranges", "cluster.replication_factor")
    assert deprecation_notice(legacy) == (
        "deprecated settings: cluster.ranges, cluster.replication_factor (the [cluster] "
        "keys of keyspace default) work for this release only; declare [[keyspaces]] "
        'name = "default" with these settings instead')
