"""The static bootstrap list as the first metadata transaction: the state it
gives routes exactly as today's map (node.node.build_range_map over
core/placement/bootstrap.py), so existing clusters keep their layout."""

from __future__ import annotations

import pytest

from quorumkv.config import loads
from quorumkv.core.meta import MetaState, bootstrap_from_config, runtime_keyspace
from quorumkv.node.node import build_range_map, runtime_keyspace as node_runtime_keyspace

KEYSPACES = '''
[[keyspaces]]
name = "users"
partitioner = "range"
split_points = ["f", "l", "r"]
replication_factor = 2
db = 1

[[keyspaces]]
name = "events"
ranges = 7
default_consistency = "one"
hints_count_toward_consistency = "on"
gc_grace_ms = 5000
'''


def config(nodes: int, text: str = ""):
    listed = "".join(f'[[cluster.nodes]]\nid = "n{i}"\npeer_port = {9100 + i}\n'
                     f'resp_port = {9200 + i}\nhttp_port = {9300 + i}\n'
                     for i in range(1, nodes + 1))
    return loads(text + listed, env={}, overrides={"id": "n1"})


@pytest.mark.parametrize("nodes", [1, 2, 3, 5])
@pytest.mark.parametrize("text", ["", '[cluster]\nranges = 5\nreplication_factor = 2\n',
                                  KEYSPACES,
                                  '[[keyspaces]]\nname = "default"\nranges = 1\n' + KEYSPACES])
def test_bootstrap_yields_todays_range_map(nodes, text):
    cfg = config(nodes, text)
    state = MetaState()
    assert state.apply(1, bootstrap_from_config(cfg)).ok
    assert state.range_cache() == build_range_map(cfg)
    for settings in cfg.keyspaces:
        assert runtime_keyspace(state.keyspace(settings.name)) == \
            node_runtime_keyspace(settings, nodes)
    assert state.next_range_id == 1 + len(build_range_map(cfg).all_ranges())


def test_the_map_differs_when_the_config_does():
    """The comparison above can fail: another node list gives another map."""
    state = MetaState()
    state.apply(1, bootstrap_from_config(config(3, KEYSPACES)))
    assert state.range_cache() != build_range_map(config(4, KEYSPACES))
