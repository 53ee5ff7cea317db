"""What a request does about a replica's typed redirect.

A replica that does not serve a request for the range id and generation it names
answers RANGE_NOT_FOUND or STALE_GENERATION with its own descriptor
(core/placement/addressing.py). :func:`judge` compares that descriptor with what
this node knows of the range (``known``: the range cache's ``by_id``):

* **newer** than the routed descriptor, and at least as new as the cached one:
  refresh the cache with it (``RefreshDescriptor``, when newer than the cached
  one) and retry the request to that replica once, routed by it, if the replica
  is still one of its members;
* **older** than the cached one: the replica lags; never downgrade the cache.
  The replica counts as failed for this request (``LaggingReplica``: one log line);
* anything else (the same generation, a range this node does not know, a second
  redirect from the same replica, no descriptor): the replica counts as failed.

NOT_LEADER names the leader of a strong range's Raft group. Replicas of an
eventual keyspace have no leader and never answer it, so for the eventual
requests it is a failure like any refusal; the strong mode's requests send the
request on to ``error.leader`` (:data:`NOT_LEADER`).
"""

from __future__ import annotations

from ...errors import NotLeader, RangeNotFound
from ..placement.descriptor import RangeDescriptor
from .actions import LaggingReplica, RefreshDescriptor

RETRY, FAIL, NOT_LEADER = "retry", "fail", "not leader"


def judge(error, node: str, range_id: int, generation: int, known, retried,
          writes: bool) -> tuple[str, object, list]:
    """``(verdict, descriptor, actions)`` for ``error`` from ``node`` answering a
    request routed by ``range_id`` at ``generation``. ``retried``: the set of
    replicas this request already retried (``node`` is added on RETRY);
    ``writes``: a write goes to every member, a read only to voters."""
    if type(error) is NotLeader:
        return NOT_LEADER, error.leader, []
    if not isinstance(error, RangeNotFound):  # StaleGeneration is one too
        return FAIL, None, []
    theirs = _descriptor(error.descriptors)
    if theirs is None:
        return FAIL, None, []
    cached = known(theirs.range_id)
    if cached is None:  # the cache takes no range it does not know (splits come later)
        return FAIL, theirs, []
    if theirs.generation < cached.generation:
        return FAIL, theirs, [LaggingReplica(node, theirs)]
    if theirs.range_id == range_id and theirs.generation <= generation:
        return FAIL, theirs, []  # not newer than what the request was routed by
    actions = [RefreshDescriptor(theirs)] if theirs.generation > cached.generation else []
    members = theirs.write_targets if writes else theirs.replicas
    if node in retried or node not in members:
        return FAIL, theirs, actions
    retried.add(node)
    return RETRY, theirs, actions


def _descriptor(payload) -> RangeDescriptor | None:
    """The first well-formed descriptor of a redirect's payload."""
    for data in payload:
        try:
            return RangeDescriptor.from_plain(data)
        except (ValueError, AssertionError):
            continue
    return None
