"""This node's view of its Raft groups, and the cluster's (``/v1/cluster``'s
``strong_ranges``, ``quorumkv status``).

``local_rows`` reads every group's ``RawNode.status()`` (role, term, leader,
commit, applied, and on a leader each member's match/next/state) with the range's
keyspace and bounds. A peer answers a ``RaftStatusRequest`` with its rows;
``cluster_rows`` asks every peer at once, each bounded by a timeout, and merges
the answers with core.raftstatus.merge_groups.
"""

from __future__ import annotations

from ...core import messages as m
from ...core.raftstatus import merge_groups
from ...net.transport import ask_peers

ASK_TIMEOUT_S = 0.5


class RaftStatus:
    def __init__(self, node_id: str, host, ranges) -> None:
        self.node_id = node_id
        self.host = host      # node.raft.host.RaftHost
        self.ranges = ranges  # core.placement.RangeCache

    def local_rows(self) -> list[dict]:
        """One row per Raft group of this node, in range order."""
        return [row for group_id in sorted(self.host.groups)
                if (row := self._row(self.host.groups[group_id])) is not None]

    def _row(self, group) -> dict | None:
        if group.node is None:
            return None  # still opening
        status = group.node.status()
        return self._described({
            "node_id": self.node_id, "range_id": group.group_id,
            "role": status.role.value, "term": status.term, "leader": status.leader,
            "commit": status.commit, "applied": status.applied,
            "progress": {peer: {"match": p.match, "next": p.next, "state": p.state.name.lower()}
                         for peer, p in status.progress.items()},
        })

    def _described(self, row: dict) -> dict | None:
        """The row with its range's keyspace, bounds and replicas from this node's
        map; None for a range the map does not hold."""
        descriptor = self.ranges.by_id(row["range_id"])
        if descriptor is None:
            return None
        return row | {"keyspace": descriptor.keyspace, "start": descriptor.start.hex(),
                      "end": descriptor.end.hex(), "replicas": list(descriptor.replicas)}

    # ---- the cluster view ------------------------------------------------------------

    def register(self, transport) -> None:
        transport.handle(m.RaftStatusRequest, self._on_requests)

    def _on_requests(self, items: list, channel) -> list:
        reply = m.RaftStatusReply(self.node_id, tuple(to_wire(r) for r in self.local_rows()))
        return [(req_id, reply) for req_id, _ in items]

    async def cluster_rows(self, transport, peers: list[str],
                           timeout_s: float = ASK_TIMEOUT_S) -> tuple[list[dict], list[str]]:
        """Every strong range merged from this node and every peer that answers in
        time; and the peers that did not."""
        replies = await ask_peers(transport, peers, m.RaftStatusRequest(), m.RaftStatusReply, timeout_s)
        views = [self.local_rows()]
        for reply in replies:
            if reply is not None:
                views.append([row for raw in reply.rows
                              if (row := self._described(from_wire(reply.node_id, raw)))])
        missing = [peer for peer, reply in zip(peers, replies) if reply is None]
        return merge_groups(views), missing


def to_wire(row: dict) -> tuple:
    progress = tuple((peer, p["match"], p["next"], p["state"])
                     for peer, p in sorted(row["progress"].items()))
    return (row["range_id"], row["role"], row["term"], row["leader"], row["commit"],
            row["applied"], progress)


def from_wire(node_id: str, raw: tuple) -> dict:
    range_id, role, term, leader, commit, applied, progress = raw
    return {"node_id": node_id, "range_id": range_id, "role": role, "term": term,
            "leader": leader, "commit": commit, "applied": applied,
            "progress": {peer: {"match": match, "next": next_, "state": state}
                         for peer, match, next_, state in progress}}
