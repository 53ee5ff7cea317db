"""Consistency receipts (QKV.RECEIPT, ``?receipt=1``): what a request did, for a
client that asked; and the error a request that missed its level answers."""

from __future__ import annotations

from ...errors import ConsistencyError


def failed(ctx, decision) -> ConsistencyError:
    return ConsistencyError(decision.level.name, decision.answered, decision.required,
                            decision.total, ctx.timeout_ms if decision.timed_out else None)


def _common(op: str, key: bytes, tracker, decision) -> dict:
    return {
        "op": op,
        "key": key.decode("utf-8", "replace"),
        "level": decision.level.name,
        "ok": decision.ok,
        "timed_out": decision.timed_out,
        "replicas": list(tracker.replicas),
        "answered": sorted(tracker.answered),
        "failed": sorted(tracker.failed),
    }


def write_receipt(write, decision) -> dict:
    receipt = _common("write", write.key, write.tracker, decision)
    receipt["version"] = version_json(write.version)
    receipt["hinted"] = sorted(write.hinted or ())
    return receipt


def read_receipt(read, decision) -> dict:
    tracker = read.tracker
    receipt = _common("read", read.key, tracker, decision)
    receipt["versions"] = {node: version_json(v) for node, v in tracker.seen.items()}
    receipt["newest"] = version_json(tracker.newest)
    receipt["read_repaired"] = tracker.repaired
    session = read.session
    receipt["asked_all_for_session"] = bool(session and session.enforced
                                           and len(tracker.seen) > decision.required)
    return receipt


def version_json(version) -> dict | None:
    if version is None:
        return None
    return {"ts": version.ts, "coordinator": version.node_id, "tombstone": version.tombstone}
