"""What a node's log says: the configuration at start, how storage was left
(recovery after a crash), peers down and up at their levels, hints stored and
delivered in a few lines, repairs and their result, and at debug the request path."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from .cluster import ProcessCluster

LOG_WAIT_S = 10.0
CLI_TIMEOUT_S = 60.0


def qkv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quorumkv", *args], capture_output=True,
                          text=True, timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)


def full_log(c: ProcessCluster, node_id: str) -> str:
    with open(os.path.join(c.workdir, f"{node_id}.log"), "rb") as f:
        return f.read().decode(errors="replace")


def wait_log(c: ProcessCluster, node_id: str, pattern: str) -> re.Match:
    """The first match of ``pattern`` in the node's log, once it is written."""
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        found = re.search(pattern, full_log(c, node_id), re.M)
        if found:
            return found
        assert time.monotonic() < deadline, f"{pattern!r} not in {node_id}'s log:\n" \
                                            f"{full_log(c, node_id)[-3000:]}"
        time.sleep(0.05)


def hints_pending(c, observer: str, target: str) -> int:
    return next(n for n in c.cluster_json(observer)["nodes"]
                if n["id"] == target)["hints_pending"]


def wait_no_hints(c, observer: str, target: str) -> None:
    deadline = time.monotonic() + 20
    while hints_pending(c, observer, target) > 0:
        assert time.monotonic() < deadline, f"{observer} still holds hints for {target}"
        time.sleep(0.1)


# ---- logs --------------------------------------------------------------------------


def test_start_logs_the_configuration_and_how_storage_was_left(fresh_cluster):
    c = fresh_cluster.start()
    log = full_log(c, "n1")
    block = re.search(r"INFO +quorumkv\.node\.node: node n1 configuration:\n((?:  .*\n)+)", log)
    assert block, log[-3000:]
    settings = block.group(1)
    assert "  node.fsync = 'batch'\n" in settings
    assert ("  keyspace default (id 1, db 0): eventual, hash, 16 ranges, replication "
            "factor 3, default consistency QUORUM,") in settings  # the keyspace's settings
    n3 = c.address("n3")
    assert (f"  cluster.nodes: n3 127.0.0.1 resp {n3.resp_port} http {n3.http_port} "
            f"peer {n3.peer_port}\n") in settings
    assert re.search(r"INFO +quorumkv\.node\.node: storage: new data directory ", log)

    c.kill("n3")  # a crash: no shutdown code runs
    c.start("n3")
    wait_log(c, "n3", r"WARNING +quorumkv\.node\.node: storage: reopened .*n3 after an "
                      r"unclean stop \(crash, kill or power loss\)")
    c.stop("n2")
    c.start("n2")
    wait_log(c, "n2", r"INFO +quorumkv\.node\.node: storage: reopened .*n2 \(the last run "
                      r"stopped cleanly\)")
    assert "unclean stop" not in full_log(c, "n2")


def test_peers_down_is_a_warning_and_up_again_is_info(fresh_cluster):
    c = fresh_cluster.start()
    c.kill("n3")
    c.wait_state("n1", "n3", "down", timeout_s=5)
    wait_log(c, "n1", r"WARNING +quorumkv\.node\.heartbeat: peer n3 is down")
    c.start("n3")
    c.wait_state("n1", "n3", "up", timeout_s=5)
    wait_log(c, "n1", r"INFO +quorumkv\.node\.heartbeat: peer n3 is up")
    assert not re.search(r"WARNING .*peer n3 is up", full_log(c, "n1"))


def test_hints_are_logged_per_target_in_a_few_lines_and_recounted_at_restart(fresh_cluster):
    c = fresh_cluster.start()
    c.kill("n3")
    c.wait_state("n1", "n3", "down", timeout_s=5)
    n1 = c.redis("n1")
    for i in range(200):
        assert n1.set(f"hl:{i}", i)
    wait_log(c, "n1", r"INFO +quorumkv\.node\.hints: storing hints for n3: it missed a write")

    c.stop("n1")  # the hints stay in n1's storage and are counted again at start
    c.start("n1")
    wait_log(c, "n1", r"INFO +quorumkv\.node\.hints: hints recounted from storage: 200 for n3$")

    c.start("n3")
    wait_no_hints(c, "n1", "n3")
    wait_log(c, "n1", r"hints for n3 delivered: \d+ since the last report, none pending")
    lines = [line for line in full_log(c, "n1").splitlines()
             if "quorumkv.node.hints" in line]
    # every delivery is accounted for (the summary lines may share the count)
    delivered = sum(int(n) for line in lines
                    for n in re.findall(r"(\d+) (?:since the last report|delivered in)", line))
    assert delivered == 200, lines
    assert len(lines) < 10, lines  # summarised, not a line per hint


def test_a_repair_logs_what_it_compared_and_streamed(tmp_path):
    c = ProcessCluster(tmp_path, max_hints_per_target=0, anti_entropy_interval_ms=0)
    try:
        c.start()
        c.kill("n3")
        c.wait_state("n1", "n3", "down", timeout_s=5)
        n1 = c.redis("n1")
        for i in range(30):  # n3 misses them, and no hint is kept
            assert n1.set(f"rl:{i}", i)
        c.start("n3")
        c.wait_state("n3", "n1", "up", timeout_s=5)
        c.wait_state("n3", "n2", "up", timeout_s=5)
        out = qkv("repair", "--http", c.http("n3"))
        assert out.returncode == 0, out.stderr
        wait_log(c, "n3", r"INFO +quorumkv\.node\.antientropy: repair of 16 ranges requested")
        done = wait_log(c, "n3", r"INFO +quorumkv\.node\.antientropy: repair of 16 ranges "
                                 r"done in [\d.]+ s: ranges compared 32, differing (\d+); "
                                 r"keys streamed (\d+) \(fetched (\d+), pushed 0\)")
        assert int(done.group(2)) == int(done.group(3)) == 30
        assert int(done.group(1)) > 0
        assert re.search(r"anti-entropy of range \d+ with n[12]: trees differed; \d+ keys "
                         r"fetched", full_log(c, "n3"))
    finally:
        c.close()


def test_debug_logs_the_request_path_and_info_does_not(tmp_path):
    c = ProcessCluster(tmp_path, log_level="debug")
    try:
        c.start()
        assert c.redis("n1").set("dbg:k", "v")
        assert c.redis("n2").get("dbg:k") == b"v"
        wait_log(c, "n1", r"DEBUG +quorumkv\.api\.resp\.server: client \d+: SET, 2 arguments")
        wait_log(c, "n1", r"DEBUG +quorumkv\.node\.coordinator: write b'dbg:k' at QUORUM: "
                          r"replicas n\d,n\d,n\d, down \(hinted\): none")
        wait_log(c, "n1", r"write b'dbg:k': QUORUM reached \(acks from n\d,n\d")
        wait_log(c, "n2", r"DEBUG +quorumkv\.node\.coordinator: read b'dbg:k' at QUORUM: "
                          r"asking n2,n\d of ")
        wait_log(c, "n2", r"read b'dbg:k': QUORUM reached from n\d,n\d; newest ts \d+ from n1")
        wait_log(c, "n3", r"DEBUG +quorumkv\.net\.transport: peer requests: .*\b1 Put\b")

        c.kill("n3")
        c.wait_state("n1", "n3", "down", timeout_s=5)
        assert c.redis("n1").set("dbg:h", "v")
        wait_log(c, "n1", r"write b'dbg:h': hint kept for n3")
    finally:
        c.close()


def test_at_info_the_request_path_is_not_logged(cluster):
    assert cluster.redis("n1").set("info:k", "v")
    assert cluster.redis("n2").get("info:k") == b"v"
    cluster.redis("n1").ping()  # the log is written before this answers
    for node_id in ("n1", "n2", "n3"):
        log = full_log(cluster, node_id)
        assert "configuration:" in log
        assert " DEBUG " not in log, node_id


def test_an_uncompiled_node_says_how_to_compile_in_its_log_and_info(tmp_path):
    c = ProcessCluster(tmp_path, nodes=1)
    try:  # an empty build directory: what a plain pip install runs with
        c.start(env={"n1": {"QUORUMKV_ACCEL_DIR": str(tmp_path / "no-build"),
                            "QUORUMKV_PURE": ""}})
        wait_log(c, "n1", r"INFO +quorumkv\.node\.node: hot path: 0 of \d+ modules compiled; "
                          r"plain Python; python -m quorumkv\.build_accel compiles the hot path")
        server = c.redis("n1").info("server")
        assert server["compiled_modules"].startswith("0/")
        assert server["compiled_hint"].startswith(
            "plain Python; python -m quorumkv.build_accel compiles the hot path (needs Cython")
    finally:
        c.close()


def test_a_compiled_node_has_no_hint(cluster):
    server = cluster.redis("n1").info("server")
    done, total = server["compiled_modules"].split("/")
    if done != total:
        pytest.skip("not every hot module is compiled here")
    assert "compiled_hint" not in server
