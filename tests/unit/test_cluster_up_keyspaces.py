"""``cluster up --keyspace``: the flag's forms, and every value checked by the same
loader as a hand-written cluster file, before anything is written."""

from __future__ import annotations

import pytest

from quorumkv import config as cfgmod
from quorumkv.cli.cluster import cluster_config, keyspace_flag, keyspace_table
from quorumkv.core.identity import KeyspaceLayout
from quorumkv.errors import ConfigError


def base(rf: int = 3) -> cfgmod.Config:
    return cfgmod.Config(cfgmod.NodeSection(data_dir="/tmp/unused/{id}"),
                         cfgmod.ClusterSection(ranges=4, replication_factor=rf,
                                               nodes=cfgmod.local_cluster_nodes(3)))


def keyspaces(*specs: str) -> dict:
    return {k.name: k for k in cluster_config(base(), specs).keyspaces}


def test_the_forms_of_the_flag():
    ks = keyspaces("users:range:l,r", "events:hash:8", "logs:hash", "all:range",
                   "tags:range:user:1000,user:5000:db=2", "metrics:hash:db=3")
    assert list(ks) == ["default", "users", "events", "logs", "all", "tags", "metrics"]
    assert (ks["users"].partitioner, ks["users"].split_points) == ("range", ("l", "r"))
    assert (ks["events"].partitioner, ks["events"].ranges) == ("hash", 8)
    assert ks["logs"].ranges == 16
    assert ks["all"].range_count == 1
    assert (ks["tags"].split_points, ks["tags"].db) == (("user:1000", "user:5000"), 2)
    assert (ks["metrics"].ranges, ks["metrics"].db) == (16, 3)
    assert ks["default"].ranges == 4 and ks["default"].db == 0
    assert all(k.replication_factor == 3 for k in ks.values())
    assert all(k.mode == "eventual" for k in ks.values())


def test_a_flag_makes_a_strong_keyspace():
    ks = keyspaces("locks:hash:4:strong", "ledger:range:m:strong:db=2", "logs:hash:eventual")
    assert (ks["locks"].mode, ks["locks"].ranges) == ("strong", 4)
    assert (ks["ledger"].mode, ks["ledger"].split_points, ks["ledger"].db) == \
        ("strong", ("m",), 2)
    assert ks["logs"].mode == "eventual"


def test_the_flag_keyspaces_reach_the_cluster_file():
    text = cfgmod.to_toml(cluster_config(base(), ("users:range:l,r:db=1",)))
    assert '[[keyspaces]]\nname = "users"' in text
    assert 'split_points = ["l", "r"]' in text and "db = 1" in text


@pytest.mark.parametrize("spec, expected", [
    ("users", "the partitioner is hash or range, not ''"),
    ("users:ordered:l", "the partitioner is hash or range, not 'ordered'"),
    ("events:hash:many", "the number of ranges 'many' is not a number"),
    ("users:range:l,r:db=one", "db=one is not a number"),
    ("default:hash:8", "keyspace default takes --ranges and --replication-factor"),
])
def test_a_malformed_flag_is_refused_with_its_form(spec, expected):
    with pytest.raises(ConfigError) as err:
        keyspace_table(spec, 3)
    assert f"--keyspace {spec!r}: {expected}" in str(err.value)
    assert "expected NAME:hash[:K][:strong][:db=N]" in str(err.value)


@pytest.mark.parametrize("specs, expected", [
    (("users:range:r,l",), "keyspaces.users.split_points must be strictly increasing"),
    (("users:range:l,,r",), "a split point is never empty"),
    (("users:range:",), "a split point is never empty"),
    (("events:hash:0",), "keyspaces.events.ranges = 0 is out of range"),
    (("users:range:l", "users:hash"), "keyspace 'users' is declared twice"),
    (("a:hash:db=1", "b:hash:db=1"), "keyspaces a and b both take db 1"),
    (("a:hash:db=0",), "keyspaces default and a both take db 0"),
    (("a:hash:db=16",), "keyspaces.a.db = 16 is out of range [0, 15]"),
    (("bad name:hash",), "keyspaces[1].name 'bad name' must be 1 to 48 letters"),
])
def test_bad_values_get_the_loaders_errors(specs, expected):
    with pytest.raises(ConfigError) as err:
        cluster_config(base(), specs)
    assert expected in str(err.value)


def test_a_zero_replication_factor_is_refused_for_the_flag_keyspaces_too():
    with pytest.raises(ConfigError, match="replication_factor = 0 is out of range"):
        cluster_config(base(rf=0), ("events:hash:8",))


def test_the_advice_flag_rebuilds_a_recorded_keyspace():
    for spec in ("users:range:l,r", "events:hash:8", "all:range"):
        k = keyspaces(spec)[spec.split(":")[0]]
        recorded = KeyspaceLayout(k.name, k.keyspace_id, k.partitioner, k.range_count,
                                  k.replication_factor, k.split_points)
        assert keyspace_flag(recorded) == spec
