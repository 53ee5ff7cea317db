"""The cluster's view of its strong ranges, merged from what each node reports of
its own Raft groups (node/raft/status.py; ``quorumkv status``, ``/v1/cluster``).

Each replica knows its own role, term, commit and applied index; only the leader
knows how far every replica's log matches its own. So one range's row takes the
leader's claim of the highest term as the range's leader, term and commit (an old
leader cut off by a partition may still claim an older term: it loses), each
replica's applied index from that replica, and each replica's match index from
the leader's progress. What no answering node knows stays None ("?" in the table).
"""

from __future__ import annotations

LEADER = "leader"


def merge_groups(views: list[list[dict]]) -> list[dict]:
    """One row per strong range from every node's rows (``RaftStatus.local_rows``)."""
    by_range: dict[int, list[dict]] = {}
    for rows in views:
        for row in rows:
            by_range.setdefault(row["range_id"], []).append(row)
    return [merge_range(rows) for _range_id, rows in sorted(by_range.items())]


def merge_range(rows: list[dict]) -> dict:
    """One range's row from its replicas' rows (at least one)."""
    leaders = [r for r in rows if r["role"] == LEADER]
    leader = max(leaders, key=lambda r: r["term"]) if leaders else None
    base = rows[0]
    members = list(base["replicas"])
    if leader is not None:  # a member the descriptor does not name yet (a conf change)
        members += [p for p in sorted(leader["progress"]) if p not in members]
    own = {r["node_id"]: r for r in rows}
    progress = leader["progress"] if leader is not None else {}
    return {
        "keyspace": base["keyspace"], "range_id": base["range_id"],
        "start": base["start"], "end": base["end"],
        "leader": leader["node_id"] if leader is not None else None,
        "term": leader["term"] if leader is not None else max(r["term"] for r in rows),
        "commit": leader["commit"] if leader is not None else None,
        "applied": leader["applied"] if leader is not None else None,
        "replicas": [replica_row(node_id, own.get(node_id), progress.get(node_id))
                     for node_id in members],
    }


def replica_row(node_id: str, own: dict | None, progress: dict | None) -> dict:
    """A replica as it reports itself (``own``) and as the leader sees it."""
    return {"id": node_id,
            "role": own["role"] if own else None,
            "term": own["term"] if own else None,
            "commit": own["commit"] if own else None,
            "applied": own["applied"] if own else None,
            "match": progress["match"] if progress else None,
            "next": progress["next"] if progress else None,
            "state": progress["state"] if progress else None}
