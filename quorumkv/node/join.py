"""Joining a running cluster: ``quorumkv node start --join HOST:PEER_PORT``.

How this works. The joining node's own file names only itself (its [node]
section and its one [[cluster.nodes]] entry: id and addresses). Before it opens
anything it asks the node at ``--join`` with a ``JoinRequest`` (net/transport.py:
a connection of its own, instead of a Hello). That node (:class:`JoinService`)
adds it to the cluster metadata (core.meta ``AddNode``: state ``joining``) and
answers with the cluster's configuration without a [node] section (cluster id,
the bootstrap node list, keyspaces: config.cluster_toml) and the nodes that are
members now. The joining node writes that configuration to
``<data_dir>/joined.toml`` and runs under it, with its own address as
``Config.joined``: its layout is the cluster's, so every peer accepts its
handshake (core/identity.py), and the bootstrap list it was not part of stays
what the layout and the first placement are made of. A restart finds
``joined.toml`` and asks no one.

From there the metadata group carries the rest (node/raft/meta.py): its leader
adds the node as a learner of group 0, every node adds it as a peer, and the
node marks itself ``up`` once it follows the metadata; keyspaces created after
that place ranges on it. Moving existing ranges onto it is the elasticity
work, not this.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import replace

import msgpack

from .. import config as cfgmod
from ..core import messages as m
from ..core.meta import AddNode, NodeInfo
from ..core.meta.commands import LEFT
from ..errors import ConfigError, PeerError

log = logging.getLogger(__name__)
JOINED_FILE = "joined.toml"
JOIN_TIMEOUT_S = 10.0


class JoinRefused(Exception):
    """The cluster refused the join (the reason is the message), or could not be
    reached."""


def node_info(address, dc: str = "", rack: str = "") -> NodeInfo:
    """The metadata's record of a node with these addresses (config.NodeAddress)."""
    h = address.host
    return NodeInfo(address.id, f"{h}:{address.peer_port}", f"{h}:{address.resp_port}",
                    f"{h}:{address.http_port}", dc, rack)


def address_of(info: NodeInfo) -> cfgmod.NodeAddress:
    host, _, peer = info.peer.rpartition(":")
    resp = info.resp.rpartition(":")[2] or "0"
    http = info.http.rpartition(":")[2] or "0"
    return cfgmod.NodeAddress(info.node_id, host, int(peer), int(resp), int(http))


# ---- the node that answers ----------------------------------------------------------

class JoinService:
    """Answers JoinRequests (``transport.on_join``) by adding the node to the
    metadata through ``meta`` (node/raft/meta.MetaService)."""

    def __init__(self, config, meta) -> None:
        self.config = config
        self.meta = meta

    async def answer(self, request) -> m.JoinReply:
        try:
            info = NodeInfo.from_plain(msgpack.unpackb(request.node, raw=False))
        except Exception:
            return refusal("the join request does not carry a node (id and addresses)")
        mine = self.config.cluster.id
        if request.protocol_version != m.PROTOCOL_VERSION:
            return refusal(m.version_refusal(info.node_id, request.protocol_version,
                                             self.config.node.id, m.PROTOCOL_VERSION))
        if mine and request.cluster_id and request.cluster_id != mine:
            return refusal(f"node {info.node_id} is configured for cluster "
                           f"{request.cluster_id}; this is cluster {mine}")
        if info.node_id in {n.id for n in self.config.cluster.nodes}:
            return refusal(f"node {info.node_id} is in the cluster's bootstrap list: start "
                           f"it with the cluster file (node start --config FILE --id "
                           f"{info.node_id}), not --join")
        state = await self.meta.read_state()
        existing = state.node(info.node_id)
        if existing is None or existing.state == LEFT or existing.info != info:
            result = await self.meta.submit(AddNode(info))
            if not result.ok:
                return refusal(result.error)
            log.info("node %s (%s) joined the cluster", info.node_id, info.peer)
        # else: it asked before and the answer was lost: the same answer again
        members = [n.info.to_plain() for n in self.meta.state.nodes() if n.state != LEFT]
        return m.JoinReply("", mine, cfgmod.cluster_toml(self.config),
                           msgpack.packb(members, use_bin_type=True))


def refusal(reason: str) -> m.JoinReply:
    return m.JoinReply(reason, "", "", b"")


# ---- the node that joins ------------------------------------------------------------

def joined_path(config) -> str:
    return os.path.join(config.data_dir, JOINED_FILE)


def joined_config(local, text: str, members=()) -> cfgmod.Config:
    """The configuration a joined node runs under: the cluster's ``text``
    (config.cluster_toml) with this node's own [node] section and address."""
    try:
        # checked as the file of its first node (the checks need a node of the
        # list), then given this node's own section; no environment: it is theirs
        first = tomllib.loads(text)["cluster"]["nodes"][0]["id"]
        cluster = cfgmod.loads(text, env={}, overrides={"id": first})
    except (ConfigError, tomllib.TOMLDecodeError, LookupError, TypeError) as exc:
        raise ConfigError(f"the cluster's configuration cannot be read: {exc}") from None
    me = local.me
    cfg = replace(cluster, node=local.node, joined=me, joined_members=tuple(members))
    for n in cluster.cluster.nodes:
        if (n.host, n.peer_port) == (me.host, me.peer_port):
            raise ConfigError(f"node {me.id}'s peer address {me.host}:{me.peer_port} is "
                              f"node {n.id}'s")
    return cfg


async def join(local, via: str) -> cfgmod.Config:
    """The configuration of node ``local`` (its own file) in the cluster it joins
    through ``via`` (``host:peer_port``), or the one it joined before
    (``joined.toml`` in its data directory). JoinRefused if the cluster says no."""
    path = joined_path(local)
    if os.path.exists(path):
        with open(path) as f:
            log.info("node %s joined its cluster before (%s): --join is not needed again",
                     local.node.id, path)
            return joined_config(local, f.read())
    host, _, port = via.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--join {via!r}: expected HOST:PEER_PORT of a node of the cluster")
    me = local.me
    request = m.JoinRequest(msgpack.packb(node_info(me).to_plain(), use_bin_type=True),
                            local.cluster.id)
    from ..net.transport import request_join
    try:
        reply = await request_join(host, int(port), me.host, request, JOIN_TIMEOUT_S)
    except PeerError as exc:
        raise JoinRefused(str(exc)) from None
    if reply.refusal:
        raise JoinRefused(f"{via} refused the join: {reply.refusal}")
    members = [address_of(NodeInfo.from_plain(p))
               for p in msgpack.unpackb(reply.members, raw=False)]
    cfg = joined_config(local, reply.cluster_toml, members)
    os.makedirs(local.data_dir, exist_ok=True)
    cfgmod.write_atomic(path, f"# node {me.id} joined this cluster through {via}; written "
                              f"by `quorumkv node start --join`\n" + reply.cluster_toml)
    return cfg
