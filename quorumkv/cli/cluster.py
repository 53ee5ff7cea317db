"""``quorumkv cluster up``: N node processes on this machine, supervised in the foreground.

The supervisor checks every node's configuration (settings, ports free, data
directory writable and of this cluster and layout: node/identity.py) before it
writes anything, then writes one cluster file atomically, with the cluster id of
the existing data (a new random one for new data), then starts each node as
``python -m quorumkv node start --config FILE --id nK`` in a session of its own, so
a terminal's Ctrl-C reaches only the supervisor, which then stops the nodes in order.
It waits (bounded) until every node accepts Redis connections, prints how to reach
them and watches them: a node that dies is reported and the others keep running.
SIGINT, SIGTERM or SIGHUP sends SIGTERM to every node, waits, then SIGKILLs what is
left; a second Ctrl-C skips the wait. On Linux the nodes also get SIGTERM if the
supervisor itself is killed. Each node's output is appended to ``<data-dir>/<id>.log``.

Keyspaces besides ``default`` come from ``--keyspace`` (repeatable; see
:func:`keyspace_table`): each becomes a ``[[keyspaces]]`` table of the cluster
file, checked by the same loader as a hand-written file before anything starts.

``quorumkv cluster restart-node nK`` asks the supervisor, over a Unix socket named
after the data directory (:func:`control_address`), to start again a node that has
exited: the supervisor spawns it exactly as before, so it logs to the same file and
stops with the cluster.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from dataclasses import replace

from .. import config as cfgmod
from ..errors import ConfigError
from ..node import identity

POLL_S = 0.2
CONNECT_PROBE_TIMEOUT_S = 0.5
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 15
PR_SET_PDEATHSIG = 1
CONTROL_TIMEOUT_S = 5.0
CONTROL_LINE_BYTES = 1024


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


def control_address(data_dir: str) -> str:
    """The supervisor's control socket. On Linux an abstract one (no file to leave
    behind, no path length limit), named after the data directory's real path."""
    if not sys.platform.startswith("linux"):
        return os.path.join(data_dir, "supervisor.sock")
    digest = hashlib.sha256(os.path.realpath(data_dir).encode()).hexdigest()[:32]
    return "\0quorumkv-cluster-" + digest


KEYSPACE_FLAG = ("NAME:hash[:K][:strong][:db=N] or NAME:range[:P1,P2,...][:strong][:db=N] "
                 "(e.g. users:range:l,r:db=1, events:hash:8, locks:hash:4:strong)")
DB_SUFFIX = re.compile(r":db=([^:]*)$")
MODE_SUFFIX = re.compile(r":(strong|eventual)$")


def keyspace_table(spec: str, replication_factor: int) -> str:
    """One ``--keyspace`` as a ``[[keyspaces]]`` TOML table; ConfigError if it is
    not of the form of :data:`KEYSPACE_FLAG`. Only the form is checked here: the
    values go through the cluster file's loader, as a hand-written table would.
    Split points are separated by commas, so a split point with a comma needs the
    TOML file."""
    def bad(why: str) -> ConfigError:
        return ConfigError(f"--keyspace {spec!r}: {why}; expected {KEYSPACE_FLAG}")

    rest, db = spec, None
    suffix = DB_SUFFIX.search(rest)
    if suffix:
        rest, db = rest[:suffix.start()], suffix.group(1)
        if not db.isdigit():
            raise bad(f"db={db} is not a number")
    mode = MODE_SUFFIX.search(rest)
    if mode:
        rest, mode = rest[:mode.start()], mode.group(1)
    name, _, rest = rest.partition(":")
    partitioner, _, arg = rest.partition(":")
    if name == cfgmod.DEFAULT_KEYSPACE:
        raise bad("keyspace default takes --ranges and --replication-factor (declare "
                  "it in a cluster file to set more)")
    if partitioner not in cfgmod.PARTITIONERS:
        raise bad(f"the partitioner is hash or range, not {partitioner!r}")
    table = {"name": name, "partitioner": partitioner,
             "replication_factor": replication_factor}
    if partitioner == "hash" and arg:
        if not arg.isdigit():
            raise bad(f"the number of ranges {arg!r} is not a number")
        table["ranges"] = int(arg)
    elif partitioner == "range" and rest.count(":"):  # "users:range:" is one empty point
        table["split_points"] = tuple(arg.split(","))
    if db is not None:
        table["db"] = int(db)
    if mode:
        table["mode"] = mode
    return "\n[[keyspaces]]\n" + "".join(f"{key} = {cfgmod.toml_value(value)}\n"
                                          for key, value in table.items())


def cluster_config(config: cfgmod.Config, keyspaces: tuple[str, ...]) -> cfgmod.Config:
    """``config`` with the ``--keyspace`` keyspaces, loaded from the cluster file
    they make: every check of a hand-written file applies. ConfigError if bad."""
    default = config.default_keyspace
    text = cfgmod.to_toml(config) + "".join(
        keyspace_table(spec, default.replication_factor) for spec in keyspaces)
    return cfgmod.loads(text, env={}, overrides={"id": config.cluster.nodes[0].id})


class SupervisorUnreachable(Exception):
    """No ``cluster up`` runs for this data directory."""


def control_request(data_dir: str, line: str) -> str:
    """One request line to the supervisor of ``data_dir``; its one-line answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(CONTROL_TIMEOUT_S)
        try:
            s.connect(control_address(data_dir))
        except (FileNotFoundError, ConnectionRefusedError):
            raise SupervisorUnreachable(
                f"no 'quorumkv cluster up' is running with data directory {data_dir}") from None
        s.sendall(line.encode() + b"\n")
        return s.makefile("rb").readline(CONTROL_LINE_BYTES).decode(errors="replace").strip()


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
        self.control: socket.socket | None = None

    # ---- before anything runs ----------------------------------------------------

    def prepare(self) -> None:
        """Check every node, then write the cluster file; raises ConfigError.

        Nothing is written before every check has passed, so a start that fails
        (a busy port, another layout over existing data) leaves the file of the
        last good start as it was."""
        self._listen_control()
        self.config = replace(self.config, cluster=replace(self.config.cluster,
                                                           id=self._cluster_id()))
        text = cfgmod.to_toml(self.config)
        # as each node will load it: the same text, environment and --id
        configs = [cfgmod.loads(text, overrides={"id": n.id}) for n in self.nodes]
        for cfg in configs:
            identity.check(cfg, advice=self._advice(identity.read(cfg.data_dir)))
        for cfg in configs:
            cfgmod.check_startable(cfg)
        try:
            if os.path.exists(self.path):
                with open(self.path) as f:
                    if f.read() != text:
                        say(f"warning: the cluster settings differ from the last run in "
                            f"{self.data_dir}; rewriting {self.path}", err=True)
            cfgmod.write_atomic(self.path, text)
        except OSError as exc:
            raise ConfigError(f"cannot write {self.path}: {exc.strerror}") from None

    def _cluster_id(self) -> str:
        """The id the nodes' data directories record, else the last cluster file's,
        else a new random one."""
        recorded = {}
        for n in self.nodes:
            node_cfg = replace(self.config, node=replace(self.config.node, id=n.id))
            stored = identity.read(node_cfg.data_dir)
            if stored is not None and stored.cluster_id:
                recorded[n.id] = stored.cluster_id
        if len(set(recorded.values())) > 1:
            which = ", ".join(f"{k}: {v}" for k, v in recorded.items())
            raise ConfigError(f"the data directories in {self.data_dir} belong to different "
                              f"clusters ({which}); use a data directory of one cluster")
        if recorded:
            return next(iter(recorded.values()))
        try:
            with open(self.path, "rb") as f:
                previous = tomllib.load(f).get("cluster", {}).get("id", "")
        except (OSError, tomllib.TOMLDecodeError, AttributeError):
            previous = ""
        if isinstance(previous, str) and cfgmod.CLUSTER_ID.fullmatch(previous):
            return previous
        return uuid.uuid4().hex

    def _advice(self, stored) -> str:
        """What to do when a data directory refuses these settings."""
        if stored is None:
            return ""
        layout = stored.layout
        flags = "".join(f" --keyspace {keyspace_flag(k)}" for k in layout.keyspaces)
        return (f"run cluster up with the settings of that data (--nodes "
                f"{len(layout.nodes)} --ranges {layout.ranges} --replication-factor "
                f"{layout.replication_factor}{flags}, the same --peer-base and "
                f"--host-per-node), or use another --data-dir (make clean deletes ./data)")

    def _listen_control(self) -> None:
        """The socket ``cluster restart-node`` talks to; taken, it means another
        supervisor runs over this data directory."""
        try:
            os.makedirs(self.data_dir, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {self.data_dir}: {exc.strerror}") from None
        address = control_address(self.data_dir)
        if not address.startswith("\0") and os.path.exists(address):
            try:  # a socket file left by a supervisor that was killed?
                control_request(self.data_dir, "status -")
            except SupervisorUnreachable:
                os.remove(address)
            except OSError:
                pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            raise ConfigError(f"another 'quorumkv cluster up' is running with data "
                              f"directory {self.data_dir} ({exc.strerror})") from None
        sock.listen(8)
        sock.setblocking(False)
        self.control = sock

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
            if self.control is not None:
                self.control.close()

    def _on_signal(self, signum, frame) -> None:
        if self.stop_requested:
            self.force = True
        self.stop_requested = True

    def _log_path(self, node_id: str) -> str:
        return os.path.join(self.data_dir, f"{node_id}.log")

    def _spawn(self, node_id: str, what: str = "starting") -> None:
        with open(self._log_path(node_id), "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {what} {node_id}\n".encode())
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
                                                f"{proc.returncode}; the others keep running",
                                       restartable=True)
            if len(self.reported) == len(self.procs):
                say("error: every node has exited", err=True)
                return 1
            self._serve_control(POLL_S)
        return 0

    # ---- cluster restart-node ----------------------------------------------------

    def _serve_control(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for a control request; answer it."""
        if not select.select([self.control], [], [], timeout_s)[0]:
            return
        try:
            conn, _ = self.control.accept()
        except (BlockingIOError, InterruptedError):
            return
        with conn:
            conn.settimeout(CONTROL_TIMEOUT_S)
            try:
                line = conn.makefile("rb").readline(CONTROL_LINE_BYTES)
                conn.sendall(self._control(line.decode(errors="replace").split()).encode()
                             + b"\n")
            except OSError:
                pass  # the asker went away: nothing to answer

    def _control(self, words: list[str]) -> str:
        """``restart ID`` or ``status ID``; the answer line."""
        if len(words) != 2 or words[0] not in ("restart", "status"):
            return "error unknown request (expected: restart ID, status ID)"
        verb, node_id = words
        proc = self.procs.get(node_id)
        if proc is None:
            return (f"unknown no node {node_id} in this cluster "
                    f"(nodes: {', '.join(self.procs)})")
        code = proc.poll()
        if verb == "status":
            return f"running {proc.pid}" if code is None else f"exited {code}"
        if code is None:
            return f"running {proc.pid}"
        if node_id not in self.reported:  # it died since the last look
            self.reported.add(node_id)
            self._report_death(node_id, f"exited with code {code}")
        self._spawn(node_id, "restarting")
        self.reported.discard(node_id)
        n = next(n for n in self.nodes if n.id == node_id)
        pid = self.procs[node_id].pid
        say(f"node {node_id} restarted (pid {pid}) by 'quorumkv cluster restart-node'")
        return f"started {pid} {n.host} {n.resp_port}"

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

    def _report_death(self, node_id: str, what: str, restartable: bool = False) -> None:
        say(f"error: node {node_id} {what} (log: {self._log_path(node_id)})", err=True)
        self._print_log_tail(node_id)
        if restartable:
            say(f"  start it again with: {restart_command(node_id, self.data_dir)}", err=True)

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
        say(f"A node that died starts again with: "
            f"{restart_command('nK', self.data_dir)}")
        say(f"Ctrl-C stops the cluster; the data stays in {self.data_dir}.")


def keyspace_flag(k) -> str:
    """The ``--keyspace`` that makes a keyspace of a recorded layout."""
    if k.partitioner == "hash":
        return f"{k.name}:hash:{k.ranges}"
    return f"{k.name}:range" + (f":{','.join(k.split_points)}" if k.split_points else "")


def restart_command(node_id: str, data_dir: str) -> str:
    default = os.path.abspath("data")
    where = "" if os.path.abspath(data_dir) == default else f" --data-dir {data_dir}"
    return f"{quorumkv_command()} cluster restart-node {node_id}{where}"


def restart_node(data_dir: str, node_id: str, ready_timeout_s: float) -> tuple[int, str]:
    """``cluster restart-node``: (exit code, message). Asks the supervisor to start
    the node again, then waits (bounded) until it accepts Redis connections."""
    try:
        answer = control_request(data_dir, f"restart {node_id}").split()
    except SupervisorUnreachable as exc:
        return 3, f"error: {exc}"
    except OSError as exc:
        return 3, f"error: cannot reach the supervisor of {data_dir}: {exc}"
    log_path = os.path.join(data_dir, f"{node_id}.log")
    if answer[:1] == ["unknown"]:
        return 2, "error: " + " ".join(answer[1:])
    if answer[:1] == ["running"]:
        return 1, (f"error: node {node_id} is running (pid {answer[1]}); restart-node "
                   f"starts a node that has exited")
    if answer[:1] != ["started"] or len(answer) != 4:
        return 1, f"error: the supervisor answered {' '.join(answer)!r}"
    pid, host, port = answer[1], answer[2], int(answer[3])
    deadline = time.monotonic() + ready_timeout_s
    while not accepts_connections(host, port):
        try:
            state = control_request(data_dir, f"status {node_id}").split()
        except (SupervisorUnreachable, OSError):
            return 1, f"error: the supervisor stopped while {node_id} was starting"
        if state[:1] != ["running"] or state[1:2] != [pid]:
            return 1, (f"error: node {node_id} (pid {pid}) exited while starting "
                       f"({' '.join(state)}); see {log_path}")
        if time.monotonic() > deadline:
            return 1, (f"error: node {node_id} (pid {pid}) does not accept Redis "
                       f"connections after {ready_timeout_s:g} s; see {log_path}")
        time.sleep(POLL_S)
    return 0, (f"node {node_id} restarted (pid {pid}): Redis on {host}:{port}, "
               f"log {log_path}")
