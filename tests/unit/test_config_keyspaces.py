"""[[keyspaces]] in the cluster file: every bad setting is a ConfigError naming it,
keyspace default from the old [cluster] keys (deprecated) or declared, ids in the
order of the file, and to_toml writing every keyspace back."""

from __future__ import annotations

import pytest

from quorumkv import config as cfgmod
from quorumkv.config import ClusterSection, Config, KeyspaceSettings, NodeSection, loads, to_toml
from quorumkv.errors import ConfigError

NODES = '\n[[cluster.nodes]]\nid = "n1"\n'
USERS = '''
[[keyspaces]]
name = "users"
mode = "eventual"
partitioner = "range"
split_points = ["l", "r"]
replication_factor = 3
default_consistency = "QUORUM"
gc_grace_ms = 864000000
db = 1
'''
EVENTS = '''
[[keyspaces]]
name = "events"
ranges = 8
default_consistency = "ONE"
hints_count_toward_consistency = "on"
gc_grace_ms = 5000
'''


def load(text: str, env: dict | None = None) -> Config:
    return loads(text + NODES, env=env or {}, overrides={"id": "n1"})


def error(text: str, env: dict | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        load(text, env)
    return str(err.value)


def test_the_issue_example_and_a_hash_keyspace_load():
    cfg = load(USERS + EVENTS)
    default, users, events = cfg.keyspaces
    assert [k.name for k in cfg.keyspaces] == ["default", "users", "events"]
    assert [k.keyspace_id for k in cfg.keyspaces] == [1, 2, 3]
    assert (default.db, users.db, events.db) == (0, 1, None)
    assert (users.partitioner, users.split_points, users.range_count) == \
        ("range", ("l", "r"), 3)
    assert (events.partitioner, events.range_count, events.default_consistency,
            events.hints_count_toward_consistency, events.gc_grace_ms) == \
        ("hash", 8, "ONE", "on", 5000)
    assert default == KeyspaceSettings("default", db=0, keyspace_id=1)
    assert cfg.deprecated == ()


def test_default_can_be_declared_and_comes_first():
    cfg = load(USERS + '[[keyspaces]]\nname = "default"\nranges = 4\nreplication_factor = 2\n'
               'db = 5\n')
    assert [k.name for k in cfg.keyspaces] == ["default", "users"]
    assert (cfg.default_keyspace.range_count, cfg.default_keyspace.db) == (4, 5)
    # the old [cluster] keys mirror it for readers that still look there
    assert (cfg.cluster.ranges, cfg.cluster.replication_factor) == (4, 2)


def test_old_cluster_keys_build_default_and_are_reported_as_deprecated():
    cfg = load('[cluster]\nranges = 8\ngc_grace_ms = 1000\ndefault_consistency = "ONE"\n')
    assert cfg.default_keyspace == KeyspaceSettings(
        "default", ranges=8, gc_grace_ms=1000, default_consistency="ONE", db=0,
        keyspace_id=1)
    assert cfg.deprecated == ("cluster.ranges", "cluster.default_consistency",
                              "cluster.gc_grace_ms")
    assert load("").deprecated == (), "nothing set: nothing deprecated"
    env = load("", env={"QKV_CLUSTER_REPLICATION_FACTOR": "2"})
    assert env.deprecated == ("cluster.replication_factor",)
    assert env.default_keyspace.replication_factor == 2


def test_default_from_both_places_is_refused():
    msg = error('[cluster]\nranges = 8\n[[keyspaces]]\nname = "default"\n')
    assert "keyspace default is declared twice" in msg and "cluster.ranges" in msg


def test_errors_of_the_old_keys_still_name_them():
    assert "cluster.ranges = 0 is out of range [1, 4096]" in error("[cluster]\nranges = 0\n")
    assert "cluster.hints_count_toward_consistency must be on or off" in \
        error('[cluster]\nhints_count_toward_consistency = "maybe"\n')


@pytest.mark.parametrize("entry, expected", [
    ('name = "users"\nsplit_pionts = ["l"]',
     "unknown setting 'keyspaces.users.split_pionts' (known: name, mode"),
    ('ranges = 4', "keyspaces[0] needs a 'name'"),
    ('name = 7', "keyspaces[0] needs a 'name'"),
    ('name = "no spaces"', "keyspaces[0].name 'no spaces' must be 1 to 48 letters"),
    ('name = ""', "keyspaces[0].name '' must be 1 to 48 letters"),
    ('name = "' + "x" * 49 + '"', "must be 1 to 48 letters"),
    ('name = "u"\nmode = "fast"', "keyspaces.u.mode must be eventual or strong, not 'fast'"),
    ('name = "u"\npartitioner = "ordered"',
     "keyspaces.u.partitioner must be hash or range, not 'ordered'"),
    ('name = "u"\ndefault_consistency = "MOST"',
     "keyspaces.u.default_consistency must be one of ONE, TWO, QUORUM, ALL"),
    ('name = "u"\ndefault_consistency = "ANY"', "must be one of ONE, TWO, QUORUM, ALL"),
    ('name = "u"\nhints_count_toward_consistency = "yes"',
     "keyspaces.u.hints_count_toward_consistency must be on or off"),
    ('name = "u"\nreplication_factor = 0',
     "keyspaces.u.replication_factor = 0 is out of range [1, 15]"),
    ('name = "u"\nreplication_factor = "three"',
     "keyspaces.u.replication_factor: expected an integer, got 'three'"),
    ('name = "u"\nranges = 0', "keyspaces.u.ranges = 0 is out of range [1, 4096]"),
    ('name = "u"\ngc_grace_ms = -1', "keyspaces.u.gc_grace_ms = -1 is out of range"),
    ('name = "u"\ndb = 16', "keyspaces.u.db = 16 is out of range [0, 15]"),
    ('name = "u"\ndb = -1', "keyspaces.u.db = -1 is out of range [0, 15]"),
    ('name = "u"\ndb = true', "keyspaces.u.db: expected an integer, got True"),
    ('name = "u"\nsplit_points = ["l"]',
     "keyspaces.u.split_points is for range keyspaces; a hash keyspace takes ranges = K"),
    ('name = "u"\npartitioner = "range"\nranges = 3',
     "keyspaces.u.ranges is for hash keyspaces"),
    ('name = "u"\npartitioner = "range"\nsplit_points = ["r", "l"]',
     "keyspaces.u.split_points must be strictly increasing: 'r' is not before 'l'"),
    ('name = "u"\npartitioner = "range"\nsplit_points = ["l", "l"]',
     "must be strictly increasing: 'l' is not before 'l'"),
    ('name = "u"\npartitioner = "range"\nsplit_points = ["", "l"]',
     "keyspaces.u.split_points: a split point is never empty"),
    ('name = "u"\npartitioner = "range"\nsplit_points = "l,r"',
     "keyspaces.u.split_points must be an array of strings"),
    ('name = "u"\npartitioner = "range"\nsplit_points = [1, 2]',
     "keyspaces.u.split_points must be an array of strings"),
])
def test_a_bad_keyspace_setting_is_refused_naming_it(entry, expected):
    assert expected in error("[[keyspaces]]\n" + entry + "\n")


def test_duplicate_names_and_db_numbers_are_refused():
    assert "keyspace 'users' is declared twice" in error(USERS + USERS.replace("db = 1", ""))
    msg = error(USERS + EVENTS.replace("gc_grace_ms = 5000", "db = 1"))
    assert "keyspaces users and events both take db 1" in msg
    msg = error(EVENTS.replace("gc_grace_ms = 5000", "db = 0"))
    assert "keyspaces default and events both take db 0" in msg
    assert "default has db 0 unless it declares another" in msg
    load('[[keyspaces]]\nname = "default"\ndb = 3\n' + EVENTS.replace("gc_grace_ms = 5000",
                                                                        "db = 0"))


def test_keyspaces_must_be_an_array_of_tables():
    assert "keyspaces must be an array of tables" in error('keyspaces = "users"\n')
    assert "keyspaces must be an array of tables" in error('[keyspaces]\nname = "u"\n')


def test_too_many_keyspaces():
    text = "".join(f'[[keyspaces]]\nname = "k{i}"\n' for i in range(cfgmod.MAX_KEYSPACES + 1))
    assert f"at most {cfgmod.MAX_KEYSPACES}" in error(text)


def test_to_toml_writes_every_keyspace_and_round_trips():
    cfg = load(USERS + EVENTS)
    text = to_toml(cfg)
    assert text.count("[[keyspaces]]") == 3
    assert "ranges =" not in text.split("[[keyspaces]]")[0], "no deprecated [cluster] keys"
    again = loads(text, env={}, overrides={"id": "n1"})
    assert again == cfg and again.deprecated == ()


def test_a_config_built_in_code_gets_default_from_its_cluster_section():
    nodes = cfgmod.local_cluster_nodes(1)
    cfg = Config(NodeSection(id="n1"), ClusterSection(ranges=5, replication_factor=1,
                                                      nodes=nodes))
    assert cfg.default_keyspace.range_count == 5 and cfg.default_keyspace.db == 0
    assert loads(to_toml(cfg), env={}, overrides={"id": "n1"}) == cfg
