"""Cluster identity: which cluster, and which placement, a node's data belongs to.

Until nodes can join and leave, the placement of every key follows from the static
bootstrap: the node list (ids and peer addresses), the number of ranges, the
replication factor and the partitioner. That is the *layout*; its *fingerprint* is
a short hash of its canonical JSON. A node started with another layout over
existing data would look for keys on nodes that never received them, so:

* every data directory records the identity it was written under (cluster id,
  node id, layout), and a node refuses to start over data of another cluster,
  another node or another layout (:func:`decide_start`);
* every peer connection opens with a handshake carrying the same identity, and a
  peer of another cluster or layout is refused (:func:`peer_refusal`).

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
from dataclasses import dataclass

FINGERPRINT_HEX = 16
IDENTITY_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Layout:
    nodes: tuple[tuple[str, str, int], ...]  # (id, host, peer_port), sorted by id
    ranges: int
    replication_factor: int  # the effective one: capped at the number of nodes
    partitioner: str = "hash"

    @classmethod
    def of(cls, nodes, ranges: int, replication_factor: int,
           partitioner: str = "hash") -> "Layout":
        """From ``(id, host, peer_port)`` triples in any order and the configured
        replication factor (placement caps it at the number of nodes, and so does
        the layout: ``rf = 5`` on 3 nodes places exactly as ``rf = 3``)."""
        ordered = tuple(sorted((str(i), str(h), int(p)) for i, h, p in nodes))
        return cls(ordered, ranges, min(replication_factor, len(ordered)), partitioner)

    def to_json(self) -> dict:
        return {"nodes": [list(n) for n in self.nodes], "ranges": self.ranges,
                "replication_factor": self.replication_factor,
                "partitioner": self.partitioner}

    @classmethod
    def from_json(cls, raw) -> "Layout":
        """Raises ValueError on anything that is not a layout."""
        try:
            nodes = tuple((i, h, p) for i, h, p in raw["nodes"])
            layout = cls(nodes, raw["ranges"], raw["replication_factor"], raw["partitioner"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a cluster layout: {exc!r}") from None
        for i, h, p in layout.nodes:
            if type(i) is not str or type(h) is not str or type(p) is not int:
                raise ValueError(f"not a node of a cluster layout: {[i, h, p]!r}")
        if type(layout.ranges) is not int or type(layout.replication_factor) is not int \
                or type(layout.partitioner) is not str:
            raise ValueError("not a cluster layout: bad ranges, replication factor "
                             "or partitioner")
        return cls.of(layout.nodes, layout.ranges, layout.replication_factor,
                      layout.partitioner)

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
                + ("" if self.partitioner == "hash" else f", partitioner {self.partitioner}"))


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
    for name in ("ranges", "replication_factor", "partitioner"):
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            out.append(f"{name.replace('_', ' ')} {a} -> {b}")
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

NEW, ADOPT, SET_ID, OK, REFUSE = "new", "adopt", "set-id", "ok", "refuse"


@dataclass(frozen=True, slots=True)
class StartDecision:
    action: str         # NEW, ADOPT, SET_ID (store ``identity``), OK, REFUSE
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
                f"node list, peer addresses, ranges or replication factor of existing "
                f"data is not supported yet; {what_to_do}")
    return ""


# ---- at connect: the peer's handshake against ours ----------------------------------


def peer_refusal(mine: Identity, node_id: str, cluster_id: str, fingerprint: str,
                 layout_json: str) -> str:
    """Why a peer's handshake is refused ("" when it is accepted): it must be
    another node of our layout, and of our cluster when both of us have an id.
    The reason names both nodes, so that it reads the same in either one's log."""
    me = mine.node_id
    if mine.cluster_id and cluster_id and mine.cluster_id != cluster_id:
        return (f"node {node_id} belongs to cluster {cluster_id}, node {me} to cluster "
                f"{mine.cluster_id}")
    if fingerprint != mine.layout.fingerprint:
        return (f"node {node_id} runs layout {fingerprint}, node {me} layout "
                f"{mine.layout.fingerprint} ({_layout_change(mine, node_id, layout_json)})")
    if node_id == me or node_id not in {n[0] for n in mine.layout.nodes}:
        return f"node id {node_id!r} is not another node of node {me}'s layout"
    return ""


def _layout_change(mine: Identity, node_id: str, layout_json: str) -> str:
    """What the peer's layout changes from ours, as far as it can be read."""
    try:
        theirs = Layout.from_json(json.loads(layout_json))
    except ValueError:  # json.JSONDecodeError is one
        return f"the layout of {node_id} cannot be read"
    changes = differences(mine.layout, theirs)
    return f"{mine.node_id} -> {node_id}: " + ("; ".join(changes) or theirs.describe())
