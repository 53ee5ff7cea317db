"""KeyspaceSpec: the one validation of config, CLI, HTTP and RESP. Every bad field
is a SpecError naming the field and what it accepts."""

from __future__ import annotations

import pytest

from quorumkv.core.meta.spec import (KeyspaceSpec, SpecError, check_spec, spec_from_args,
                                     spec_from_fields)


def error_of(fields: dict) -> SpecError:
    with pytest.raises(SpecError) as err:
        spec_from_fields(fields)
    return err.value


def test_the_issue_examples_build_their_specs():
    locks = spec_from_args("locks --mode strong --rf 3 --partitioner hash --ranges 8".split())
    assert locks == KeyspaceSpec("locks", mode="strong", replication_factor=3, ranges=8)
    users = spec_from_args(["users", "--partitioner", "range", "--split-points", "l,r"])
    assert (users.partitioner, users.split_points, users.ranges) == ("range", ("l", "r"), 3)
    # RESP: QKV.KEYSPACE CREATE name k v ... (no dashes, any case)
    assert spec_from_args(["users", "PARTITIONER", "range", "split_points", "l,r"]) == users


def test_http_fields_take_json_types_and_round_trip_through_to_plain():
    spec = spec_from_fields({"name": "users", "partitioner": "range", "split_points": ["l", "r"],
                             "replication_factor": 2, "default_consistency": "one",
                             "gc_grace_ms": 5000, "hints_count_toward_consistency": "on",
                             "db": 3})
    assert spec.default_consistency == "ONE"
    assert spec_from_fields(spec.to_plain()) == spec
    assert "ranges" not in spec.to_plain()
    hashed = spec_from_fields({"name": "h", "ranges": 8})
    assert "split_points" not in hashed.to_plain() and spec_from_fields(hashed.to_plain()) == hashed
    assert spec_from_fields({"name": "d", "db": None}).db is None


def test_a_strong_keyspace_with_one_replica_is_allowed():
    spec = spec_from_fields({"name": "solo", "mode": "strong", "rf": 1})
    assert spec.tolerates() == 0
    assert spec_from_fields({"name": "five", "mode": "strong", "rf": 5}).tolerates() == 2


@pytest.mark.parametrize("fields, field, text", [
    ({}, "name", "name is required (1 to 48 letters"),
    ({"name": "no spaces"}, "name", "name 'no spaces' must be 1 to 48 letters, digits"),
    ({"name": ""}, "name", "must be 1 to 48 letters"),
    ({"name": "x" * 49}, "name", "must be 1 to 48 letters"),
    ({"name": 7}, "name", "name: expected a string, got 7"),
    ({"name": "u", "mode": "fast"}, "mode", "mode must be eventual or strong, not 'fast'"),
    ({"name": "u", "partitioner": "ordered"}, "partitioner",
     "partitioner must be hash or range, not 'ordered'"),
    ({"name": "u", "default_consistency": "ANY"}, "default_consistency",
     "default_consistency must be one of ONE, TWO, QUORUM, ALL"),
    ({"name": "u", "hints_count_toward_consistency": "yes"},
     "hints_count_toward_consistency", "must be on or off"),
    ({"name": "u", "rf": 0}, "replication_factor",
     "replication_factor = 0 is out of range [1, 15]"),
    ({"name": "u", "rf": 16}, "replication_factor", "= 16 is out of range [1, 15]"),
    ({"name": "u", "rf": "three"}, "replication_factor",
     "replication_factor: expected an integer, got 'three'"),
    ({"name": "u", "rf": True}, "replication_factor", "expected an integer, got True"),
    ({"name": "u", "ranges": 0}, "ranges", "ranges = 0 is out of range [1, 4096]"),
    ({"name": "u", "ranges": 4097}, "ranges", "ranges = 4097 is out of range [1, 4096]"),
    ({"name": "u", "gc_grace_ms": -1}, "gc_grace_ms", "gc_grace_ms = -1 is out of range"),
    ({"name": "u", "db": 16}, "db", "db = 16 is out of range [0, 15]"),
    ({"name": "u", "db": -1}, "db", "db = -1 is out of range [0, 15]"),
    ({"name": "u", "split_points": ["l"]}, "split_points",
     "split_points is for range keyspaces; a hash keyspace takes ranges"),
    ({"name": "u", "partitioner": "range", "ranges": 3}, "ranges",
     "ranges is for hash keyspaces; a range keyspace is cut at its split_points"),
    ({"name": "u", "partitioner": "range", "split_points": ["r", "l"]}, "split_points",
     "split_points must be strictly increasing: 'r' is not before 'l'"),
    ({"name": "u", "partitioner": "range", "split_points": ["l", "l"]}, "split_points",
     "'l' is not before 'l'"),
    ({"name": "u", "partitioner": "range", "split_points": ["", "l"]}, "split_points",
     "split_points: a split point is never empty"),
    ({"name": "u", "partitioner": "range", "split_points": "l,,r"}, "split_points",
     "a split point is never empty"),
    ({"name": "u", "partitioner": "range", "split_points": [1, 2]}, "split_points",
     "split_points must be a list of strings"),
    ({"name": "u", "partitioner": "range", "split_points": ["k"] + [str(i) for i in range(4096)]},
     "split_points", "split points, at most 4095"),
    ({"name": "u", "partitioner": "range", "split_points": ["x" * 1025]}, "split_points",
     "at most 1024 bytes"),
    ({"name": "u", "colour": "red"}, "colour",
     "colour is not a keyspace setting (known: name, mode, partitioner"),
    ({"name": "u", "rf": 3, "replication_factor": 3}, "replication_factor", "is given twice"),
])
def test_every_bad_field_is_refused_naming_it(fields, field, text):
    err = error_of(fields)
    assert err.field == field and text in str(err), str(err)


@pytest.mark.parametrize("args, text", [
    ([], "name is required"),
    (["--mode", "strong"], "name comes first, before the settings (got '--mode')"),
    (["locks", "--rf"], "replication_factor has no value"),
    (["locks", "--name", "x"], "name is the first argument"),
    (["locks", "--rf", "2", "--rf", "3"], "replication_factor is given twice"),
    (["locks", "--mode", "quick"], "mode must be eventual or strong, not 'quick'"),
    (["locks", "--ranges", "eight"], "ranges: expected an integer, got 'eight'"),
    (["locks", "--sharding", "hash"], "--sharding is not a keyspace setting"),
])
def test_bad_tokens_are_refused(args, text):
    with pytest.raises(SpecError) as err:
        spec_from_args(args)
    assert text in str(err.value)


def test_check_spec_refuses_a_spec_built_by_hand():
    with pytest.raises(SpecError, match="a range keyspace has its split points"):
        check_spec(KeyspaceSpec("u", partitioner="range", ranges=16, split_points=("l",)))
    with pytest.raises(SpecError, match="split_points must be a list of strings"):
        check_spec(KeyspaceSpec("u", partitioner="range", ranges=2, split_points=["l"]))
    assert check_spec(KeyspaceSpec("u")) == KeyspaceSpec("u")


@pytest.mark.parametrize("entry, spec_fields", [
    ('ranges = 5000', {"ranges": 5000}),
    ('replication_factor = 16', {"rf": 16}),
    ('default_consistency = "MOST"', {"default_consistency": "MOST"}),
    ('partitioner = "range"\nsplit_points = ["' + "x" * 1025 + '"]',
     {"partitioner": "range", "split_points": ["x" * 1025]}),
    ('partitioner = "range"\nsplit_points = ["b", "a"]',
     {"partitioner": "range", "split_points": ["b", "a"]}),
])
def test_config_refuses_with_the_same_rule_under_its_own_prefix(entry, spec_fields):
    from quorumkv.config import loads
    from quorumkv.errors import ConfigError
    spec_error = error_of({"name": "u", **spec_fields})
    with pytest.raises(ConfigError) as err:
        loads(f'[[keyspaces]]\nname = "u"\n{entry}\n[[cluster.nodes]]\nid = "n1"\n', env={},
              overrides={"id": "n1"})
    assert str(err.value) == f"keyspaces.u.{spec_error.field}{spec_error.detail}"
