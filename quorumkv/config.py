"""Node configuration: one TOML file, overridden by environment, then by flags.

The same cluster file can serve every node: ``[[cluster.nodes]]`` lists each node's
addresses (the static bootstrap list) and ``node.id`` (or ``--id`` /
``QKV_NODE_ID``) says which entry is this node. Environment overrides are named
``QKV_<SECTION>_<KEY>``, e.g. ``QKV_NODE_FSYNC=always``.

Everything is checked before the node starts anything: unknown sections or keys,
wrong types, out-of-range numbers, duplicate ids or addresses, a data directory
that cannot be written, ports already in use. (Whether the data directory belongs
to this cluster and layout is node/identity.py's check.)
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from dataclasses import dataclass, field, fields, replace

from .errors import ConfigError

LEVELS = ("ONE", "TWO", "QUORUM", "ALL")  # a keyspace default must serve reads too
REQUEST_LEVELS = ("ANY",) + LEVELS       # ANY: writes only
CLUSTER_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


@dataclass(frozen=True)
class NodeAddress:
    id: str
    host: str = "127.0.0.1"
    peer_port: int = 9079
    resp_port: int = 7379
    http_port: int = 8079


@dataclass(frozen=True)
class NodeSection:
    id: str = ""
    data_dir: str = "data/{id}"
    fsync: str = "batch"
    periodic_sync_ms: int = 1000
    row_cache_bytes: int = 64 * 1024 * 1024
    request_timeout_ms: int = 2000
    speculative_retry_ms: int = 50
    heartbeat_interval_ms: int = 200
    phi_suspect: int = 5
    phi_down: int = 8
    max_hints_per_target: int = 100_000
    max_clock_skew_ms: int = 500
    anti_entropy_interval_ms: int = 60_000
    tombstone_gc_interval_ms: int = 3_600_000
    hint_delivery_rate: int = 2000
    max_key_bytes: int = 64 * 1024
    max_value_bytes: int = 8 * 1024 * 1024
    max_clients: int = 10000
    log_level: str = "info"


@dataclass(frozen=True)
class ClusterSection:
    id: str = ""  # "" = none: only the layout is checked (core/identity.py)
    ranges: int = 16
    replication_factor: int = 3
    default_consistency: str = "QUORUM"
    hints_count_toward_consistency: str = "off"
    gc_grace_ms: int = 864_000_000
    nodes: tuple[NodeAddress, ...] = ()


@dataclass(frozen=True)
class Config:
    node: NodeSection = field(default_factory=NodeSection)
    cluster: ClusterSection = field(default_factory=ClusterSection)

    @property
    def me(self) -> NodeAddress:
        for n in self.cluster.nodes:
            if n.id == self.node.id:
                return n
        raise ConfigError(f"node id '{self.node.id}' is not in cluster.nodes")

    @property
    def data_dir(self) -> str:
        return self.node.data_dir.replace("{id}", self.node.id)


def _coerce(section: str, name: str, value, kind):
    where = f"{section}.{name}"
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
        if not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _build(cls, section: str, raw: dict):
    known = {f.name: f for f in fields(cls)}
    values = {}
    for name, value in raw.items():
        if name not in known or name == "nodes":
            raise ConfigError(f"unknown setting '{section}.{name}' "
                              f"(known: {', '.join(sorted(k for k in known if k != 'nodes'))})")
        kind = int if known[name].type in ("int", int) else str
        values[name] = _coerce(section, name, value, kind)
    return cls(**values)


def _parse_nodes(raw) -> tuple[NodeAddress, ...]:
    if not isinstance(raw, list):
        raise ConfigError("cluster.nodes must be an array of tables ([[cluster.nodes]])")
    nodes = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or "id" not in entry:
            raise ConfigError(f"cluster.nodes[{i}] needs at least an 'id'")
        nodes.append(_build(NodeAddress, f"cluster.nodes[{i}]", entry))
    return tuple(nodes)


def load(path: str | None = None, env: dict | None = None, overrides: dict | None = None) -> Config:
    """Read ``path`` (optional), apply ``QKV_*`` environment and flag overrides, check."""
    raw: dict = {}
    if path:
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return _from_raw(raw, env, overrides)


def loads(text: str, env: dict | None = None, overrides: dict | None = None) -> Config:
    """As :func:`load`, from the text of a file not written yet (``cluster up``
    checks its nodes' configurations before it writes their file)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config is not valid TOML: {exc}") from None
    return _from_raw(raw, env, overrides)


def _from_raw(raw: dict, env: dict | None, overrides: dict | None) -> Config:
    for section in raw:
        if section not in ("node", "cluster"):
            raise ConfigError(f"unknown config section '[{section}]' (known: node, cluster)")
    for section in ("node", "cluster"):
        if not isinstance(raw.get(section, {}), dict):
            raise ConfigError(f"'{section}' must be a table ([{section}]), "
                              f"not {raw[section]!r}")
    node_raw = dict(raw.get("node", {}))
    cluster_raw = dict(raw.get("cluster", {}))
    nodes = _parse_nodes(cluster_raw.pop("nodes", []))
    env = os.environ if env is None else env
    for key, value in env.items():
        if key.startswith("QKV_NODE_"):
            node_raw[key[len("QKV_NODE_"):].lower()] = value
        elif key.startswith("QKV_CLUSTER_"):
            cluster_raw[key[len("QKV_CLUSTER_"):].lower()] = value
    for key, value in (overrides or {}).items():
        if value is not None:
            node_raw[key] = value
    config = Config(_build(NodeSection, "node", node_raw),
                    replace(_build(ClusterSection, "cluster", cluster_raw), nodes=nodes))
    validate(config)
    return config


def validate(config: Config) -> None:
    n, c = config.node, config.cluster
    if not n.id:
        raise ConfigError("node.id is required (set it in the file, QKV_NODE_ID or --id)")
    if not c.nodes:
        raise ConfigError("cluster.nodes is empty: list at least this node")
    ids = [x.id for x in c.nodes]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"duplicate node ids in cluster.nodes: {ids}")
    endpoints = [(x.host, p) for x in c.nodes for p in (x.peer_port, x.resp_port, x.http_port)]
    if len(set(endpoints)) != len(endpoints):
        raise ConfigError("two listeners in cluster.nodes share one host:port")
    for x in c.nodes:
        for name in ("peer_port", "resp_port", "http_port"):
            port = getattr(x, name)
            if not 1 <= port <= 65535:
                raise ConfigError(f"node {x.id}: {name} {port} is not a valid port")
    config.me  # raises if this node is missing
    if n.fsync not in ("always", "batch", "periodic"):
        raise ConfigError(f"node.fsync must be always, batch or periodic, not '{n.fsync}'")
    if c.id and not CLUSTER_ID.fullmatch(c.id):
        raise ConfigError(f"cluster.id {c.id!r} must be 1 to 64 letters, digits, '_' or '-'")
    if c.default_consistency.upper() not in LEVELS:
        raise ConfigError(f"cluster.default_consistency must be one of {', '.join(LEVELS)}")
    checks = [
        ("cluster.ranges", c.ranges, 1, 4096),
        ("cluster.replication_factor", c.replication_factor, 1, 15),
        ("node.periodic_sync_ms", n.periodic_sync_ms, 1, 3_600_000),
        ("node.row_cache_bytes", n.row_cache_bytes, 0, 1 << 40),
        ("node.request_timeout_ms", n.request_timeout_ms, 10, 600_000),
        ("node.speculative_retry_ms", n.speculative_retry_ms, 0, 600_000),
        ("node.heartbeat_interval_ms", n.heartbeat_interval_ms, 10, 60_000),
        ("node.phi_suspect", n.phi_suspect, 1, 100),
        ("node.phi_down", n.phi_down, 1, 100),
        ("node.max_hints_per_target", n.max_hints_per_target, 0, 1 << 40),
        ("node.hint_delivery_rate", n.hint_delivery_rate, 1, 1_000_000),
        ("node.max_clock_skew_ms", n.max_clock_skew_ms, 1, 3_600_000),
        ("node.anti_entropy_interval_ms", n.anti_entropy_interval_ms, 0, 86_400_000),
        ("node.tombstone_gc_interval_ms", n.tombstone_gc_interval_ms, 0, 86_400_000),
        ("cluster.gc_grace_ms", c.gc_grace_ms, 0, 10 * 365 * 86_400_000),
        ("node.max_key_bytes", n.max_key_bytes, 1, 512 * 1024 * 1024),
        # a value travels in one peer frame (net.transport.MAX_FRAME_BYTES, 64 MiB)
        ("node.max_value_bytes", n.max_value_bytes, 0, 32 * 1024 * 1024),
        ("node.max_clients", n.max_clients, 1, 1_000_000),
    ]
    for name, value, low, high in checks:
        if not low <= value <= high:
            raise ConfigError(f"{name} = {value} is out of range [{low}, {high}]")
    if c.hints_count_toward_consistency not in ("on", "off"):
        raise ConfigError("cluster.hints_count_toward_consistency must be on or off")
    if n.phi_suspect > n.phi_down:
        raise ConfigError(f"node.phi_suspect ({n.phi_suspect}) must not exceed "
                          f"node.phi_down ({n.phi_down})")
    if n.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError("node.log_level must be debug, info, warning or error")


def check_startable(config: Config) -> None:
    """Checks that touch the machine: data dir writable, own ports free."""
    path = config.data_dir
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write-probe")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as exc:
        raise ConfigError(f"data directory {path} is not usable: {exc.strerror}") from None
    me = config.me
    for name in ("peer_port", "resp_port", "http_port"):
        port = getattr(me, name)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((me.host, port))
            except OSError as exc:
                raise ConfigError(f"cannot listen on {me.host}:{port} ({name}): "
                                  f"{exc.strerror}") from None


def local_cluster_nodes(count: int, host_per_node: bool = False, resp_base: int = 7378,
                        http_base: int = 8078, peer_base: int = 9078) -> tuple[NodeAddress, ...]:
    """The addresses of ``quorumkv cluster up``: node N on ports base+N."""
    return tuple(
        NodeAddress(id=f"n{i}", host=f"127.0.0.{i}" if host_per_node else "127.0.0.1",
                    peer_port=peer_base + i, resp_port=resp_base + i, http_port=http_base + i)
        for i in range(1, count + 1))


def to_toml(config: Config) -> str:
    """The config as a TOML file (what ``cluster up`` writes for its nodes)."""
    lines = ["[node]"]
    for f in fields(NodeSection):
        if f.name != "id":
            lines.append(f"{f.name} = {_toml_value(getattr(config.node, f.name))}")
    lines.append("\n[cluster]")
    for f in fields(ClusterSection):
        if f.name != "nodes" and not (f.name == "id" and not config.cluster.id):
            lines.append(f"{f.name} = {_toml_value(getattr(config.cluster, f.name))}")
    for n in config.cluster.nodes:
        lines.append("\n[[cluster.nodes]]")
        for f in fields(NodeAddress):
            lines.append(f"{f.name} = {_toml_value(getattr(n, f.name))}")
    return "\n".join(lines) + "\n"


def write_atomic(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` all at once: a crash leaves the old file or the
    new one, never a mix (temporary file, fsync, rename, fsync of the directory)."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    out = []
    for ch in str(v):
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
