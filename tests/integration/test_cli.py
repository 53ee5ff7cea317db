"""The ``quorumkv`` command line and the Python client against real node processes.

Every process started here is stopped by pid: ``node start`` / ``get`` / ``set`` /
``status`` runs are bounded by ``subprocess.run(timeout=...)`` (which kills the child),
``cluster up`` launchers and the nodes they spawn are found by pid and stopped in a
``finally``. Ports come from the kernel (``free_ports``) or, for ``cluster up`` (which
needs base+1..base+N), from probing a block below the ephemeral range.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis

from quorumkv.client import Client
from quorumkv.config import ClusterSection, Config, NodeAddress, NodeSection, to_toml

from .cluster import free_ports

CLI_TIMEOUT_S = 30.0
CLUSTER_UP_READY_S = 30.0
CLUSTER_UP_STOP_S = 30.0
RESERVED = set(range(7379, 7382)) | set(range(8079, 8082)) | set(range(9079, 9082))


def qkv(*args: str, timeout: float = CLI_TIMEOUT_S, env: dict | None = None):
    """``python -m quorumkv ARGS``; subprocess.run kills it if the timeout passes."""
    return subprocess.run([sys.executable, "-m", "quorumkv", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env=env if env is not None else clean_env())


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("QKV_")}


def node_arg(cluster, node_id: str) -> str:
    a = cluster.address(node_id)
    return f"{a.host}:{a.resp_port}"


def dead_port() -> int:
    """A port nothing listens on (the kernel just handed it out and it was released)."""
    return free_ports(1)[0]


# ---- node start with a bad configuration ---------------------------------------------


def write_single_node_config(tmp_path, extra_node_lines: str = "", **node) -> tuple:
    peer, resp, http = free_ports(3)
    me = NodeAddress("n1", "127.0.0.1", peer_port=peer, resp_port=resp, http_port=http)
    cfg = Config(NodeSection(data_dir=str(tmp_path / "data" / "{id}"), **node),
                 ClusterSection(nodes=(me,)))
    text = to_toml(cfg).replace("[node]\n", "[node]\n" + extra_node_lines, 1)
    path = tmp_path / "node.toml"
    path.write_text(text)
    return str(path), me


def assert_config_failure(out, *named: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert out.stderr.startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr
    for text in named:
        assert text in out.stderr, out.stderr


def test_node_start_unknown_key_exits_2_before_starting(tmp_path):
    path, me = write_single_node_config(tmp_path, "colour = \"blue\"\n")
    out = qkv("node", "start", "--config", path, "--id", "n1")
    assert_config_failure(out, "unknown setting 'node.colour'")
    assert not (tmp_path / "data").exists()  # nothing was created, let alone started


def test_node_start_port_in_use_exits_2_and_names_the_port(tmp_path):
    path, me = write_single_node_config(tmp_path)
    with socket.socket() as busy:
        busy.bind((me.host, me.http_port))
        busy.listen()
        started = time.monotonic()
        out = qkv("node", "start", "--config", path, "--id", "n1")
        assert time.monotonic() - started < 10
    assert_config_failure(out, f"cannot listen on 127.0.0.1:{me.http_port} (http_port)")
    # it started nothing: the ports it did not fail on are free again right away
    for port in (me.peer_port, me.resp_port):
        with socket.socket() as s:
            assert s.connect_ex((me.host, port)) != 0


@pytest.mark.parametrize("args, node, named", [
    (["--id", "n7"], {}, "node id 'n7' is not in cluster.nodes"),
    (["--id", "n1"], {"fsync": "sometimes"}, "node.fsync must be always, batch or periodic"),
    (["--id", "n1"], {"max_clients": 0}, "node.max_clients = 0 is out of range"),
    ([], {}, "node.id is required"),
], ids=["unknown-id", "bad-fsync", "out-of-range", "no-id"])
def test_node_start_other_bad_configs_exit_2(tmp_path, args, node, named):
    path, _ = write_single_node_config(tmp_path, **node)
    assert_config_failure(qkv("node", "start", "--config", path, *args), named)


def test_node_start_missing_or_invalid_file_exits_2(tmp_path):
    missing = str(tmp_path / "nope.toml")
    assert_config_failure(qkv("node", "start", "--config", missing, "--id", "n1"),
                          f"cannot read config file {missing}")
    bad = tmp_path / "bad.toml"
    bad.write_text("[node\n")
    assert_config_failure(qkv("node", "start", "--config", str(bad), "--id", "n1"),
                          "is not valid TOML")


def test_node_start_env_override_is_checked_too(tmp_path):
    path, _ = write_single_node_config(tmp_path)
    env = clean_env() | {"QKV_NODE_FSYNC": "never"}
    assert_config_failure(qkv("node", "start", "--config", path, "--id", "n1", env=env),
                          "node.fsync")


def test_node_start_section_that_is_not_a_table_exits_2(tmp_path):
    """``node = "n1"`` at the top of the file (meant: ``[node]`` / ``id = "n1"``)."""
    peer, resp, http = free_ports(3)
    path = tmp_path / "node.toml"
    path.write_text(f'node = "n1"\n\n[[cluster.nodes]]\nid = "n1"\npeer_port = {peer}\n'
                    f"resp_port = {resp}\nhttp_port = {http}\n")
    out = qkv("node", "start", "--config", str(path), "--id", "n1")
    assert_config_failure(out, "node")


# ---- get / set / del against the shared cluster --------------------------------------


def test_set_on_n1_get_on_n3_del_and_missing(cluster):
    n1, n2, n3 = (node_arg(cluster, n) for n in ("n1", "n2", "n3"))
    out = qkv("set", "cli:greeting", "hello world", "--node", n1)
    assert (out.returncode, out.stdout) == (0, "OK\n"), out.stderr

    out = qkv("get", "cli:greeting", "--node", n3)
    assert (out.returncode, out.stdout) == (0, "hello world\n"), out.stderr
    out = qkv("get", "cli:greeting", "--node", n2, "--consistency", "all")
    assert (out.returncode, out.stdout) == (0, "hello world\n"), out.stderr

    out = qkv("del", "cli:greeting", "cli:never-set", "--node", n2)
    assert (out.returncode, out.stdout) == (0, "1\n"), out.stderr

    out = qkv("get", "cli:greeting", "--node", n3)
    assert (out.returncode, out.stdout.strip()) == (1, "(nil)"), out.stderr
    out = qkv("get", "cli:never-set", "--node", n1)
    assert (out.returncode, out.stdout.strip()) == (1, "(nil)"), out.stderr
    out = qkv("del", "cli:greeting", "--node", n1)
    assert (out.returncode, out.stdout) == (0, "0\n"), out.stderr


def test_host_port_options_and_node_failover(cluster):
    a1, a3 = cluster.address("n1"), cluster.address("n3")
    out = qkv("set", "cli:hp", "v", "--host", a1.host, "--port", str(a1.resp_port))
    assert (out.returncode, out.stdout) == (0, "OK\n"), out.stderr
    # the first --node is dead: the CLI moves on to the next one
    out = qkv("get", "cli:hp", "--node", f"127.0.0.1:{dead_port()}",
              "--node", f"{a3.host}:{a3.resp_port}")
    assert (out.returncode, out.stdout) == (0, "v\n"), out.stderr


def test_unreachable_node_and_bad_node_syntax(cluster):
    out = qkv("get", "k", "--node", f"127.0.0.1:{dead_port()}", "--timeout", "2")
    assert out.returncode == 3 and out.stderr.startswith("error: "), out
    out = qkv("get", "k", "--node", "no-port-here")
    assert out.returncode == 2 and "error: node must be host:port" in out.stderr, out


# ---- status --------------------------------------------------------------------------


def status_rows(text: str) -> dict[str, list[str]]:
    """{node id: [state, id, address, resp, ranges, keys, bytes...]} from the table."""
    rows = {}
    for line in text.splitlines():
        cols = line.split()
        if len(cols) >= 6 and cols[0] in ("UP", "SU", "DN"):
            rows[cols[1]] = cols
    return rows


def test_status_table_lists_every_node_up_with_ranges(cluster):
    out = qkv("status", "--http", cluster.http("n2"))
    assert out.returncode == 0, out.stderr
    assert "Cluster as seen by n2" in out.stdout
    header = next(line for line in out.stdout.splitlines() if line.strip().startswith("State"))
    assert header.split() == ["State", "ID", "Address", "RESP", "Ranges", "Keys", "Bytes",
                              "Hints", "Phi"]
    status = cluster.cluster_json("n2")
    held = {n["id"]: n["ranges"] for n in status["nodes"]}
    rows = status_rows(out.stdout)
    assert set(rows) == {"n1", "n2", "n3"}
    for node_id, cols in rows.items():
        a = cluster.address(node_id)
        assert cols[:5] == ["UP", node_id, a.host, str(a.resp_port), str(held[node_id])]
        assert int(cols[4]) > 0
        assert cols[5].startswith("~") and cols[5][1:].isdigit()  # an estimate, known
        assert 0 <= float(cols[-1]) < 5  # phi of a peer answering its heartbeats
    n_ranges = len(status["range_map"]["ranges"])
    assert f"Range map: version {status['range_map']['version']}, {n_ranges} ranges" \
        in out.stdout
    keyspace_rows = [line.split() for line in out.stdout.splitlines()
                     if line.startswith(("Keyspace ", "default "))]
    assert keyspace_rows == [["Keyspace", "Id", "Mode", "Partitioner", "RF", "Ranges", "DB",
                              "Consistency"],
                             ["default", "1", "eventual", "hash", "3", str(n_ranges), "0",
                              "QUORUM"]]


def test_status_json_has_the_range_map_version(cluster):
    out = qkv("status", "--http", cluster.http("n1") + "/", "--json")
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["node_id"] == "n1"
    assert isinstance(status["range_map"]["version"], int)
    assert status["range_map"]["version"] == \
        cluster.cluster_json("n3")["range_map"]["version"]
    assert status["range_map"]["epoch"] == status["range_map"]["version"], \
        "the old name stays for one release"
    assert {n["id"]: n["state"] for n in status["nodes"]} == \
        {"n1": "up", "n2": "up", "n3": "up"}


def test_status_of_an_unreachable_node_exits_3():
    out = qkv("status", "--http", f"http://127.0.0.1:{dead_port()}", "--timeout", "2")
    assert out.returncode == 3, out
    assert out.stderr.startswith("error: cannot read http://127.0.0.1:"), out.stderr


def test_status_shows_a_killed_node_as_down(fresh_cluster):
    c = fresh_cluster.start()
    c.kill("n3")
    c.wait_state("n1", "n3", "down", timeout_s=5)
    out = qkv("status", "--http", c.http("n1"))
    assert out.returncode == 0, out.stderr
    rows = status_rows(out.stdout)
    assert [rows[n][0] for n in ("n1", "n2", "n3")] == ["UP", "UP", "DN"], out.stdout
    assert rows["n3"][5] == "?"  # a down node's key count is unknown
    assert rows["n3"][4].isdigit() and int(rows["n3"][4]) > 0  # it still holds ranges


# ---- cluster up ----------------------------------------------------------------------


def consecutive_free_ports(count: int) -> int:
    """A start S so that S+1..S+count are all free, below the kernel's ephemeral range
    (so other tests' free_ports() never hand them out meanwhile)."""
    rng = random.Random()
    for _ in range(200):
        start = rng.randrange(20000, 32000 - count)
        ports = range(start + 1, start + count + 1)
        if RESERVED.intersection(ports):
            continue
        socks = []
        try:
            for port in ports:
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no block of free ports found")


def node_pids(config_path: str) -> dict[str, int]:
    """The ``node start --config CONFIG_PATH --id nK`` processes, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "node" in argv and "start" in argv and config_path in argv and "--id" in argv:
            found[argv[argv.index("--id") + 1]] = int(entry)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def read(path) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


class Launcher:
    """One ``quorumkv cluster up`` process with its output in files."""

    def __init__(self, tmp_path, name: str, args: list[str]) -> None:
        self.out_path, self.err_path = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "quorumkv", "cluster", "up", *args],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=clean_env())
        self.seen_pids: dict[str, int] = {}

    @property
    def stdout(self) -> str:
        return read(self.out_path)

    @property
    def stderr(self) -> str:
        return read(self.err_path)

    def wait_banner(self, config_path: str) -> None:
        deadline = time.monotonic() + CLUSTER_UP_READY_S
        while "Ctrl-C stops the cluster" not in self.stdout:
            self.seen_pids.update(node_pids(config_path))
            if self.proc.poll() is not None:
                raise AssertionError(f"cluster up exited with {self.proc.returncode}:\n"
                                     f"{self.stdout}\n{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no banner after {CLUSTER_UP_READY_S}s:\n"
                                     f"{self.stdout}\n{self.stderr}")
            time.sleep(0.05)
        self.seen_pids.update(node_pids(config_path))

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(CLUSTER_UP_STOP_S)

    def cleanup(self) -> None:
        """Whatever happened, leave no launcher and no node of it running."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(CLUSTER_UP_STOP_S)
        for pid in self.seen_pids.values():
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def test_cluster_up_serves_stops_on_sigterm_and_keeps_data(tmp_path):
    base = consecutive_free_ports(9)
    resp_base, http_base, peer_base = base, base + 3, base + 6
    data_dir = tmp_path / "data"
    config_path = str(data_dir / "cluster.toml")
    args = ["--nodes", "3", "--resp-base", str(resp_base), "--http-base", str(http_base),
            "--peer-base", str(peer_base), "--data-dir", str(data_dir),
            "--ready-timeout-s", str(CLUSTER_UP_READY_S)]
    resp = {f"n{k}": resp_base + k for k in (1, 2, 3)}
    all_ports = [b + k for b in (resp_base, http_base, peer_base) for k in (1, 2, 3)]

    first = Launcher(tmp_path, "first", args)
    try:
        first.wait_banner(config_path)
        out = first.stdout
        assert f"QuorumKV cluster up: 3 node(s), data in {data_dir}" in out
        assert f"redis-cli -p {resp['n1']} SET user:42 alice" in out
        assert f"redis-cli -p {resp['n3']} GET user:42" in out
        assert (f"curl -X PUT --data-binary alice "
                f"http://127.0.0.1:{http_base + 1}/v1/kv/default/user:42") in out
        assert f"curl http://127.0.0.1:{http_base + 3}/v1/kv/default/user:42" in out
        assert f"quorumkv status --http http://127.0.0.1:{http_base + 1}" in out
        # as printed, the command runs from this shell: on PATH, or given by its path
        command = re.search(r"^\s+(\S+) status --http", out, re.M).group(1)
        assert command == "quorumkv" or os.access(command, os.X_OK), command
        for k in (1, 2, 3):
            assert re.search(rf"^\s+n{k}\s+127\.0\.0\.1:{resp_base + k}\s", out, re.M), out

        pids = dict(first.seen_pids)
        assert sorted(pids) == ["n1", "n2", "n3"], pids
        for pid in pids.values():
            assert alive(pid)

        r1 = redis.Redis(port=resp["n1"], socket_timeout=10)
        r3 = redis.Redis(port=resp["n3"], socket_timeout=10)
        try:
            assert r1.set("up:persist", "kept") is True
            assert r3.get("up:persist") == b"kept"
        finally:
            r1.close()
            r3.close()

        assert first.terminate() == 0, first.stderr
        assert "cluster stopped" in first.stdout
        deadline = time.monotonic() + 5
        while any(alive(p) for p in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [n for n, p in pids.items() if alive(p)], "nodes outlived the launcher"
        assert node_pids(config_path) == {}
        for port in all_ports:
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.1", port)) != 0, f"{port} still listening"
    finally:
        first.cleanup()

    second = Launcher(tmp_path, "second", args)
    try:
        second.wait_banner(config_path)
        assert "settings differ" not in second.stderr
        r2 = redis.Redis(port=resp["n2"], socket_timeout=10)
        try:
            assert r2.get("up:persist") == b"kept"
        finally:
            r2.close()
        assert second.terminate() == 0, second.stderr
    finally:
        second.cleanup()


def test_cluster_up_with_a_busy_port_exits_2_and_starts_nothing(tmp_path):
    base = consecutive_free_ports(9)
    data_dir = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base + 2))  # n2's RESP port
        busy.listen()
        launcher = Launcher(tmp_path, "busy", [
            "--nodes", "3", "--resp-base", str(base), "--http-base", str(base + 3),
            "--peer-base", str(base + 6), "--data-dir", str(data_dir)])
        try:
            assert launcher.proc.wait(CLI_TIMEOUT_S) == 2
            assert launcher.stderr.startswith("error: cannot listen on "
                                              f"127.0.0.1:{base + 2} (resp_port)")
            assert node_pids(str(data_dir / "cluster.toml")) == {}
        finally:
            launcher.cleanup()


def test_cluster_restart_node_restarts_a_killed_node_that_stops_with_the_cluster(tmp_path):
    base = consecutive_free_ports(9)
    data_dir = tmp_path / "data"
    config_path = str(data_dir / "cluster.toml")
    launcher = Launcher(tmp_path, "up", [
        "--nodes", "3", "--resp-base", str(base), "--http-base", str(base + 3),
        "--peer-base", str(base + 6), "--data-dir", str(data_dir)])
    restarted_pid = None
    try:
        launcher.wait_banner(config_path)
        # the command as this shell runs it: quorumkv, .venv/bin/quorumkv, python -m ...
        assert re.search(r"A node that died starts again with: (\S*quorumkv|\S+ -m quorumkv) "
                         r"cluster restart-node nK --data-dir " + re.escape(str(data_dir)),
                         launcher.stdout), launcher.stdout
        r1 = redis.Redis(port=base + 1, socket_timeout=10)
        assert r1.set("before:kill", "v1") is True
        r1.close()
        old_pid = launcher.seen_pids["n3"]
        os.kill(old_pid, signal.SIGKILL)
        deadline = time.monotonic() + CLI_TIMEOUT_S
        while "error: node n3 exited unexpectedly with code -9" not in launcher.stderr:
            assert time.monotonic() < deadline, launcher.stderr
            time.sleep(0.05)
        assert re.search(r"start it again with: (\S*quorumkv|\S+ -m quorumkv) cluster "
                         r"restart-node n3 --data-dir " + re.escape(str(data_dir)),
                         launcher.stderr), launcher.stderr

        out = qkv("cluster", "restart-node", "n3", "--data-dir", str(data_dir))
        assert out.returncode == 0, (out.stdout, out.stderr)
        restarted_pid = node_pids(config_path)["n3"]
        launcher.seen_pids["n3-restarted"] = restarted_pid
        assert restarted_pid != old_pid and alive(restarted_pid)
        assert out.stdout.startswith(f"node n3 restarted (pid {restarted_pid}): Redis on "
                                     f"127.0.0.1:{base + 3}, log {data_dir / 'n3.log'}")
        assert f"node n3 restarted (pid {restarted_pid})" in launcher.stdout
        r3 = redis.Redis(port=base + 3, socket_timeout=10)
        try:
            assert r3.get("before:kill") == b"v1"  # it serves reads
        finally:
            r3.close()
        log = read(data_dir / "n3.log")  # the same log file, both runs in it
        assert " starting n3\n" in log and " restarting n3\n" in log
        assert log.index(" starting n3") < log.index(" restarting n3")

        running = qkv("cluster", "restart-node", "n3", "--data-dir", str(data_dir))
        assert running.returncode == 1
        assert f"error: node n3 is running (pid {restarted_pid})" in running.stderr
        unknown = qkv("cluster", "restart-node", "n7", "--data-dir", str(data_dir))
        assert unknown.returncode == 2
        assert "error: no node n7 in this cluster (nodes: n1, n2, n3)" in unknown.stderr

        launcher.proc.send_signal(signal.SIGINT)  # Ctrl-C of make run
        assert launcher.proc.wait(CLUSTER_UP_STOP_S) == 0, launcher.stderr
        deadline = time.monotonic() + 5
        while alive(restarted_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(restarted_pid), "the restarted node outlived cluster up"
        assert node_pids(config_path) == {}
    finally:
        launcher.cleanup()
    gone = qkv("cluster", "restart-node", "n3", "--data-dir", str(data_dir))
    assert gone.returncode == 3
    assert gone.stderr.startswith("error: no 'quorumkv cluster up' is running with data "
                                  f"directory {data_dir}")


# ---- the Python client ---------------------------------------------------------------


def addresses(cluster, *ids: str) -> list[str]:
    return [node_arg(cluster, n) for n in ids or ("n1", "n2", "n3")]


def test_client_set_get_delete(cluster):
    with Client(addresses(cluster), timeout=5) as kv, \
            Client(addresses(cluster, "n3"), consistency="ALL", timeout=5) as reader:
        assert kv.set("client:a", "1") is True
        assert kv.set(b"client:b", b"\x00\xff") is True
        assert reader.get("client:a") == b"1"
        assert kv.get(b"client:b") == b"\x00\xff"
        assert kv.mget(["client:a", "client:b", "client:none"]) == [b"1", b"\x00\xff", None]
        assert kv.exists("client:a", "client:b", "client:none") == 2
        assert kv.delete("client:a", "client:b", "client:none") == 2
        assert reader.get("client:a") is None
        assert kv.get("client:b") is None
        assert kv.ping()


def test_client_fails_over_and_all_fails_clearly_with_a_node_down(fresh_cluster):
    c = fresh_cluster.start()
    kv = Client(addresses(c), timeout=5)  # n1 listed first
    strict = kv.with_consistency("ALL")
    try:
        assert kv.set("fo:before", "b")  # pooled connections, maybe to n1
        assert strict.get("fo:before") == b"b"
        c.kill("n1")
        # calls rotate their starting node, so some of these start at the dead n1
        for i in range(6):
            assert kv.set(f"fo:{i}", str(i)) is True
        assert [kv.get(f"fo:{i}") for i in range(6)] == [str(i).encode() for i in range(6)]
        assert kv.get("fo:before") == b"b"
        assert kv.delete("fo:0") == 1

        assert strict.consistency == "ALL"
        for op in (lambda: strict.set("fo:all", "x"), lambda: strict.get("fo:before")):
            with pytest.raises(redis.ResponseError) as err:
                op()
            assert str(err.value).startswith("consistency ALL not met: 2 of 3 replicas "
                                             "answered"), str(err.value)

        # the CLI says the same, with exit code 3
        out = qkv("get", "fo:before", "--consistency", "ALL",
                  *sum((["--node", a] for a in addresses(c)), []))
        assert out.returncode == 3, out
        assert "error: consistency ALL not met" in out.stderr

        # only dead nodes: the connection error comes through
        with Client(addresses(c, "n1"), timeout=2) as dead:
            with pytest.raises(redis.ConnectionError):
                dead.get("fo:before")
    finally:
        kv.close()
        strict.close()


def test_client_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown consistency level"):
        Client(["127.0.0.1:1"], consistency="MOST")
    with pytest.raises(ValueError, match="host:port"):
        Client(["localhost"])
    with pytest.raises(ValueError, match="at least one node"):
        Client([])
