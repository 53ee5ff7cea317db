"""Retiring a node from the cluster metadata: ``quorumkv node remove ID``,
``DELETE /v1/nodes/ID``.

Remove retires a node that is gone for good (a dead machine): the metadata marks
it ``left`` (its id is never taken again), every node stops talking to it, and it
leaves the metadata group's membership. Refused: a node this node sees up (stop it
first: removing a live node would leave it serving writes nobody routes to it),
this node itself, and a removal that would leave a strong range without a quorum
of its voters (core.meta's check). Moving its ranges to other nodes is the
elasticity work; until then an eventual range it held runs with one replica fewer.
"""

from __future__ import annotations

from ..core.meta import RemoveNode
from ..errors import RequestError
from .keyspaces import _service


class NodeRefused(RequestError):
    http_status = 409


async def remove(node, node_id: str) -> dict:
    service = _service(node)
    if node_id == node.node_id:
        raise NodeRefused(f"node {node_id} cannot remove itself: ask another node")
    if node_id in node.transport.peers() and not node.heartbeats.is_down(node_id):
        raise NodeRefused(f"node {node_id} is up (it answers node {node.node_id}'s "
                          f"heartbeats): stop it first; remove retires a dead node")
    result = await service.submit(RemoveNode(node_id))
    if not result.ok:
        raise NodeRefused(f"node {node_id} not removed: {result.error}")
    return {"removed": node_id, "version": result.value}
