"""quorumkv.config: loading, environment and flag overrides, validation, to_toml,
and the machine checks of check_startable. Pure and fast: temp files, no nodes."""

from __future__ import annotations

import os
import socket
import textwrap

import pytest

from quorumkv import config as cfgmod
from quorumkv.config import (ClusterSection, Config, NodeAddress, NodeSection,
                             check_startable, load, to_toml)
from quorumkv.errors import ConfigError

NODES = """
[[cluster.nodes]]
id = "n1"
host = "127.0.0.1"
peer_port = 19001
resp_port = 17001
http_port = 18001

[[cluster.nodes]]
id = "n2"
host = "127.0.0.1"
peer_port = 19002
resp_port = 17002
http_port = 18002

[[cluster.nodes]]
id = "n3"
host = "127.0.0.1"
peer_port = 19003
resp_port = 17003
http_port = 18003
"""

GOOD = """
[node]
id = "n2"
data_dir = "/var/lib/qkv/{id}"
fsync = "always"
periodic_sync_ms = 250
request_timeout_ms = 1500
max_key_bytes = 1024
max_value_bytes = 4096
max_clients = 50
log_level = "debug"

[cluster]
ranges = 8
replication_factor = 2
default_consistency = "ONE"
""" + NODES


@pytest.fixture
def write(tmp_path):
    def write(text: str, name: str = "cluster.toml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return str(path)
    return write


def load_text(write, text: str, env: dict | None = None, **overrides) -> Config:
    return load(write(text), env={} if env is None else env, overrides=overrides)


def config_error(write, text: str, env: dict | None = None, **overrides) -> str:
    with pytest.raises(ConfigError) as err:
        load_text(write, text, env, **overrides)
    return str(err.value)


# ---- a good file ---------------------------------------------------------------------


def test_good_file_loads_every_setting(write):
    cfg = load_text(write, GOOD)
    assert cfg.node == NodeSection(id="n2", data_dir="/var/lib/qkv/{id}", fsync="always",
                                   periodic_sync_ms=250, request_timeout_ms=1500,
                                   max_key_bytes=1024, max_value_bytes=4096, max_clients=50,
                                   log_level="debug")
    assert (cfg.cluster.ranges, cfg.cluster.replication_factor,
            cfg.cluster.default_consistency) == (8, 2, "ONE")
    assert cfg.cluster.nodes == (
        NodeAddress("n1", "127.0.0.1", 19001, 17001, 18001),
        NodeAddress("n2", "127.0.0.1", 19002, 17002, 18002),
        NodeAddress("n3", "127.0.0.1", 19003, 17003, 18003),
    )
    assert cfg.me == cfg.cluster.nodes[1]
    assert cfg.data_dir == "/var/lib/qkv/n2"


def test_minimal_file_takes_the_defaults(write):
    cfg = load_text(write, '[[cluster.nodes]]\nid = "solo"\n', id="solo")
    assert cfg.node == NodeSection(id="solo")
    assert cfg.cluster == ClusterSection(nodes=(NodeAddress("solo"),))
    assert cfg.data_dir == "data/solo"


def test_no_file_at_all_needs_id_and_nodes():
    with pytest.raises(ConfigError, match="node.id is required"):
        load(None, env={})
    with pytest.raises(ConfigError, match="cluster.nodes is empty"):
        load(None, env={}, overrides={"id": "n1"})


# ---- every problem is a ConfigError that names it ------------------------------------


def test_unknown_section(write):
    msg = config_error(write, GOOD + "\n[nodes]\nid = 'x'\n")
    assert "unknown config section '[nodes]'" in msg


def test_unknown_key_in_node(write):
    msg = config_error(write, GOOD.replace('fsync = "always"', 'fsync = "always"\nfsynk = 1'))
    assert "unknown setting 'node.fsynk'" in msg
    assert "fsync" in msg  # the known settings are listed


def test_unknown_key_in_cluster(write):
    msg = config_error(write, GOOD.replace("ranges = 8", "rangez = 8"))
    assert "unknown setting 'cluster.rangez'" in msg


def test_unknown_key_in_a_node_entry(write):
    msg = config_error(write, GOOD.replace("resp_port = 17003", "redis_port = 17003"))
    assert "unknown setting 'cluster.nodes[2].redis_port'" in msg


@pytest.mark.parametrize("old, new, where, expected", [
    ("ranges = 8", "ranges = 1.5", "cluster.ranges", "expected an integer, got 1.5"),
    ("ranges = 8", "ranges = true", "cluster.ranges", "expected an integer, got True"),
    ("ranges = 8", "ranges = 'many'", "cluster.ranges", "expected an integer, got 'many'"),
    ('default_consistency = "ONE"', "default_consistency = 3",
     "cluster.default_consistency", "expected a string, got 3"),
    ('fsync = "always"', "fsync = true", "node.fsync", "expected a string"),
    ('id = "n2"\ndata_dir', 'id = 2\ndata_dir', "node.id", "expected a string"),
    ("peer_port = 19001", 'peer_port = "high"', "cluster.nodes[0].peer_port",
     "expected an integer"),
    ('id = "n1"', "id = 1", "cluster.nodes[0].id", "expected a string"),
])
def test_wrong_type(write, old, new, where, expected):
    assert old in GOOD
    msg = config_error(write, GOOD.replace(old, new, 1))
    assert where in msg and expected in msg


def test_nodes_not_an_array_of_tables(write):
    msg = config_error(write, '[node]\nid = "n1"\n[cluster]\nnodes = "n1"\n')
    assert "cluster.nodes must be an array of tables" in msg
    msg = config_error(write, '[node]\nid = "n1"\n[[cluster.nodes]]\nhost = "127.0.0.1"\n')
    assert "cluster.nodes[0] needs at least an 'id'" in msg


@pytest.mark.parametrize("old, new, named", [
    ("ranges = 8", "ranges = 0", "cluster.ranges = 0 is out of range"),
    ("ranges = 8", "ranges = 5000", "cluster.ranges = 5000 is out of range"),
    ("replication_factor = 2", "replication_factor = 16", "cluster.replication_factor"),
    ("request_timeout_ms = 1500", "request_timeout_ms = 5", "node.request_timeout_ms"),
    ("max_clients = 50", "max_clients = 0", "node.max_clients"),
    ("max_clients = 50", "max_clients = 50\nanti_entropy_depth = 21",
     "node.anti_entropy_depth = 21 is out of range [1, 20]"),
    ("max_value_bytes = 4096", "max_value_bytes = -1", "node.max_value_bytes"),
    ("periodic_sync_ms = 250", "periodic_sync_ms = 0", "node.periodic_sync_ms"),
    ("resp_port = 17002", "resp_port = 70000", "node n2: resp_port 70000 is not a valid port"),
    ("http_port = 18001", "http_port = 0", "node n1: http_port 0 is not a valid port"),
])
def test_out_of_range_numbers(write, old, new, named):
    assert old in GOOD
    assert named in config_error(write, GOOD.replace(old, new))


def test_duplicate_node_ids(write):
    text = GOOD.replace('id = "n3"', 'id = "n1"')
    msg = config_error(write, text)
    assert "duplicate node ids" in msg and "'n1'" in msg


def test_two_listeners_share_a_host_port(write):
    # n3's resp port is n1's resp port
    msg = config_error(write, GOOD.replace("resp_port = 17003", "resp_port = 17001"))
    assert "share one host:port" in msg
    # also across kinds: n1's http port is n2's peer port
    msg = config_error(write, GOOD.replace("http_port = 18001", "http_port = 19002"))
    assert "share one host:port" in msg


def test_same_port_on_different_hosts_is_fine(write):
    text = NODES.replace('host = "127.0.0.1"\npeer_port = 19002', 'host = "127.0.0.2"\npeer_port = 19001')
    assert 'host = "127.0.0.2"' in text
    cfg = load_text(write, text, id="n2")
    assert cfg.me.host == "127.0.0.2" and cfg.me.peer_port == 19001


def test_node_id_not_in_cluster_nodes(write):
    msg = config_error(write, GOOD, id="n9")
    assert "node id 'n9' is not in cluster.nodes" in msg


def test_missing_node_id(write):
    assert "node.id is required" in config_error(write, NODES)


@pytest.mark.parametrize("value", ["sometimes", "ALWAYS", ""])
def test_bad_fsync(write, value):
    msg = config_error(write, GOOD.replace('fsync = "always"', f'fsync = "{value}"'))
    assert "node.fsync must be always, batch or periodic" in msg and f"'{value}'" in msg


def test_bad_consistency_and_log_level(write):
    msg = config_error(write, GOOD.replace('"ONE"', '"MOST"'))
    assert "cluster.default_consistency must be one of ONE, TWO, QUORUM, ALL" in msg
    msg = config_error(write, GOOD.replace('"debug"', '"chatty"'))
    assert "node.log_level" in msg


def test_lower_case_levels_are_accepted(write):
    cfg = load_text(write, GOOD.replace('"ONE"', '"quorum"').replace('"debug"', '"WARNING"'))
    assert cfg.cluster.default_consistency.upper() == "QUORUM"
    assert cfg.node.log_level.lower() == "warning"


def test_invalid_toml(write):
    path = write("[node\nid = 'n1'\n")
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert f"config file {path} is not valid TOML" in str(err.value)


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert f"cannot read config file {path}" in str(err.value)
    assert "No such file" in str(err.value)


def test_a_directory_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(str(tmp_path), env={})


@pytest.mark.parametrize("text, section", [
    ('node = "n1"\n' + NODES, "node"),
    ("node = [1, 2]\n" + NODES, "node"),
    ('cluster = 3\n[node]\nid = "n1"\n', "cluster"),
], ids=["node-string", "node-array", "cluster-integer"])
def test_section_that_is_not_a_table(write, text, section):
    """A top-level ``node = "n1"`` (a plausible slip for ``[node] id = "n1"``) must be a
    ConfigError naming the section, not a ValueError/TypeError traceback (which makes
    ``node start`` exit 1 with a stack trace instead of 2 with ``error: ...``)."""
    with pytest.raises(ConfigError) as err:
        load_text(write, text, id="n1")
    assert section in str(err.value)


# ---- environment and flags -----------------------------------------------------------


def test_environment_overrides_the_file(write):
    env = {"QKV_NODE_FSYNC": "periodic", "QKV_NODE_MAX_CLIENTS": "7",
           "QKV_CLUSTER_RANGES": "32", "QKV_CLUSTER_DEFAULT_CONSISTENCY": "ALL",
           "QKV_NODE_DATA_DIR": "/tmp/qkv-{id}", "UNRELATED": "x", "QKV_PROFILE_OUT": "p"}
    cfg = load_text(write, GOOD, env=env)
    assert cfg.node.fsync == "periodic"
    assert cfg.node.max_clients == 7
    assert cfg.cluster.ranges == 32
    assert cfg.cluster.default_consistency == "ALL"
    assert cfg.data_dir == "/tmp/qkv-n2"
    assert cfg.node.request_timeout_ms == 1500  # untouched settings keep the file's value


def test_environment_selects_the_node(write):
    cfg = load_text(write, NODES, env={"QKV_NODE_ID": "n3"})
    assert cfg.me.id == "n3"


def test_flags_override_environment_and_file(write):
    env = {"QKV_NODE_FSYNC": "periodic", "QKV_NODE_ID": "n3", "QKV_NODE_LOG_LEVEL": "error"}
    cfg = load_text(write, GOOD, env=env, fsync="batch", id="n1", data_dir="/d/{id}",
                    log_level=None)
    assert cfg.node.fsync == "batch"
    assert cfg.node.id == "n1"
    assert cfg.data_dir == "/d/n1"
    assert cfg.node.log_level == "error"  # a None flag (not given) leaves env in place


def test_bad_environment_values_are_config_errors(write):
    assert "node.max_clients" in config_error(write, GOOD, env={"QKV_NODE_MAX_CLIENTS": "lots"})
    assert "node.fsync" in config_error(write, GOOD, env={"QKV_NODE_FSYNC": "never"})
    assert "unknown setting 'node.bogus'" in config_error(write, GOOD,
                                                           env={"QKV_NODE_BOGUS": "1"})
    assert "cluster.nodes" in config_error(write, GOOD, env={"QKV_CLUSTER_NODES": "n1"})


def test_process_environment_is_the_default(write, monkeypatch):
    monkeypatch.setenv("QKV_NODE_FSYNC", "periodic")
    assert load(write(GOOD)).node.fsync == "periodic"


# ---- to_toml -------------------------------------------------------------------------


def sample_config(data_dir: str = "/srv/qkv/{id}") -> Config:
    nodes = cfgmod.local_cluster_nodes(3, host_per_node=True, resp_base=27000,
                                       http_base=28000, peer_base=29000)
    return Config(NodeSection(id="n2", data_dir=data_dir, fsync="periodic",
                              periodic_sync_ms=50, request_timeout_ms=900,
                              max_key_bytes=10, max_value_bytes=0, max_clients=3,
                              log_level="warning"),
                  ClusterSection(ranges=5, replication_factor=2, default_consistency="TWO",
                                 nodes=nodes))


def test_to_toml_round_trips_through_load(write):
    config = sample_config()
    text = to_toml(config)
    assert "id = " not in text.split("[cluster]")[0]  # the shared file names no node
    assert load(write(text), env={}, overrides={"id": "n2"}) == config


def test_to_toml_round_trips_defaults(write):
    config = Config(NodeSection(id="a"), ClusterSection(nodes=(NodeAddress("a"),)))
    assert load(write(to_toml(config)), env={}, overrides={"id": "a"}) == config


def test_to_toml_round_trips_quotes_backslashes_and_unicode(write):
    config = sample_config(data_dir='C:\\data\\"quoted" dir/ü/{id}')
    assert load(write(to_toml(config)), env={}, overrides={"id": "n2"}) == config


@pytest.mark.parametrize("data_dir", ["/tmp/a\nb/{id}", "/tmp/tab\there/{id}",
                                      "/tmp/del\x7f/{id}"],
                         ids=["newline", "tab", "delete"])
def test_to_toml_round_trips_control_characters(write, data_dir):
    """Linux paths may hold any byte but NUL and '/'; ``cluster up --data-dir`` feeds
    them to to_toml, whose output must still be valid TOML."""
    config = sample_config(data_dir=data_dir)
    assert load(write(to_toml(config)), env={}, overrides={"id": "n2"}) == config


def test_local_cluster_nodes_use_base_plus_k():
    nodes = cfgmod.local_cluster_nodes(3, resp_base=100, http_base=200, peer_base=300)
    assert [(n.id, n.host, n.resp_port, n.http_port, n.peer_port) for n in nodes] == [
        ("n1", "127.0.0.1", 101, 201, 301),
        ("n2", "127.0.0.1", 102, 202, 302),
        ("n3", "127.0.0.1", 103, 203, 303),
    ]
    assert [n.host for n in cfgmod.local_cluster_nodes(2, host_per_node=True)] == \
        ["127.0.0.1", "127.0.0.2"]


# ---- check_startable -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def startable_config(data_dir: str, resp_port: int | None = None) -> Config:
    ports = [free_port() for _ in range(3)]
    me = NodeAddress("n1", "127.0.0.1", peer_port=ports[0],
                     resp_port=resp_port or ports[1], http_port=ports[2])
    return Config(NodeSection(id="n1", data_dir=data_dir), ClusterSection(nodes=(me,)))


def test_check_startable_passes_and_creates_the_data_dir(tmp_path):
    cfg = startable_config(str(tmp_path / "deep" / "{id}"))
    check_startable(cfg)
    assert os.path.isdir(tmp_path / "deep" / "n1")
    assert os.listdir(tmp_path / "deep" / "n1") == []  # the write probe is removed


def test_check_startable_fails_on_a_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = startable_config(str(tmp_path / "{id}"), resp_port=port)
        with pytest.raises(ConfigError) as err:
            check_startable(cfg)
    msg = str(err.value)
    assert f"cannot listen on 127.0.0.1:{port} (resp_port)" in msg
    assert "in use" in msg


def test_check_startable_fails_on_a_port_held_by_a_wildcard_listener(tmp_path):
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = startable_config(str(tmp_path / "{id}"), resp_port=port)
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            check_startable(cfg)


def test_check_startable_fails_on_an_unwritable_data_dir(tmp_path):
    # a regular file where a directory should be: fails even when running as root
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cfg = startable_config(str(blocker / "{id}"))
    with pytest.raises(ConfigError) as err:
        check_startable(cfg)
    assert f"data directory {blocker}/n1 is not usable" in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only directory")
def test_check_startable_fails_on_a_read_only_data_dir(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="is not usable"):
            check_startable(startable_config(str(ro)))
    finally:
        ro.chmod(0o700)


# ---- the cluster id, loads, write_atomic ----------------------------------------------


def test_cluster_id_round_trips_and_is_left_out_when_empty(write):
    config = sample_config()
    with_id = Config(config.node, ClusterSection(id="0f3a9c", nodes=config.cluster.nodes))
    assert 'id = "0f3a9c"' in to_toml(with_id).split("[cluster]")[1]
    assert load(write(to_toml(with_id)), env={}, overrides={"id": "n2"}) == with_id
    without = Config(config.node, ClusterSection(nodes=config.cluster.nodes))
    assert "id = " not in to_toml(without).split("[cluster]")[1].split("[[")[0]


@pytest.mark.parametrize("value", ['""', '"abc-DEF_09"', '"' + "a" * 64 + '"'])
def test_good_cluster_ids(write, value):
    text = f'[node]\nid = "n1"\n[cluster]\nid = {value}\n' + NODES
    assert load_text(write, text).cluster.id == value.strip('"')


@pytest.mark.parametrize("value", ['"has space"', '"a/b"', '"' + "a" * 65 + '"', "7"])
def test_bad_cluster_ids(write, value):
    text = f'[node]\nid = "n1"\n[cluster]\nid = {value}\n' + NODES
    assert "cluster.id" in config_error(write, text)


def test_loads_checks_like_load(write):
    assert cfgmod.loads(GOOD, env={}) == load_text(write, GOOD)
    with pytest.raises(ConfigError, match="not valid TOML"):
        cfgmod.loads("[node", env={})
    with pytest.raises(ConfigError, match="cluster.ranges = 0 is out of range"):
        cfgmod.loads(GOOD.replace("ranges = 8", "ranges = 0"), env={})


def test_write_atomic_replaces_the_whole_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text("old\n")
    cfgmod.write_atomic(str(path), "new\n")
    assert path.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["cluster.toml"]


def test_write_atomic_that_fails_keeps_the_old_file(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text("old\n")
    with pytest.raises(TypeError):
        cfgmod.write_atomic(str(path), None)  # fails while writing the temporary
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["cluster.toml"]


def test_the_cluster_part_of_a_config_reads_back_as_the_same_cluster():
    from dataclasses import replace as _replace
    from quorumkv.config import NodeAddress, cluster_toml, loads
    cfg = loads('[node]\nid = "n1"\n[cluster]\nid = "c1"\n'
                '[[cluster.nodes]]\nid = "n1"\n[[cluster.nodes]]\nid = "n2"\npeer_port = 9080\n'
                'resp_port = 7380\nhttp_port = 8080\n'
                '[[keyspaces]]\nname = "default"\n[[keyspaces]]\nname = "locks"\nmode = "strong"\n')
    text = cluster_toml(cfg)
    assert "[node]" not in text
    again = loads(text + '\n[node]\nid = "n2"\n')
    assert (again.cluster, again.keyspaces) == (cfg.cluster, cfg.keyspaces)
    # a node that joined is not in the bootstrap list: its own address is `joined`
    n4 = NodeAddress("n4", "127.0.0.4", 9084, 7384, 8084)
    joined = _replace(again, node=_replace(again.node, id="n4"), joined=n4)
    assert joined.me == n4
    with pytest.raises(ConfigError, match="--join"):
        _ = _replace(again, node=_replace(again.node, id="n4")).me
