"""Node configuration: one TOML file, overridden by environment, then by flags.

The same cluster file can serve every node: ``[[cluster.nodes]]`` lists each node's
addresses (the static bootstrap list) and ``node.id`` (or ``--id`` /
``QKV_NODE_ID``) says which entry is this node. Environment overrides are named
``QKV_<SECTION>_<KEY>``, e.g. ``QKV_NODE_FSYNC=always``.

Keyspaces are ``[[keyspaces]]`` tables (:class:`KeyspaceSettings`): name, mode,
partitioner (``hash`` with ``ranges = K``, or ``range`` with ``split_points``),
replication factor, default consistency, tombstone grace period, hints rule and an
optional Redis ``db`` number. Keyspace ``default`` always exists: declared as
``[[keyspaces]] name = "default"``, or built from the old ``[cluster]`` keys
(``ranges``, ``replication_factor``, ``default_consistency``,
``hints_count_toward_consistency``, ``gc_grace_ms``), which keep working for one
release (:attr:`Config.deprecated` names those set; the node logs a warning).
Keyspace ids follow the order of the file: ``default`` is 1, the others 2, 3, ...
(the layout fingerprint covers the list, so a reorder over existing data is
refused: core/identity.py).

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

from .core.meta.spec import (DEFAULT_KEYSPACE, LEVELS, MAX_DB,  # noqa: F401 (for callers)
                             MAX_GC_GRACE_MS, MAX_KEYSPACES, MAX_RANGES, NAME_PATTERN,
                             PARTITIONERS, SpecError, check_spec, spec_from_settings)
from .errors import ConfigError

REQUEST_LEVELS = ("ANY",) + LEVELS       # ANY: writes only
CLUSTER_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
KEYSPACE_NAME = NAME_PATTERN  # the one rule of core/meta/spec.py
MODES = ("eventual", "strong")
# the [cluster] keys that set keyspace default before [[keyspaces]] existed
LEGACY_KEYSPACE_KEYS = ("ranges", "replication_factor", "default_consistency",
                        "hints_count_toward_consistency", "gc_grace_ms")


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
    anti_entropy_depth: int = 10  # Merkle tree levels: 2**depth leaves per range
    tombstone_gc_interval_ms: int = 3_600_000
    range_stats_interval_ms: int = 30_000  # how often range sizes are counted (0: never)
    hint_delivery_rate: int = 2000
    max_key_bytes: int = 64 * 1024
    max_value_bytes: int = 8 * 1024 * 1024
    max_clients: int = 10000
    raft_tick_ms: int = 100          # strong keyspaces: the Raft clock's tick
    raft_election_ticks: int = 10    # a follower campaigns after 10-20 ticks of silence
    raft_heartbeat_ticks: int = 1    # a leader heartbeats every tick
    log_level: str = "info"


@dataclass(frozen=True)
class ClusterSection:
    """``ranges`` .. ``gc_grace_ms``: the deprecated [cluster] keys of keyspace
    default. Config makes them mirror ``config.default_keyspace`` (the truth):
    to change default, change ``config.keyspaces``."""

    id: str = ""  # "" = none: only the layout is checked (core/identity.py)
    ranges: int = 16
    replication_factor: int = 3
    default_consistency: str = "QUORUM"
    hints_count_toward_consistency: str = "off"
    gc_grace_ms: int = 864_000_000
    nodes: tuple[NodeAddress, ...] = ()


@dataclass(frozen=True)
class KeyspaceSettings:
    """One ``[[keyspaces]]`` table. ``ranges`` is for hash keyspaces and
    ``split_points`` for range keyspaces (``["l", "r"]``: ``[ , l) [l, r) [r, )``)."""

    name: str
    mode: str = "eventual"
    partitioner: str = "hash"
    ranges: int = 16
    split_points: tuple[str, ...] = ()
    replication_factor: int = 3
    default_consistency: str = "QUORUM"
    gc_grace_ms: int = 864_000_000
    hints_count_toward_consistency: str = "off"
    db: int | None = None  # the Redis database (SELECT n) that addresses it
    keyspace_id: int = 0   # set by Config from the order of the file
    # built from the old [cluster] keys: its errors name them
    legacy: bool = field(default=False, compare=False, repr=False)

    @property
    def range_count(self) -> int:
        return self.ranges if self.partitioner == "hash" else len(self.split_points) + 1


KEYSPACE_KEYS = tuple(f.name for f in fields(KeyspaceSettings)
                      if f.name not in ("keyspace_id", "legacy"))


@dataclass(frozen=True)
class Config:
    node: NodeSection = field(default_factory=NodeSection)
    cluster: ClusterSection = field(default_factory=ClusterSection)
    # every keyspace, ``default`` first (Config fills it in from [cluster] if absent)
    keyspaces: tuple[KeyspaceSettings, ...] = ()
    # the deprecated [cluster] keys that were set, to warn about once at start
    deprecated: tuple[str, ...] = field(default=(), compare=False)
    # this node's addresses when it joined the cluster (node/join.py): then it is
    # not in cluster.nodes, which stays the bootstrap list the layout is made of
    joined: NodeAddress | None = None
    # the members the join's answer named (the first peers, until the metadata
    # group has reached this node); not part of any file
    joined_members: tuple[NodeAddress, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        """``default`` first with id 1 (and db 0 unless it says otherwise), the
        others 2, 3, ... in order; [cluster]'s old keys mirror ``default``."""
        declared = list(self.keyspaces)
        default = next((k for k in declared if k.name == DEFAULT_KEYSPACE), None)
        if default is None:
            default = _legacy_default(self.cluster)
        else:
            declared.remove(default)
        if default.db is None:
            default = replace(default, db=0)
        ordered = [replace(default, keyspace_id=1)] + [
            replace(k, keyspace_id=i) for i, k in enumerate(declared, start=2)]
        object.__setattr__(self, "keyspaces", tuple(ordered))
        object.__setattr__(self, "cluster", replace(
            self.cluster, **{key: getattr(default, key) for key in LEGACY_KEYSPACE_KEYS}))

    @property
    def default_keyspace(self) -> KeyspaceSettings:
        return self.keyspaces[0]

    @property
    def me(self) -> NodeAddress:
        if self.joined is not None:
            return self.joined
        for n in self.cluster.nodes:
            if n.id == self.node.id:
                return n
        raise ConfigError(f"node id '{self.node.id}' is not in cluster.nodes (a node "
                          f"that is not in the bootstrap list joins a running cluster: "
                          f"quorumkv node start --join HOST:PEER_PORT)")

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


def _legacy_default(c: ClusterSection) -> KeyspaceSettings:
    return KeyspaceSettings(DEFAULT_KEYSPACE, legacy=True,
                            **{key: getattr(c, key) for key in LEGACY_KEYSPACE_KEYS})


def _parse_keyspaces(raw) -> tuple[KeyspaceSettings, ...]:
    if not isinstance(raw, list):
        raise ConfigError("keyspaces must be an array of tables ([[keyspaces]])")
    if len(raw) > MAX_KEYSPACES:
        raise ConfigError(f"{len(raw)} keyspaces: at most {MAX_KEYSPACES}")
    return tuple(_parse_keyspace(i, entry) for i, entry in enumerate(raw))


def _parse_keyspace(i: int, entry) -> KeyspaceSettings:
    where = f"keyspaces[{i}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ConfigError(f"{where} needs a 'name' (a string)")
    name = entry["name"]
    if not KEYSPACE_NAME.fullmatch(name):
        raise ConfigError(f"{where}.name {name!r} must be 1 to 48 letters, digits, "
                          f"'_' or '-'")
    where = f"keyspaces.{name}"
    for key in entry:
        if key not in KEYSPACE_KEYS:
            raise ConfigError(f"unknown setting '{where}.{key}' "
                              f"(known: {', '.join(KEYSPACE_KEYS)})")
    values = {}
    for key, value in entry.items():
        if key == "split_points":
            values[key] = _split_points(where, value)
        elif key != "name":
            kind = int if key in ("ranges", "replication_factor", "gc_grace_ms", "db") else str
            values[key] = _coerce("keyspaces", f"{name}.{key}", value, kind)
    partitioner = values.get("partitioner", "hash")
    if partitioner == "hash" and "split_points" in values:
        raise ConfigError(f"{where}.split_points is for range keyspaces; a hash "
                          f"keyspace takes ranges = K (or set partitioner = \"range\")")
    if partitioner == "range" and "ranges" in values:
        raise ConfigError(f"{where}.ranges is for hash keyspaces; a range keyspace is "
                          f"cut at its split_points (ranges = split points + 1)")
    return KeyspaceSettings(name, **values)


def _split_points(where: str, value) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ConfigError(f"{where}.split_points must be an array of strings, "
                          f"not {value!r}")
    return tuple(value)


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
        if section not in ("node", "cluster", "keyspaces"):
            raise ConfigError(f"unknown config section '[{section}]' "
                              f"(known: node, cluster, keyspaces)")
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
    keyspaces = _parse_keyspaces(raw.get("keyspaces", []))
    legacy = tuple(f"cluster.{k}" for k in LEGACY_KEYSPACE_KEYS if k in cluster_raw)
    if legacy and any(k.name == DEFAULT_KEYSPACE for k in keyspaces):
        raise ConfigError(f"keyspace default is declared twice: in [[keyspaces]] and by "
                          f"{', '.join(legacy)} (deprecated [cluster] keys); keep only "
                          f"the [[keyspaces]] entry, with those settings in it")
    config = Config(_build(NodeSection, "node", node_raw),
                    replace(_build(ClusterSection, "cluster", cluster_raw), nodes=nodes),
                    keyspaces, deprecated=legacy)
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
    validate_keyspaces(config.keyspaces)
    checks = [
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
        ("node.anti_entropy_depth", n.anti_entropy_depth, 1, 20),  # core/merkle.py's bound
        ("node.tombstone_gc_interval_ms", n.tombstone_gc_interval_ms, 0, 86_400_000),
        ("node.range_stats_interval_ms", n.range_stats_interval_ms, 0, 86_400_000),
        ("node.max_key_bytes", n.max_key_bytes, 1, 512 * 1024 * 1024),
        # a value travels in one peer frame (net.transport.MAX_FRAME_BYTES, 64 MiB)
        ("node.max_value_bytes", n.max_value_bytes, 0, 32 * 1024 * 1024),
        ("node.max_clients", n.max_clients, 1, 1_000_000),
        ("node.raft_tick_ms", n.raft_tick_ms, 1, 60_000),
        ("node.raft_election_ticks", n.raft_election_ticks, 2, 1000),
        ("node.raft_heartbeat_ticks", n.raft_heartbeat_ticks, 1, 1000),
    ]
    for name, value, low, high in checks:
        if not low <= value <= high:
            raise ConfigError(f"{name} = {value} is out of range [{low}, {high}]")
    if n.raft_heartbeat_ticks >= n.raft_election_ticks:
        raise ConfigError(f"node.raft_heartbeat_ticks ({n.raft_heartbeat_ticks}) must be "
                          f"below node.raft_election_ticks ({n.raft_election_ticks}): a "
                          f"leader heartbeats several times per election timeout")
    if n.phi_suspect > n.phi_down:
        raise ConfigError(f"node.phi_suspect ({n.phi_suspect}) must not exceed "
                          f"node.phi_down ({n.phi_down})")
    if n.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError("node.log_level must be debug, info, warning or error")


def validate_keyspaces(keyspaces: tuple[KeyspaceSettings, ...]) -> None:
    names: set[str] = set()
    dbs: dict[int, str] = {}
    for ks in keyspaces:
        if ks.name in names:
            raise ConfigError(f"keyspace {ks.name!r} is declared twice in [[keyspaces]]")
        names.add(ks.name)
        _validate_keyspace(ks)
        if ks.db is not None:
            if ks.db in dbs:
                raise ConfigError(f"keyspaces {dbs[ks.db]} and {ks.name} both take db "
                                  f"{ks.db}: each Redis database number names one keyspace"
                                  + (" (default has db 0 unless it declares another)"
                                     if ks.db == 0 else ""))
            dbs[ks.db] = ks.name


def _validate_keyspace(ks: KeyspaceSettings) -> None:
    """One keyspace's settings: the mode here, every other field by
    core/meta/spec.py's check, the one HTTP, RESP and the CLI use. The errors of the keyspace built from [cluster] name the old keys
    (``cluster.ranges``), the others ``keyspaces.<name>.<key>``."""
    def label(key: str) -> str:
        return f"cluster.{key}" if ks.legacy else f"keyspaces.{ks.name}.{key}"

    if not KEYSPACE_NAME.fullmatch(ks.name):
        raise ConfigError(f"keyspace name {ks.name!r} must be 1 to 48 letters, digits, "
                          f"'_' or '-'")
    if ks.mode not in MODES:
        raise ConfigError(f"{label('mode')} must be eventual or strong, not {ks.mode!r}")
    try:
        check_spec(spec_from_settings(ks))
    except SpecError as exc:
        raise ConfigError(f"{label(exc.field)}{exc.detail}") from None


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
            lines.append(f"{f.name} = {toml_value(getattr(config.node, f.name))}")
    return "\n".join(lines) + "\n\n" + cluster_toml(config)


def cluster_toml(config: Config) -> str:
    """The cluster's part of the config as TOML: [cluster], the bootstrap
    [[cluster.nodes]] and the [[keyspaces]] (what a joining node runs under)."""
    lines = ["[cluster]"]
    for f in fields(ClusterSection):
        if f.name != "nodes" and f.name not in LEGACY_KEYSPACE_KEYS \
                and not (f.name == "id" and not config.cluster.id):
            lines.append(f"{f.name} = {toml_value(getattr(config.cluster, f.name))}")
    for n in config.cluster.nodes:
        lines.append("\n[[cluster.nodes]]")
        for f in fields(NodeAddress):
            lines.append(f"{f.name} = {toml_value(getattr(n, f.name))}")
    for ks in config.keyspaces:  # default is written as a keyspace too
        lines.append("\n[[keyspaces]]")
        lines += [f"{key} = {toml_value(getattr(ks, key))}" for key in _toml_keys(ks)]
    return "\n".join(lines) + "\n"


def _toml_keys(ks: KeyspaceSettings) -> list[str]:
    skip = {"split_points" if ks.partitioner == "hash" else "ranges"}
    if ks.db is None:
        skip.add("db")
    return [key for key in KEYSPACE_KEYS if key not in skip]


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


def toml_value(v) -> str:
    """A TOML value: integer, boolean, string, or a tuple of them as an array."""
    if isinstance(v, tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
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
