"""``quorumkv cluster up``: N node processes on this machine, supervised in the foreground.

The supervisor writes one cluster file, checks every node's configuration (ports
free, data directory writable) before it spawns anything, then starts each node as
``python -m quorumkv node start --config FILE --id nK`` in a session of its own, so
a terminal's Ctrl-C reaches only the supervisor, which then stops the nodes in order.
It waits (bounded) until every node accepts Redis connections, prints how to reach
them and watches them: a node that dies is reported and the others keep running.
SIGINT, SIGTERM or SIGHUP sends SIGTERM to every node, waits, then SIGKILLs what is
left; a second Ctrl-C skips the wait. On Linux the nodes also get SIGTERM if the
supervisor itself is killed. Each node's output is appended to ``<data-dir>/<id>.log``.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from .. import config as cfgmod
from ..errors import ConfigError

POLL_S = 0.2
CONNECT_PROBE_TIMEOUT_S = 0.5
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 15
PR_SET_PDEATHSIG = 1


def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
    except OSError:
        return None


_LIBC = _libc()


def _die_with_parent(parent_pid: int):
    """preexec_fn for a child: SIGTERM it when the supervisor dies (Linux only)."""
    def preexec() -> None:
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
            if os.getppid() != parent_pid:  # the parent died before prctl
                os._exit(1)
    return preexec


def accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def quorumkv_command() -> str:
    """How to run ``quorumkv`` from this shell: the bare name if ``PATH`` finds this
    installation's script, else its path (``.venv/bin/quorumkv`` after ``make run``)."""
    script = os.path.join(os.path.dirname(sys.executable), "quorumkv")
    found = shutil.which("quorumkv")
    if found and os.path.realpath(found) == os.path.realpath(script):
        return "quorumkv"
    if not os.path.exists(script):
        return f"{sys.executable} -m quorumkv"
    relative = os.path.relpath(script)
    return relative if not relative.startswith("..") else script


def say(text: str = "", err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


class LocalCluster:
    def __init__(self, config: cfgmod.Config, data_dir: str, ready_timeout_s: float) -> None:
        self.config = config
        self.nodes = config.cluster.nodes
        self.data_dir = data_dir
        self.path = os.path.join(data_dir, "cluster.toml")
        self.ready_timeout_s = ready_timeout_s
        self.procs: dict[str, subprocess.Popen] = {}
        self.reported: set[str] = set()
        self.stop_requested = False
        self.force = False

    # ---- before anything runs ----------------------------------------------------

    def prepare(self) -> None:
        """Write the cluster file and check every node; raises ConfigError."""
        text = cfgmod.to_toml(self.config)
        try:
            os.makedirs(self.data_dir, exist_ok=True)
            if os.path.exists(self.path):
                with open(self.path) as f:
                    if f.read() != text:
                        say(f"warning: the cluster settings differ from the last run in "
                            f"{self.data_dir}; rewriting {self.path}", err=True)
            with open(self.path, "w") as f:
                f.write(text)
        except OSError as exc:
            raise ConfigError(f"cannot write {self.path}: {exc.strerror}") from None
        for n in self.nodes:
            cfgmod.check_startable(cfgmod.load(self.path, overrides={"id": n.id}))

    # ---- the foreground loop -----------------------------------------------------

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        try:
            for n in self.nodes:
                self._spawn(n.id)
            outcome = self._wait_ready()
            if outcome != "ready":
                return 0 if outcome == "stopped" else 1
            self._print_banner()
            return self._watch()
        finally:
            self._stop_all()

    def _on_signal(self, signum, frame) -> None:
        if self.stop_requested:
            self.force = True
        self.stop_requested = True

    def _log_path(self, node_id: str) -> str:
        return os.path.join(self.data_dir, f"{node_id}.log")

    def _spawn(self, node_id: str) -> None:
        with open(self._log_path(node_id), "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {node_id}\n".encode())
            log.flush()
            self.procs[node_id] = subprocess.Popen(
                [sys.executable, "-m", "quorumkv", "node", "start", "--config", self.path,
                 "--id", node_id],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent(os.getpid()))

    def _wait_ready(self) -> str:
        """"ready" once every node accepts Redis connections, else "failed"/"stopped"."""
        deadline = time.monotonic() + self.ready_timeout_s
        pending = {n.id: n for n in self.nodes}
        while pending:
            if self.stop_requested:
                return "stopped"
            for node_id, n in list(pending.items()):
                code = self.procs[node_id].poll()
                if code is not None:
                    self.reported.add(node_id)
                    self._report_death(node_id, f"exited with code {code} while starting")
                    return "failed"
                if accepts_connections(n.host, n.resp_port):
                    del pending[node_id]
            if pending and time.monotonic() > deadline:
                late = ", ".join(f"{n.id} ({n.host}:{n.resp_port})" for n in pending.values())
                say(f"error: not accepting Redis connections after {self.ready_timeout_s:g} s: "
                    f"{late}; stopping the cluster", err=True)
                for node_id in pending:
                    self._print_log_tail(node_id)
                return "failed"
            if pending:
                time.sleep(POLL_S)
        return "ready"

    def _watch(self) -> int:
        while not self.stop_requested:
            for node_id, proc in self.procs.items():
                if node_id not in self.reported and proc.poll() is not None:
                    self.reported.add(node_id)
                    self._report_death(node_id, f"exited unexpectedly with code "
                                                f"{proc.returncode}; the others keep running")
            if len(self.reported) == len(self.procs):
                say("error: every node has exited", err=True)
                return 1
            time.sleep(POLL_S)
        return 0

    def _stop_all(self) -> None:
        alive = [p for p in self.procs.values() if p.poll() is None]
        if not alive:
            return
        say(f"stopping {len(alive)} node(s) ...")
        for proc in alive:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while alive and time.monotonic() < deadline and not self.force:
            time.sleep(POLL_S / 2)
            alive = [p for p in alive if p.poll() is None]
        for proc in alive:
            say(f"node pid {proc.pid} did not stop in time; killing it", err=True)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        say("cluster stopped")

    # ---- what the user sees ------------------------------------------------------

    def _report_death(self, node_id: str, what: str) -> None:
        say(f"error: node {node_id} {what} (log: {self._log_path(node_id)})", err=True)
        self._print_log_tail(node_id)

    def _print_log_tail(self, node_id: str) -> None:
        try:
            with open(self._log_path(node_id), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return
        for line in lines:
            say(f"  {node_id} | {line}", err=True)

    def _print_banner(self) -> None:
        say(f"QuorumKV cluster up: {len(self.nodes)} node(s), data in {self.data_dir}")
        say()
        rows = [("ID", "RESP", "HTTP", "PEER", "LOG")]
        rows += [(n.id, f"{n.host}:{n.resp_port}", f"http://{n.host}:{n.http_port}",
                  f"{n.host}:{n.peer_port}", self._log_path(n.id)) for n in self.nodes]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            say("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        first, other = self.nodes[0], self.nodes[min(2, len(self.nodes) - 1)]

        def cli(n) -> str:
            return ("" if n.host == "127.0.0.1" else f"-h {n.host} ") + f"-p {n.resp_port}"
        say()
        say("Try it (write on one node, read on another):")
        say(f"  redis-cli {cli(first)} SET user:42 alice")
        say(f"  redis-cli {cli(other)} GET user:42")
        say(f"  curl -X PUT --data-binary alice "
            f"http://{first.host}:{first.http_port}/v1/kv/default/user:42")
        say(f"  curl http://{other.host}:{other.http_port}/v1/kv/default/user:42")
        say(f"  {quorumkv_command()} status --http http://{first.host}:{first.http_port}")
        say()
        say(f"Ctrl-C stops the cluster; the data stays in {self.data_dir}.")
