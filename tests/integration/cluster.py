"""Real QuorumKV node processes on loopback, for integration and fault tests.

Every process a test starts is tracked by pid and stopped by the test (SIGTERM,
then SIGKILL after a bounded wait). Ports come from the kernel's free ports, never
the ``make run`` defaults, so the suite runs beside a local cluster.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace

import redis

from quorumkv.config import ClusterSection, Config, NodeAddress, NodeSection, to_toml

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    socks, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind((host, 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class ProcessCluster:
    def __init__(self, workdir, nodes: int = 3, host_per_node: bool = False,
                 cluster_settings: dict | None = None, first_host: int = 1,
                 keyspaces: tuple = (), **node_settings) -> None:
        """``host_per_node``: node i on 127.0.0.(first_host + i); ``keyspaces``:
        KeyspaceSettings of the cluster file (default's come from cluster_settings)."""
        self.workdir = str(workdir)
        ports = free_ports(3 * nodes)
        self.addresses = tuple(
            NodeAddress(id=f"n{i + 1}",
                        host=f"127.0.0.{i + first_host}" if host_per_node else "127.0.0.1",
                        peer_port=ports[3 * i], resp_port=ports[3 * i + 1],
                        http_port=ports[3 * i + 2])
            for i in range(nodes))
        node = replace(NodeSection(), data_dir=os.path.join(self.workdir, "{id}"),
                       **node_settings)
        config = Config(node, ClusterSection(nodes=self.addresses, **(cluster_settings or {})),
                        tuple(keyspaces))
        self.config_path = os.path.join(self.workdir, "cluster.toml")
        with open(self.config_path, "w") as f:
            f.write(to_toml(config))
        self.procs: dict[str, subprocess.Popen] = {}
        self._started: list[subprocess.Popen] = []

    # ---- lifecycle ---------------------------------------------------------------

    def address(self, node_id: str) -> NodeAddress:
        return next(a for a in self.addresses if a.id == node_id)

    def start(self, *node_ids: str, env: dict[str, dict[str, str]] | None = None
              ) -> "ProcessCluster":
        """Start nodes (all by default); ``env`` adds environment variables per node."""
        ids = node_ids or tuple(a.id for a in self.addresses)
        for node_id in ids:
            log = open(os.path.join(self.workdir, f"{node_id}.log"), "ab")
            self.procs[node_id] = subprocess.Popen(
                [sys.executable, "-m", "quorumkv", "node", "start", "--config",
                 self.config_path, "--id", node_id],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {}).get(node_id, {})})
            log.close()
            self._started.append(self.procs[node_id])
        for node_id in ids:
            self.wait_ready(node_id)
        return self

    def wait_ready(self, node_id: str) -> None:
        a = self.address(node_id)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.procs[node_id].poll() is not None:
                raise RuntimeError(f"{node_id} exited early:\n{self.log(node_id)}")
            try:
                with urllib.request.urlopen(f"http://{a.host}:{a.http_port}/v1/health",
                                            timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{node_id} not ready after {READY_TIMEOUT_S}s:\n{self.log(node_id)}")

    def wait_state(self, observer: str, node_id: str, state: str,
                   timeout_s: float = 10.0) -> dict:
        """Poll ``observer``'s /v1/cluster until its failure detector shows
        ``node_id`` in ``state``; the status answer."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.cluster_json(observer)
            if {n["id"]: n["state"] for n in status["nodes"]}[node_id] == state:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"{observer} never saw {node_id} {state}: {status['nodes']}")
            time.sleep(0.05)

    def kill(self, node_id: str) -> None:
        """SIGKILL: no shutdown code runs (what a crash looks like)."""
        proc = self.procs.pop(node_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait(STOP_TIMEOUT_S)

    def stop(self, node_id: str) -> int:
        proc = self.procs.pop(node_id)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)
            raise

    def close(self) -> None:
        """Stop every process this cluster ever started that is still running."""
        self.procs.clear()
        alive = [p for p in self._started if p.poll() is None]
        for proc in alive:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in alive:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log(self, node_id: str) -> str:
        try:
            with open(os.path.join(self.workdir, f"{node_id}.log"), "rb") as f:
                return f.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""

    # ---- clients -----------------------------------------------------------------

    def redis(self, node_id: str, consistency: str | None = None, **kw) -> redis.Redis:
        a = self.address(node_id)
        client = redis.Redis(host=a.host, port=a.resp_port, socket_timeout=10, **kw)
        if consistency:
            # a single connection, so the per-connection level applies to every call
            client = redis.Redis(host=a.host, port=a.resp_port, socket_timeout=10,
                                 single_connection_client=True, **kw)
            client.execute_command("QKV.CONSISTENCY", consistency)
        return client

    def http(self, node_id: str) -> str:
        a = self.address(node_id)
        return f"http://{a.host}:{a.http_port}"

    def cluster_json(self, node_id: str) -> dict:
        with urllib.request.urlopen(self.http(node_id) + "/v1/cluster", timeout=5) as r:
            return json.loads(r.read())

