"""Keyspaces created, listed, described and dropped while the cluster runs: the
one place the HTTP, RESP and CLI front ends go through (the CLI through HTTP).

Every change is a core.meta command proposed to the metadata group
(node/raft/meta.py, ``MetaService.submit``); a bad setting is refused by
core.meta.spec's one validation before anything is proposed, and a refusal of the
metadata state (a name in use, too few up nodes) changes nothing. Reads wait for
a ReadIndex of the metadata group, so whatever node is asked lists a keyspace
once its create has returned. The error texts are the same on every front end.
"""

from __future__ import annotations

from ..core.meta import CreateKeyspace, DropKeyspace, SpecError, spec_from_args, \
    spec_from_fields
from ..errors import RequestError, UnavailableError, UnknownKeyspaceError


class KeyspaceExists(RequestError):
    http_status = 409


class MetaUnavailable(UnavailableError):
    pass


def _service(node):
    service = getattr(node.parts, "meta", None) if node.parts else None
    if service is None:
        raise MetaUnavailable("this node runs without the metadata group")
    return service


def spec_of_fields(mapping):
    try:
        return spec_from_fields(mapping)
    except SpecError as exc:
        raise RequestError(f"bad keyspace setting: {exc}") from None


def spec_of_args(args):
    try:
        return spec_from_args(args)
    except SpecError as exc:
        raise RequestError(f"bad keyspace setting: {exc}") from None


async def create(node, spec) -> dict:
    """Create keyspace ``spec`` (a checked KeyspaceSpec); its description."""
    service = _service(node)
    result = await service.submit(CreateKeyspace(spec))
    if not result.ok:
        if result.error == f"keyspace {spec.name!r} exists":
            raise KeyspaceExists(result.error)
        raise RequestError(f"keyspace {spec.name} not created: {result.error}")
    return describe_state(node, service.state, spec.name)


async def drop(node, name: str) -> dict:
    service = _service(node)
    result = await service.submit(DropKeyspace(name))
    if not result.ok:
        if result.error == f"no keyspace {name!r}":
            raise UnknownKeyspaceError(f"unknown keyspace '{name}'")
        raise RequestError(f"keyspace {name} not dropped: {result.error}")
    return {"dropped": name, "id": result.value}


async def list_all(node) -> list[dict]:
    """Every keyspace by id: name, id, mode, partitioner, rf, ranges, db."""
    state = await _service(node).read_state()
    return [{"name": r.name, "id": r.keyspace_id, "mode": r.spec.mode,
             "partitioner": r.spec.partitioner, "replication_factor":
             r.spec.replication_factor, "ranges": len(state.descriptors(r.name)),
             "db": r.spec.db} for r in state.keyspaces()]


async def describe(node, name: str) -> dict:
    state = await _service(node).read_state()
    return describe_state(node, state, name)


def describe_state(node, state, name: str) -> dict:
    """core.meta's description, and for a strong keyspace each range's Raft group
    as this node sees it (``raft``: leader, role, applied; absent where this node
    holds no replica)."""
    described = state.describe(name)
    if described is None:
        raise UnknownKeyspaceError(f"unknown keyspace '{name}'")
    groups = node.parts.raft_host.groups
    for r in described["ranges"]:
        group = groups.get(r["range_id"])
        if group is not None and described["mode"] == "strong":
            r["raft"] = {"leader": group.leader, "role": group.role.name.lower(),
                         "applied": group.applied}
    return described
