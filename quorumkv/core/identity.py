"""Cluster identity: which cluster, and which placement, a node's data belongs to.

Until nodes can join and leave, the placement of every key follows from the static
bootstrap: the node list (ids and peer addresses) and, for every keyspace, its id
(the order of the file), partitioner, number of ranges or split points and
replication factor. That is the *layout*; its *fingerprint* is a short hash of its
canonical JSON. Keyspace ``default`` is described by the top-level keys (as before
there were keyspaces, so a cluster with only ``default`` keeps its fingerprint),
the others by a ``keyspaces`` list that is left out when empty. A node started with another layout over
existing data would look for keys on nodes that never received them, so:

* every data directory records the identity it was written under (cluster id,
  node id, layout), and a node refuses to start over data of another cluster,
  another node or another layout (:func:`decide_start`);
* every peer connection opens with a handshake carrying the same identity, and a
  peer of another cluster or layout is refused (:func:`peer_refusal`).

One change of layout is accepted over existing data: keyspaces added after the
last one (new ids, no data yet; every other keyspace places as before). The data
directory then records the new layout. Removing, reordering or changing a
keyspace is refused.

The cluster id is random (``cluster up`` writes one into ``cluster.toml``). A
hand-written cluster file may have none (``""``): then only the layout is checked,
and a node keeps whatever id its data directory holds. Two ids are compared only
when both sides have one.

Client ports (RESP, HTTP) are not part of the layout: they decide nothing about
placement and may change freely.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

FINGERPRINT_HEX = 16
IDENTITY_FORMAT = 1


@dataclass(frozen=True, slots=True)
class KeyspaceLayout:
    """What decides placement in a keyspace other than ``default``."""

    name: str
    keyspace_id: int
    partitioner: str
    ranges: int
    replication_factor: int  # the effective one (Layout.of caps it)
    split_points: tuple[str, ...] = ()
    mode: str = "eventual"

    def to_json(self) -> dict:
        out = {"name": self.name, "id": self.keyspace_id, "mode": self.mode,
               "partitioner": self.partitioner, "ranges": self.ranges,
               "replication_factor": self.replication_factor}
        if self.split_points:
            out["split_points"] = list(self.split_points)
        return out

    @classmethod
    def from_json(cls, raw) -> "KeyspaceLayout":
        try:
            ks = cls(raw["name"], raw["id"], raw["partitioner"], raw["ranges"],
                     raw["replication_factor"], tuple(raw.get("split_points", ())),
                     raw["mode"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a keyspace of a cluster layout: {exc!r}") from None
        texts = (ks.name, ks.partitioner, ks.mode) + ks.split_points
        if any(type(t) is not str for t in texts) or type(ks.keyspace_id) is not int \
                or type(ks.ranges) is not int or type(ks.replication_factor) is not int:
            raise ValueError(f"not a keyspace of a cluster layout: {raw!r}")
        return ks

    def describe(self) -> str:
        return (f"{self.name} ({self.partitioner}, {self.ranges} ranges, "
                f"rf {self.replication_factor})")


@dataclass(frozen=True, slots=True)
class Layout:
    nodes: tuple[tuple[str, str, int], ...]  # (id, host, peer_port), sorted by id
    ranges: int  # of keyspace default, as are the next three
    replication_factor: int  # the effective one: capped at the number of nodes
    partitioner: str = "hash"
    split_points: tuple[str, ...] = ()
    keyspaces: tuple[KeyspaceLayout, ...] = ()  # the others, in id order

    @classmethod
    def of(cls, nodes, ranges: int, replication_factor: int, partitioner: str = "hash",
           split_points=(), keyspaces=()) -> "Layout":
        """From ``(id, host, peer_port)`` triples in any order and the configured
        replication factors (placement caps them at the number of nodes, and so
        does the layout: ``rf = 5`` on 3 nodes places exactly as ``rf = 3``)."""
        ordered = tuple(sorted((str(i), str(h), int(p)) for i, h, p in nodes))
        count = len(ordered)
        capped = tuple(replace(k, replication_factor=min(k.replication_factor, count))
                       for k in keyspaces)
        return cls(ordered, ranges, min(replication_factor, count), partitioner,
                   tuple(split_points), capped)

    def to_json(self) -> dict:
        out = {"nodes": [list(n) for n in self.nodes], "ranges": self.ranges,
               "replication_factor": self.replication_factor,
               "partitioner": self.partitioner}
        if self.split_points:
            out["split_points"] = list(self.split_points)
        if self.keyspaces:
            out["keyspaces"] = [k.to_json() for k in self.keyspaces]
        return out

    @classmethod
    def from_json(cls, raw) -> "Layout":
        """Raises ValueError on anything that is not a layout."""
        try:
            nodes = tuple((i, h, p) for i, h, p in raw["nodes"])
            layout = cls(nodes, raw["ranges"], raw["replication_factor"], raw["partitioner"],
                         tuple(raw.get("split_points", ())))
            keyspaces = tuple(KeyspaceLayout.from_json(k) for k in raw.get("keyspaces", ()))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a cluster layout: {exc!r}") from None
        for i, h, p in layout.nodes:
            if type(i) is not str or type(h) is not str or type(p) is not int:
                raise ValueError(f"not a node of a cluster layout: {[i, h, p]!r}")
        if type(layout.ranges) is not int or type(layout.replication_factor) is not int \
                or type(layout.partitioner) is not str \
                or any(type(p) is not str for p in layout.split_points):
            raise ValueError("not a cluster layout: bad ranges, replication factor, "
                             "partitioner or split points")
        return cls.of(layout.nodes, layout.ranges, layout.replication_factor,
                      layout.partitioner, layout.split_points, keyspaces)

    def extends(self, old: "Layout") -> bool:
        """This layout is ``old`` with keyspaces added after its last one."""
        kept = self.keyspaces[:len(old.keyspaces)]
        return len(self.keyspaces) > len(old.keyspaces) and replace(self, keyspaces=kept) == old

    def canonical(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:FINGERPRINT_HEX]

    def describe(self) -> str:
        """One line: ``3 nodes n1 n2 n3, 16 ranges, replication factor 3``."""
        ids = " ".join(n[0] for n in self.nodes)
        return (f"{len(self.nodes)} node{'s' if len(self.nodes) != 1 else ''} {ids}, "
                f"{self.ranges} ranges, replication factor {self.replication_factor}"
                + ("" if self.partitioner == "hash" else f", partitioner {self.partitioner}")
                + (f", keyspaces {', '.join(k.describe() for k in self.keyspaces)}"
                   if self.keyspaces else ""))


def differences(old: Layout, new: Layout) -> list[str]:
    """What changed from ``old`` to ``new``, one short phrase each."""
    out = []
    before = {n[0]: n for n in old.nodes}
    after = {n[0]: n for n in new.nodes}
    added = [i for i in after if i not in before]
    removed = [i for i in before if i not in after]
    if added:
        out.append("nodes added: " + " ".join(added))
    if removed:
        out.append("nodes removed: " + " ".join(removed))
    for i in before:
        if i in after and before[i] != after[i]:
            out.append(f"{i} peer address {before[i][1]}:{before[i][2]} -> "
                       f"{after[i][1]}:{after[i][2]}")
    for name in ("ranges", "replication_factor", "partitioner", "split_points"):
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            out.append(f"{name.replace('_', ' ')} {_shown(a)} -> {_shown(b)}")
    return out + _keyspace_differences(old.keyspaces, new.keyspaces)


def _shown(value) -> str:
    return "[" + ", ".join(value) + "]" if isinstance(value, tuple) else str(value)


def _keyspace_differences(old, new) -> list[str]:
    before = {k.name: k for k in old}
    after = {k.name: k for k in new}
    out = []
    added = [k for k in after if k not in before]
    removed = [k for k in before if k not in after]
    if added:
        out.append("keyspaces added: " + " ".join(added))
    if removed:
        out.append("keyspaces removed: " + " ".join(removed))
    order_a, order_b = [k for k in before if k in after], [k for k in after if k in before]
    if order_a != order_b:
        out.append(f"keyspace order {' '.join(order_a)} -> {' '.join(order_b)}")
    for name, a in before.items():
        b = after.get(name)
        if b is None:
            continue
        for field in ("keyspace_id", "mode", "partitioner", "ranges", "replication_factor",
                      "split_points"):
            x, y = getattr(a, field), getattr(b, field)
            if x != y:
                what = "id" if field == "keyspace_id" else field.replace("_", " ")
                out.append(f"keyspace {name} {what} {_shown(x)} -> {_shown(y)}")
    return out


@dataclass(frozen=True, slots=True)
class Identity:
    cluster_id: str  # "" = none (a cluster file without [cluster] id)
    node_id: str
    layout: Layout

    def to_json(self) -> dict:
        return {"format": IDENTITY_FORMAT, "cluster_id": self.cluster_id,
                "node_id": self.node_id, "layout": self.layout.to_json(),
                "layout_fingerprint": self.layout.fingerprint}

    @classmethod
    def from_json(cls, raw) -> "Identity":
        """Raises ValueError on anything that is not an identity of this format."""
        if not isinstance(raw, dict) or raw.get("format") != IDENTITY_FORMAT:
            raise ValueError(f"not a cluster identity of format {IDENTITY_FORMAT}")
        cluster_id, node_id = raw.get("cluster_id"), raw.get("node_id")
        if type(cluster_id) is not str or type(node_id) is not str or not node_id:
            raise ValueError("not a cluster identity: bad cluster_id or node_id")
        return cls(cluster_id, node_id, Layout.from_json(raw.get("layout")))

    def describe(self) -> str:
        return (f"cluster {self.cluster_id or '(no id)'}, layout "
                f"{self.layout.fingerprint} ({self.layout.describe()})")


# ---- at start: the data directory's identity against the configured one -----------

NEW, ADOPT, SET_ID, EXTEND, OK, REFUSE = "new", "adopt", "set-id", "extend", "ok", "refuse"


@dataclass(frozen=True, slots=True)
class StartDecision:
    action: str         # NEW, ADOPT, SET_ID, EXTEND (store ``identity``), OK, REFUSE
    identity: Identity  # what the node runs under (its handshakes carry it)
    message: str        # the log line, or the refusal


def decide_start(stored: Identity | None, configured: Identity, data_dir: str,
                 has_data: bool, advice: str = "") -> StartDecision:
    """May a node configured as ``configured`` start over ``data_dir``, which holds
    ``stored`` (None: no identity recorded; ``has_data``: but a database is there,
    written before identities existed)? ``advice`` ends a refusal (what to do)."""
    if stored is None:
        if has_data:
            return StartDecision(ADOPT, configured, (
                f"data directory {data_dir} has no cluster identity (written before "
                f"identities were recorded): adopting {configured.describe()}; from now "
                f"on it starts only under this layout, so it must be the one the data "
                f"was written with"))
        return StartDecision(NEW, configured, f"new data directory {data_dir}: "
                                              f"{configured.describe()}")
    if configured.layout.extends(stored.layout) and not _start_refusal(
            stored, replace(configured, layout=stored.layout), data_dir, ""):
        added = [k.name for k in configured.layout.keyspaces[len(stored.layout.keyspaces):]]
        identity = replace(configured, cluster_id=configured.cluster_id or stored.cluster_id)
        return StartDecision(EXTEND, identity, (
            f"data directory {data_dir}: keyspaces added: {' '.join(added)}; recording "
            f"layout {identity.layout.fingerprint} ({identity.layout.describe()})"))
    refusal = _start_refusal(stored, configured, data_dir, advice or (
        "start it with the cluster file it was written with, or give this node an "
        "empty data directory"))
    if refusal:
        return StartDecision(REFUSE, stored, refusal)
    if configured.cluster_id and not stored.cluster_id:
        return StartDecision(SET_ID, configured, (
            f"data directory {data_dir} had no cluster id: recording "
            f"{configured.cluster_id} (same layout {stored.layout.fingerprint})"))
    return StartDecision(OK, stored, f"data directory {data_dir}: {stored.describe()}")


def _start_refusal(stored: Identity, configured: Identity, data_dir: str,
                   what_to_do: str) -> str:
    if stored.node_id != configured.node_id:
        return (f"data directory {data_dir} belongs to node {stored.node_id}, not "
                f"{configured.node_id}: {what_to_do}")
    if configured.cluster_id and stored.cluster_id \
            and configured.cluster_id != stored.cluster_id:
        return (f"data directory {data_dir} belongs to cluster {stored.cluster_id}, but "
                f"the configuration is cluster {configured.cluster_id}: this is another "
                f"cluster's data; {what_to_do}")
    if stored.layout != configured.layout:
        changed = "; ".join(differences(stored.layout, configured.layout))
        return (f"data directory {data_dir} was written under {stored.describe()}, but "
                f"the configuration is {configured.describe()} ({changed}): changing the "
                f"node list, peer addresses, ranges, replication factor or keyspaces "
                f"(other than adding keyspaces after the last one) of existing data is "
                f"not supported yet; {what_to_do}")
    return ""


# ---- at connect: the peer's handshake against ours ----------------------------------


def peer_refusal(mine: Identity, node_id: str, cluster_id: str, fingerprint: str,
                 layout_json: str, joined=frozenset(), left=frozenset()) -> str:
    """Why a peer's handshake is refused ("" when it is accepted): it must be
    another node of our layout (the bootstrap list, or ``joined`` since: the
    metadata's members), not ``left`` the cluster, and of our cluster when both
    of us have an id. The reason names both nodes, so that it reads the same in
    either one's log."""
    me = mine.node_id
    if node_id in left:
        return f"node {node_id} was removed from the cluster (node {me}'s metadata)"
    if mine.cluster_id and cluster_id and mine.cluster_id != cluster_id:
        return (f"node {node_id} belongs to cluster {cluster_id}, node {me} to cluster "
                f"{mine.cluster_id}")
    if fingerprint != mine.layout.fingerprint:
        return (f"node {node_id} runs layout {fingerprint}, node {me} layout "
                f"{mine.layout.fingerprint} ({_layout_change(mine, node_id, layout_json)})")
    if node_id == me or (node_id not in {n[0] for n in mine.layout.nodes}
                         and node_id not in joined):
        return (f"node id {node_id!r} is not another node of node {me}'s layout, nor "
                f"a node that joined it")
    return ""


def _layout_change(mine: Identity, node_id: str, layout_json: str) -> str:
    """What the peer's layout changes from ours, as far as it can be read."""
    try:
        theirs = Layout.from_json(json.loads(layout_json))
    except ValueError:  # json.JSONDecodeError is one
        return f"the layout of {node_id} cannot be read"
    changes = differences(mine.layout, theirs)
    return f"{mine.node_id} -> {node_id}: " + ("; ".join(changes) or theirs.describe())
