"""The cluster metadata state machine: nodes, keyspaces and range descriptors.

How this works. Every metadata replica applies the metadata group's committed
commands (commands.py) in log order with :meth:`MetaState.apply`; the same
commands from the same state give the same state, so the replicas agree. A
command that may not apply is refused with a :class:`Result` that says why
(``keyspace 'x' exists``) and changes nothing: an exception would stop the log.

The state holds:

* nodes: id, addresses, datacenter, rack and state (``joining``, ``up``,
  ``leaving``, ``left``; a left node's id is never taken again);
* keyspaces: a :class:`~.spec.KeyspaceSpec` and an id. Bootstrap gives ids 1, 2,
  ... in its order (default is 1, as config.py and existing data directories
  have it); later keyspaces take the next id; an id is never reused after a drop;
* range descriptors: range ids allocated here, never reused; each descriptor's
  ``generation`` rises with every change of it;
* ``version``: rises by one with every command that changes something, and every
  record remembers the version that last changed it (:meth:`changes_since`).

Placement (:func:`choose_replicas`) of a new keyspace's ranges: ``rf`` distinct
``up`` nodes, the ones in the fewest datacenters and racks already chosen first,
then the least loaded (ranges held), then by node id. Bootstrap places exactly
as core/placement/bootstrap.py always did, so existing clusters keep their layout.

RemoveNode (the record; moving ranges off a node is the elasticity work):
refused while a strong range that has the node as a voter would keep fewer than a
majority of its voters on nodes not left, and while an eventual range would keep
no voter. Otherwise the node is ``left``; it leaves every eventual range's members
(the range runs with fewer replicas than its keyspace's rf until a move adds one:
its writes no longer wait for, or hint to, a node that will not return), and
stays in strong ranges' voters, which only the range's own Raft group can change
(a conf change, then UpdateDescriptor).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..keys import MAX_KEYSPACE_ID
from ..placement.bootstrap import bootstrap_ranges
from ..placement.descriptor import VOTER, RangeDescriptor
from ..placement.keyspace import Keyspace
from ..placement.partitioner import HASH, hash_split_points, range_split_points
from ..placement.rangecache import RangeCache
from .commands import (JOINING, LEAVING, LEFT, UP, AddNode, Bootstrap, CreateKeyspace,
                       DropKeyspace, NodeInfo, RemoveNode, SetNodeState, UpdateDescriptor,
                       decode_spec)
from .spec import DEFAULT_KEYSPACE, MAX_KEYSPACES, STRONG, KeyspaceSpec, SpecError, check_spec

MAX_NODE_ID_BYTES = 255  # core/keys.py gives a node id one length byte
MAX_PLACE_BYTES = 64     # dc and rack names
MAX_LISTED = 10          # ranges named in one refusal
# node state -> the states SetNodeState may take it to (left: only by RemoveNode)
TRANSITIONS = {JOINING: (UP,), UP: (LEAVING,), LEAVING: (UP,), LEFT: ()}


@dataclass(frozen=True, slots=True)
class Result:
    """What applying one command gave: ``ok`` with a ``value`` (CreateKeyspace and
    DropKeyspace: the keyspace id; UpdateDescriptor: the stored descriptor; the
    others: the new version), or not ``ok`` and the refusal in ``error``."""
    ok: bool
    error: str = ""
    value: object = None


def refused(error: str) -> Result:
    return Result(False, error)


@dataclass(frozen=True, slots=True)
class NodeRecord:
    info: NodeInfo
    state: str
    changed: int  # the version that last changed it

    @property
    def node_id(self) -> str:
        return self.info.node_id


@dataclass(frozen=True, slots=True)
class KeyspaceRecord:
    keyspace_id: int
    spec: KeyspaceSpec
    changed: int

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed after a version: the records as they are now, and the ids of
    the keyspaces and ranges removed since."""
    version: int
    nodes: tuple[NodeRecord, ...] = ()
    keyspaces: tuple[KeyspaceRecord, ...] = ()
    dropped_keyspaces: tuple[int, ...] = ()
    descriptors: tuple[RangeDescriptor, ...] = ()
    removed_ranges: tuple[int, ...] = ()


def runtime_keyspace(record: KeyspaceRecord) -> Keyspace:
    """The Keyspace the node's routing takes (as node.node.runtime_keyspace)."""
    s = record.spec
    return Keyspace(s.name, record.keyspace_id, mode=s.mode, partitioner=s.partitioner,
                    replication_factor=s.replication_factor,
                    default_consistency=s.default_consistency.upper(),
                    hints_count=s.hints_count_toward_consistency == "on", db=s.db,
                    gc_grace_ms=s.gc_grace_ms)


def choose_replicas(candidates: list[NodeInfo], load: dict, rf: int) -> tuple[str, ...]:
    """``rf`` distinct nodes of ``candidates``: each pick the node whose datacenter,
    then rack, is the least used by the picks so far, then the least ``load``ed,
    then the smallest id. ``load`` (node id -> ranges held) counts the picks."""
    assert rf <= len(candidates), "the caller checks there are enough nodes"
    dcs: dict[str, int] = {}
    racks: dict[tuple, int] = {}
    chosen: list[str] = []
    for _ in range(rf):
        node = min((n for n in candidates if n.node_id not in chosen),
                   key=lambda n: (dcs.get(n.dc, 0) if n.dc else 0,
                                  racks.get((n.dc, n.rack), 0) if n.rack else 0,
                                  load.get(n.node_id, 0), n.node_id))
        chosen.append(node.node_id)
        dcs[node.dc] = dcs.get(node.dc, 0) + 1
        racks[(node.dc, node.rack)] = racks.get((node.dc, node.rack), 0) + 1
        load[node.node_id] = load.get(node.node_id, 0) + 1
    return tuple(chosen)


def check_node(info: NodeInfo) -> str | None:
    """Why ``info`` is not a node a cluster can hold, or None."""
    if not info.node_id or len(info.node_id.encode()) > MAX_NODE_ID_BYTES \
            or any(c.isspace() for c in info.node_id):
        return (f"node id {info.node_id!r} must be 1 to {MAX_NODE_ID_BYTES} bytes "
                f"without spaces")
    for name in ("peer", "resp", "http"):
        address = getattr(info, name)
        if (address or name == "peer") and not _is_address(address):
            return f"node {info.node_id}: {name} address {address!r} is not host:port"
    for name in ("dc", "rack"):
        if len(getattr(info, name).encode()) > MAX_PLACE_BYTES:
            return f"node {info.node_id}: {name} has more than {MAX_PLACE_BYTES} bytes"
    return None


def _is_address(address: str) -> bool:
    host, _, port = address.rpartition(":")
    return bool(host) and port.isdigit() and 1 <= int(port) <= 65535


class MetaState:
    """The metadata state machine (see the module docstring). Read it through
    :meth:`nodes`, :meth:`keyspaces`, :meth:`describe`, :meth:`descriptors`,
    :meth:`range_cache` and :meth:`changes_since`; change it only by :meth:`apply`."""

    def __init__(self) -> None:
        self.applied_index = 0
        self.version = 0
        self._nodes: dict[str, NodeRecord] = {}
        self._keyspaces: dict[str, KeyspaceRecord] = {}
        self._ranges: dict[int, RangeDescriptor] = {}
        self._range_changed: dict[int, int] = {}
        self._dropped: dict[int, int] = {}          # keyspace id -> version dropped
        self._removed_ranges: dict[int, int] = {}   # range id -> version removed
        self.next_keyspace_id = 1
        self.next_range_id = 1

    @property
    def bootstrapped(self) -> bool:
        return bool(self._nodes)

    # ---- apply ----------------------------------------------------------------------

    def apply(self, index: int, command) -> Result:
        """Apply the committed ``command`` at log ``index``. An index at or below
        the applied one (a replay after a restart) changes nothing."""
        if index <= self.applied_index:
            return refused(f"entry {index} is already applied (applied index "
                           f"{self.applied_index})")
        self.applied_index = index
        handler = _HANDLERS.get(type(command))
        if handler is None:
            return refused(f"not a metadata command: {type(command).__name__}")
        if type(command) is Bootstrap and self.bootstrapped:
            return refused("the cluster metadata is already bootstrapped")
        if type(command) is not Bootstrap and not self.bootstrapped:
            return refused("the cluster metadata is not bootstrapped yet")
        return handler(self, command)

    def _bump(self) -> int:
        self.version += 1
        return self.version

    def _bootstrap(self, cmd: Bootstrap) -> Result:
        error = self._check_bootstrap(cmd)
        if error:
            return refused(error)
        version = self._bump()
        for info in cmd.nodes:
            self._nodes[info.node_id] = NodeRecord(info, UP, version)
        node_ids = [n.node_id for n in cmd.nodes]
        for spec in cmd.keyspaces:
            # as today's static map: rf at most the node count, round-robin replicas
            spec = replace(spec, replication_factor=min(spec.replication_factor,
                                                      len(node_ids)))
            record = self._add_keyspace(spec, version)
            self._add_ranges(bootstrap_ranges(
                runtime_keyspace(record), node_ids, spec.ranges, self.next_range_id,
                spec.split_points), version)
        return Result(True, value=version)

    def _check_bootstrap(self, cmd: Bootstrap) -> str | None:
        if not cmd.nodes:
            return "bootstrap needs at least one node"
        ids = [n.node_id for n in cmd.nodes]
        if len(set(ids)) != len(ids):
            return f"duplicate node ids in bootstrap: {ids}"
        for info in cmd.nodes:
            error = check_node(info)
            if error:
                return error
        if not cmd.keyspaces or cmd.keyspaces[0].name != DEFAULT_KEYSPACE:
            return "bootstrap lists keyspace default first (it has id 1)"
        if len(cmd.keyspaces) > MAX_KEYSPACES:
            return f"{len(cmd.keyspaces)} keyspaces: at most {MAX_KEYSPACES}"
        names: set[str] = set()
        dbs: set[int] = set()
        for spec in cmd.keyspaces:
            error = _spec_error(spec) or (f"keyspace {spec.name!r} is listed twice"
                                          if spec.name in names else None) or (
                f"db {spec.db} is taken by two keyspaces" if spec.db in dbs else None)
            if error:
                return error
            names.add(spec.name)
            if spec.db is not None:
                dbs.add(spec.db)
        return None

    def _add_keyspace(self, spec: KeyspaceSpec, version: int) -> KeyspaceRecord:
        record = KeyspaceRecord(self.next_keyspace_id, spec, version)
        self._keyspaces[spec.name] = record
        self.next_keyspace_id += 1
        return record

    def _add_ranges(self, descriptors: list[RangeDescriptor], version: int) -> None:
        for d in descriptors:
            assert d.range_id == self.next_range_id, "range ids are allocated in order"
            self._set_range(d, version)
            self.next_range_id += 1

    def _set_range(self, d: RangeDescriptor, version: int) -> None:
        self._ranges[d.range_id] = d
        self._range_changed[d.range_id] = version

    def _add_node(self, cmd: AddNode) -> Result:
        info = cmd.node
        error = check_node(info)
        if error:
            return refused(error)
        old = self._nodes.get(info.node_id)
        if old is not None:
            return refused(f"node {info.node_id!r} has left the cluster; a node id is "
                           f"never reused" if old.state == LEFT else
                           f"node {info.node_id!r} exists ({old.state})")
        for other in self._nodes.values():
            if other.state != LEFT and info.peer == other.info.peer:
                return refused(f"peer address {info.peer} is node {other.node_id}'s")
        self._nodes[info.node_id] = NodeRecord(info, JOINING, self._bump())
        return Result(True, value=self.version)

    def _set_node_state(self, cmd: SetNodeState) -> Result:
        record = self._nodes.get(cmd.node_id)
        if record is None:
            return refused(f"no node {cmd.node_id!r}")
        if cmd.state == LEFT:
            return refused(f"a node leaves by RemoveNode (quorumkv node remove "
                           f"{cmd.node_id}), which checks its ranges")
        allowed = TRANSITIONS[record.state]
        if cmd.state not in allowed:
            return refused(f"node {cmd.node_id} is {record.state}: it can go to "
                           f"{' or '.join(allowed) or 'no other state'}, not "
                           f"{cmd.state!r}")
        self._nodes[cmd.node_id] = NodeRecord(record.info, cmd.state, self._bump())
        return Result(True, value=self.version)

    def _remove_node(self, cmd: RemoveNode) -> Result:
        record = self._nodes.get(cmd.node_id)
        if record is None:
            return refused(f"no node {cmd.node_id!r}")
        if record.state == LEFT:
            return refused(f"node {cmd.node_id} has already left")
        error = self._removal_refusal(cmd.node_id)
        if error:
            return refused(error)
        version = self._bump()
        self._nodes[cmd.node_id] = NodeRecord(record.info, LEFT, version)
        for d in self._eventual_ranges_of(cmd.node_id):
            members = tuple(m for m in d.members if m[0] != cmd.node_id)
            self._set_range(RangeDescriptor(d.range_id, d.keyspace, d.start, d.end,
                                            members, d.generation + 1), version)
        return Result(True, value=version)

    def _removal_refusal(self, node_id: str) -> str | None:
        """Why removing ``node_id`` would leave a range unable to serve, or None."""
        gone = {n for n, r in self._nodes.items() if r.state == LEFT} | {node_id}
        short, alone = [], []
        for d in self._ranges.values():
            if node_id not in d.replicas:
                continue
            kept = [n for n in d.replicas if n not in gone]
            need = len(d.replicas) // 2 + 1
            if self._mode_of(d) == STRONG and len(kept) < need:
                short.append(f"{d.range_id} ({len(kept)} of {len(d.replicas)} voters "
                             f"left, {need} needed)")
            elif self._mode_of(d) != STRONG and not kept:
                alone.append(str(d.range_id))
        if short:
            return (f"removing {node_id} would leave strong ranges without a quorum of "
                    f"their voters: {_listed(short)}")
        if alone:
            return (f"removing {node_id} would leave eventual ranges with no replica "
                    f"(it holds their only copy): {_listed(alone)}")
        return None

    def _eventual_ranges_of(self, node_id: str) -> list[RangeDescriptor]:
        return [d for d in self._ranges.values()
                if self._mode_of(d) != STRONG and node_id in d.write_targets]

    def _mode_of(self, d: RangeDescriptor) -> str:
        return self._keyspaces[d.keyspace].spec.mode

    def _create_keyspace(self, cmd: CreateKeyspace) -> Result:
        spec = cmd.spec
        error = _spec_error(spec) or self._creation_refusal(spec)
        if error:
            return refused(error)
        up = [r.info for r in self._nodes.values() if r.state == UP]
        version = self._bump()
        record = self._add_keyspace(spec, version)
        load = self._load()
        self._add_ranges([
            RangeDescriptor.of(self.next_range_id + i, spec.name, start, end,
                               choose_replicas(up, load, spec.replication_factor))
            for i, (start, end) in enumerate(_spans(spec))], version)
        return Result(True, value=record.keyspace_id)

    def _creation_refusal(self, spec: KeyspaceSpec) -> str | None:
        if spec.name in self._keyspaces:
            return f"keyspace {spec.name!r} exists"
        taken = next((r.name for r in self._keyspaces.values()
                      if spec.db is not None and r.spec.db == spec.db), None)
        if taken:
            return f"db {spec.db} is keyspace {taken!r}'s: each db number names one keyspace"
        if len(self._keyspaces) >= MAX_KEYSPACES:
            return f"the cluster has {MAX_KEYSPACES} keyspaces, the most it may have"
        if self.next_keyspace_id > MAX_KEYSPACE_ID:
            return "every keyspace id has been used"
        up = sorted(n for n, r in self._nodes.items() if r.state == UP)
        if spec.replication_factor > len(up):
            return (f"replication_factor {spec.replication_factor} needs as many up "
                    f"nodes; {len(up)} up: {', '.join(up) or 'none'}")
        return None

    def _load(self) -> dict:
        load: dict[str, int] = {}
        for d in self._ranges.values():
            for node in d.write_targets:
                load[node] = load.get(node, 0) + 1
        return load

    def _drop_keyspace(self, cmd: DropKeyspace) -> Result:
        record = self._keyspaces.get(cmd.name)
        if record is None:
            return refused(f"no keyspace {cmd.name!r}")
        if cmd.name == DEFAULT_KEYSPACE:
            return refused("keyspace default always exists")
        version = self._bump()
        del self._keyspaces[cmd.name]
        self._dropped[record.keyspace_id] = version
        for d in [d for d in self._ranges.values() if d.keyspace == cmd.name]:
            del self._ranges[d.range_id]
            del self._range_changed[d.range_id]
            self._removed_ranges[d.range_id] = version
        return Result(True, value=record.keyspace_id)

    def _update_descriptor(self, cmd: UpdateDescriptor) -> Result:
        new = cmd.descriptor
        old = self._ranges.get(new.range_id)
        error = self._update_refusal(old, cmd)
        if error:
            return refused(error)
        stored = RangeDescriptor(new.range_id, new.keyspace, new.start, new.end,
                                 new.members, old.generation + 1)
        self._set_range(stored, self._bump())
        return Result(True, value=stored)

    def _update_refusal(self, old: RangeDescriptor | None, cmd: UpdateDescriptor):
        new = cmd.descriptor
        if old is None:
            return f"no range {new.range_id}"
        if old.generation != cmd.expected_generation:
            return (f"range {new.range_id} is at generation {old.generation}, not "
                    f"{cmd.expected_generation}: read it again and retry")
        if not new.same_span(old):
            return (f"range {new.range_id}: an update keeps its keyspace and span "
                    f"(splits and merges have their own commands)")
        if not new.replicas:
            return f"range {new.range_id}: a range needs at least one voter"
        for node, _ in new.members:
            record = self._nodes.get(node)
            if record is None or record.state == LEFT:
                return (f"range {new.range_id}: node {node!r} is "
                        f"{'not in the cluster' if record is None else 'left'}")
        return None

    # ---- read side --------------------------------------------------------------------

    def nodes(self) -> list[NodeRecord]:
        return list(self._nodes.values())

    def node(self, node_id: str) -> NodeRecord | None:
        return self._nodes.get(node_id)

    def keyspaces(self) -> list[KeyspaceRecord]:
        """Every keyspace, by id."""
        return sorted(self._keyspaces.values(), key=lambda r: r.keyspace_id)

    def keyspace(self, name: str) -> KeyspaceRecord | None:
        return self._keyspaces.get(name)

    def descriptors(self, keyspace: str | None = None) -> list[RangeDescriptor]:
        """Every range (of ``keyspace``), by range id."""
        return sorted((d for d in self._ranges.values()
                       if keyspace is None or d.keyspace == keyspace),
                      key=lambda d: d.range_id)

    def range_changed(self, range_id: int) -> int:
        return self._range_changed[range_id]

    def describe(self, name: str) -> dict | None:
        """A keyspace as ``quorumkv keyspace describe`` shows it: spec, id, ranges
        (replicas, generations, under-replication) and notes; None if unknown."""
        record = self._keyspaces.get(name)
        if record is None:
            return None
        spec = record.spec
        left = {n for n, r in self._nodes.items() if r.state == LEFT}
        ranges = [d.to_json(spec.partitioner) | {
            "under_replicated": len(d.replicas) < spec.replication_factor,
            "on_left_nodes": [n for n in d.replicas if n in left]}
            for d in self.descriptors(name)]
        return {"id": record.keyspace_id, **spec.to_plain(), "ranges": ranges,
                "notes": _notes(spec, ranges)}

    def range_cache(self) -> RangeCache:
        """Today's routing objects (Keyspace, RangeDescriptor in a RangeCache) for
        this state, keyspaces by id: what node/assembly.py is built over."""
        cache = RangeCache()
        for record in self.keyspaces():
            cache.add_keyspace(runtime_keyspace(record), self.descriptors(record.name))
        return cache

    def changes_since(self, version: int) -> Changes:
        """Every record changed after ``version`` (and what was removed since), so
        a node refreshes only those: descriptors by generation (RangeCache.refresh)."""
        return Changes(
            self.version,
            tuple(r for r in self._nodes.values() if r.changed > version),
            tuple(r for r in self.keyspaces() if r.changed > version),
            tuple(i for i, v in self._dropped.items() if v > version),
            tuple(d for d in self.descriptors() if self._range_changed[d.range_id] > version),
            tuple(i for i, v in self._removed_ranges.items() if v > version))

    # ---- snapshot ---------------------------------------------------------------------

    def to_plain(self) -> dict:
        """The whole state as plain data (the metadata group's snapshot)."""
        return {
            "applied_index": self.applied_index, "version": self.version,
            "next_keyspace_id": self.next_keyspace_id, "next_range_id": self.next_range_id,
            "nodes": [[r.info.to_plain(), r.state, r.changed] for r in self._nodes.values()],
            "keyspaces": [[r.keyspace_id, r.spec.to_plain(), r.changed]
                          for r in self._keyspaces.values()],
            "ranges": [[d.to_plain(), self._range_changed[i]]
                       for i, d in self._ranges.items()],
            "dropped": [[i, v] for i, v in self._dropped.items()],
            "removed_ranges": [[i, v] for i, v in self._removed_ranges.items()],
        }

    @classmethod
    def from_plain(cls, data) -> "MetaState":
        """The state ``to_plain`` gave; ValueError if ``data`` is not one."""
        try:
            return _state_from_plain(cls(), data)
        except (KeyError, TypeError, ValueError, AssertionError) as exc:
            raise ValueError(f"not a metadata snapshot: {exc!r}") from None

    def __eq__(self, other) -> bool:
        return isinstance(other, MetaState) and self.to_plain() == other.to_plain()

    __hash__ = None


def _state_from_plain(state: MetaState, data: dict) -> MetaState:
    ints = ("applied_index", "version", "next_keyspace_id", "next_range_id")
    if any(type(data[k]) is not int for k in ints):
        raise ValueError("counters are integers")
    for k in ints:
        setattr(state, k, data[k])
    for info, node_state, changed in data["nodes"]:
        info = NodeInfo.from_plain(info)
        if node_state not in TRANSITIONS or type(changed) is not int:
            raise ValueError(f"bad node record {info.node_id}")
        state._nodes[info.node_id] = NodeRecord(info, node_state, changed)
    for keyspace_id, spec, changed in data["keyspaces"]:
        spec = decode_spec(spec)
        if type(keyspace_id) is not int or type(changed) is not int:
            raise ValueError(f"bad keyspace record {spec.name}")
        state._keyspaces[spec.name] = KeyspaceRecord(keyspace_id, spec, changed)
    for plain, changed in data["ranges"]:
        d = RangeDescriptor.from_plain(plain)
        if d.keyspace not in state._keyspaces or type(changed) is not int:
            raise ValueError(f"bad range record {d.range_id}")
        state._set_range(d, changed)
    state._dropped = {int(i): int(v) for i, v in data["dropped"]}
    state._removed_ranges = {int(i): int(v) for i, v in data["removed_ranges"]}
    return state


def _spec_error(spec) -> str | None:
    if type(spec) is not KeyspaceSpec:
        return f"not a keyspace spec: {spec!r}"
    try:
        check_spec(spec)
    except SpecError as exc:
        return str(exc)
    return None


def _spans(spec: KeyspaceSpec) -> list[tuple[bytes, bytes]]:
    """The ranges a new keyspace is cut into, as ``[start, end)`` placement keys."""
    points = (hash_split_points(spec.ranges) if spec.partitioner == HASH
              else range_split_points(spec.split_points))
    bounds = [b""] + points + [b""]
    return list(zip(bounds, bounds[1:]))


def _notes(spec: KeyspaceSpec, ranges: list[dict]) -> list[str]:
    notes = []
    if spec.mode == STRONG:
        n = spec.tolerates()
        notes.append(f"replication_factor {spec.replication_factor}: each range "
                     + ("tolerates no failed replica" if n == 0 else
                        f"tolerates {n} failed replica{'s' if n > 1 else ''}")
                     + " (a Raft majority must stay up)")
    under = [str(r["range_id"]) for r in ranges if r["under_replicated"]]
    if under:
        notes.append(f"under-replicated (fewer replicas than {spec.replication_factor}): "
                     f"ranges {_listed(under)}")
    return notes


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


_HANDLERS = {
    Bootstrap: MetaState._bootstrap,
    AddNode: MetaState._add_node,
    SetNodeState: MetaState._set_node_state,
    RemoveNode: MetaState._remove_node,
    CreateKeyspace: MetaState._create_keyspace,
    DropKeyspace: MetaState._drop_keyspace,
    UpdateDescriptor: MetaState._update_descriptor,
}
