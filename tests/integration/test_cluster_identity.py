"""A cluster that its own tools cannot silently break: real node processes refuse
data of another cluster or layout at start, refuse peers of another cluster or
layout at the handshake, and ``cluster up`` writes its cluster file only once every
check has passed.

Every process started here is stopped by pid (ProcessCluster.close, Launcher.cleanup,
or the ``finally`` next to its Popen); ``node start`` runs that must fail are
bounded by ``subprocess.run(timeout=...)``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import redis

from quorumkv.config import LEGACY_KEYSPACE_KEYS, load, to_toml
from quorumkv.node.identity import IDENTITY_FILE

from .cluster import STOP_TIMEOUT_S, ProcessCluster
from .test_cli import (CLI_TIMEOUT_S, Launcher, assert_config_failure,
                       consecutive_free_ports, node_pids, qkv)

LOG_WAIT_S = 15.0


def write_config(cluster: ProcessCluster, name: str, **cluster_settings) -> str:
    """``cluster``'s file with some [cluster] settings changed, as another file
    (``ranges`` and the other keyspace settings: those of keyspace default)."""
    config = load(cluster.config_path, env={}, overrides={"id": "n1"})
    default = {k: cluster_settings.pop(k) for k in LEGACY_KEYSPACE_KEYS if k in cluster_settings}
    config = replace(config, cluster=replace(config.cluster, **cluster_settings),
                     keyspaces=(replace(config.default_keyspace, **default),)
                     + config.keyspaces[1:])
    path = os.path.join(cluster.workdir, name)
    with open(path, "w") as f:
        f.write(to_toml(config))
    return path


def stored_identity(cluster: ProcessCluster, node_id: str) -> dict:
    with open(os.path.join(cluster.workdir, node_id, IDENTITY_FILE)) as f:
        return json.load(f)


def wait_for_log(cluster: ProcessCluster, node_id: str, text: str) -> str:
    deadline = time.monotonic() + LOG_WAIT_S
    while text not in full_log(cluster, node_id):
        if time.monotonic() > deadline:
            raise AssertionError(f"{node_id}'s log never said {text!r}:\n"
                                 f"{cluster.log(node_id)}")
        time.sleep(0.05)
    return full_log(cluster, node_id)


def full_log(cluster: ProcessCluster, node_id: str) -> str:
    try:
        with open(os.path.join(cluster.workdir, f"{node_id}.log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# ---- node start over existing data ------------------------------------------------


def test_node_start_refuses_data_of_another_layout_cluster_or_node(tmp_path):
    c = ProcessCluster(tmp_path, cluster_settings={"id": "clusterA"})
    try:
        c.start()
        assert c.redis("n1").set("kept", "yes") is True
        c.close()
        fingerprint = stored_identity(c, "n1")["layout_fingerprint"]
        assert stored_identity(c, "n1")["cluster_id"] == "clusterA"

        more_ranges = write_config(c, "ranges.toml", ranges=32)
        out = qkv("node", "start", "--config", more_ranges, "--id", "n1")
        assert_config_failure(out, f"layout {fingerprint} (3 nodes n1 n2 n3, 16 ranges",
                              "(3 nodes n1 n2 n3, 32 ranges", "(ranges 16 -> 32)",
                              "not supported yet")
        assert out.stderr.count("\n") == 1  # one line

        other_cluster = write_config(c, "other.toml", id="clusterB")
        assert_config_failure(qkv("node", "start", "--config", other_cluster, "--id", "n1"),
                              "belongs to cluster clusterA, but the configuration is "
                              "cluster clusterB")

        n1_dir = os.path.join(c.workdir, "n1")
        assert_config_failure(qkv("node", "start", "--config", c.config_path, "--id", "n2",
                                  "--data-dir", n1_dir), "belongs to node n1, not n2")

        # the refusals changed nothing: the right file starts it, the data intact
        assert stored_identity(c, "n1")["layout_fingerprint"] == fingerprint
        c.start()
        assert c.redis("n3", consistency="ALL").get("kept") == b"yes"
    finally:
        c.close()


def test_data_written_before_identities_is_adopted(fresh_cluster):
    c = fresh_cluster.start()
    assert c.redis("n1").set("old", "data") is True
    c.close()
    for node_id in ("n1", "n2", "n3"):  # as a data directory of an older release
        os.remove(os.path.join(c.workdir, node_id, IDENTITY_FILE))

    c.start()
    log = full_log(c, "n2")
    assert "has no cluster identity (written before identities were recorded): " \
           "adopting cluster (no id), layout" in log
    assert stored_identity(c, "n2")["layout"]["ranges"] == 16
    assert c.redis("n2", consistency="ALL").get("old") == b"data"


# ---- the peer handshake --------------------------------------------------------------


def start_by_hand(cluster: ProcessCluster, node_id: str, config_path: str):
    log = open(os.path.join(cluster.workdir, f"{node_id}.log"), "ab")
    proc = subprocess.Popen([sys.executable, "-m", "quorumkv", "node", "start", "--config",
                             config_path, "--id", node_id], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    cluster.procs[node_id] = proc
    cluster._started.append(proc)  # so that close() stops it whatever happens
    cluster.wait_ready(node_id)
    return proc


def test_peers_refuse_a_node_started_with_another_cluster_file(fresh_cluster):
    c = fresh_cluster.start("n1", "n2")
    other = write_config(c, "other.toml", ranges=32)
    start_by_hand(c, "n3", other)  # a new data directory: it starts...

    # ... but n1 and n2 refuse it, and it refuses them; both sides say why
    n1_log = wait_for_log(c, "n1", "refused a peer connection from node n3")
    wait_for_log(c, "n1", "refused our handshake")
    n3_log = wait_for_log(c, "n3", "refused a peer connection from node n1")
    wait_for_log(c, "n3", "peer n1 at ")
    assert "(n1 -> n3: ranges 16 -> 32)" in n1_log
    assert "(n3 -> n1: ranges 32 -> 16)" in n3_log

    with pytest.raises(redis.ResponseError, match="consistency ALL not met"):
        c.redis("n1", consistency="ALL").set("k", "v")
    with pytest.raises(redis.ResponseError, match="consistency QUORUM not met"):
        c.redis("n3", consistency="QUORUM").set("k", "v")

    # not retried in a tight loop: heartbeats go out every 200 ms, but a refused
    # peer is tried again after 1 s, then 2 s, 4 s ... (counted over a bounded window)
    first = time.monotonic()
    time.sleep(4.0)
    refusals = full_log(c, "n1").count("refused a peer connection from node n3")
    assert 1 <= refusals <= 4, (refusals, time.monotonic() - first)

    # the same node with the right file: its data directory now holds the other
    # layout, so it refuses to start; with a new one it is accepted by both
    c.stop("n3")
    out = qkv("node", "start", "--config", c.config_path, "--id", "n3")
    assert_config_failure(out, "(ranges 32 -> 16)")
    shutil.rmtree(os.path.join(c.workdir, "n3"))
    c.start("n3")
    deadline = time.monotonic() + LOG_WAIT_S
    while True:  # n1 tries n3 again as soon as n3's own handshake was accepted
        try:
            assert c.redis("n1", consistency="ALL").set("k", "v") is True
            break
        except redis.ResponseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert c.redis("n3", consistency="ALL").get("k") == b"v"


# ---- cluster up ------------------------------------------------------------------------


def cluster_up_args(base: int, data_dir, *extra: str) -> list[str]:
    # bases 4 apart, so that --nodes 4 is refused for its layout, not for a port clash
    return ["--resp-base", str(base), "--http-base", str(base + 4), "--peer-base",
            str(base + 8), "--data-dir", str(data_dir), "--ready-timeout-s", "30", *extra]


def test_cluster_up_refuses_another_layout_and_leaves_cluster_toml_alone(tmp_path):
    base = consecutive_free_ports(12)
    data_dir = tmp_path / "data"
    config_path = str(data_dir / "cluster.toml")
    first = Launcher(tmp_path, "first", cluster_up_args(base, data_dir, "--nodes", "3"))
    try:
        first.wait_banner(config_path)
        r = redis.Redis(port=base + 1, socket_timeout=10)
        assert r.set("layout", "kept") is True
        r.close()
        assert first.terminate() == 0
    finally:
        first.cleanup()
    before = (data_dir / "cluster.toml").read_bytes()
    cluster_id = stored_identity_at(data_dir, "n1")["cluster_id"]
    assert f'id = "{cluster_id}"'.encode() in before
    assert {stored_identity_at(data_dir, n)["cluster_id"] for n in ("n1", "n2", "n3")} \
        == {cluster_id}

    for name, extra, named in [("ranges", ["--nodes", "3", "--ranges", "32"],
                                "(ranges 16 -> 32)"),
                               ("grown", ["--nodes", "4"], "(nodes added: n4)")]:
        launcher = Launcher(tmp_path, name, cluster_up_args(base, data_dir, *extra))
        try:
            assert launcher.proc.wait(CLI_TIMEOUT_S) == 2, launcher.stderr
            err = launcher.stderr
            assert err.startswith(f"error: data directory {data_dir / 'n1'} was written "
                                  f"under cluster {cluster_id}"), err
            assert named in err and "--nodes 3 --ranges 16 --replication-factor 3" in err
            assert node_pids(config_path) == {}
        finally:
            launcher.cleanup()
        assert (data_dir / "cluster.toml").read_bytes() == before, name
        assert not (data_dir / "n4").exists()
        assert sorted(p.name for p in data_dir.iterdir()) == [
            "cluster.toml", "n1", "n1.log", "n2", "n2.log", "n3", "n3.log"]

    again = Launcher(tmp_path, "again", cluster_up_args(base, data_dir, "--nodes", "3"))
    try:
        again.wait_banner(config_path)
        assert "settings differ" not in again.stderr
        r = redis.Redis(port=base + 3, socket_timeout=10)
        assert r.get("layout") == b"kept"
        r.close()
        assert again.terminate() == 0
    finally:
        again.cleanup()
    assert (data_dir / "cluster.toml").read_bytes() == before


def stored_identity_at(data_dir, node_id: str) -> dict:
    with open(data_dir / node_id / IDENTITY_FILE) as f:
        return json.load(f)


def test_a_second_cluster_up_over_the_same_data_is_refused(tmp_path):
    base = consecutive_free_ports(12)
    data_dir = tmp_path / "data"
    config_path = str(data_dir / "cluster.toml")
    first = Launcher(tmp_path, "first", cluster_up_args(base, data_dir, "--nodes", "1"))
    try:
        first.wait_banner(config_path)
        before = (data_dir / "cluster.toml").read_bytes()
        # other ports, same data: refused before it checks or writes anything
        other = consecutive_free_ports(12)
        second = Launcher(tmp_path, "second", cluster_up_args(other, data_dir, "--nodes", "1"))
        try:
            assert second.proc.wait(CLI_TIMEOUT_S) == 2
            assert second.stderr.startswith("error: another 'quorumkv cluster up' is "
                                            f"running with data directory {data_dir}")
        finally:
            second.cleanup()
        assert (data_dir / "cluster.toml").read_bytes() == before
        assert first.proc.poll() is None
        first.proc.send_signal(signal.SIGINT)
        assert first.proc.wait(STOP_TIMEOUT_S + 20) == 0
    finally:
        first.cleanup()
