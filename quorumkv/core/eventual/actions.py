"""What the eventual core asks its driver to do, and what it tells it.

A core request object (``write.Write``, ``read.Read``, ``scan.SpanScan``) takes
events and returns a list of these actions, or None when there is nothing to do.
The driver (``node/coordinator.py``) executes them in list order, and feeds what
comes of them back as events: the reply to a ``Send`` as ``on_reply(node,
purpose, reply, now_ms)`` (or ``on_failure``), the outcome of a ``LocalWrite``
the same way with this node's id, a stored hint as ``on_hint_kept`` and then
``on_hint_stored``, a typed redirect (an ``ErrorReply`` with RANGE_NOT_FOUND,
STALE_GENERATION or NOT_LEADER) as ``on_redirect(node, purpose, error, known)``
with ``known`` the range cache's ``by_id``. Executing an action may call back
into the request at once (a local read answers synchronously); the actions that
call returns are executed before the rest of the outer list.

The order within a list is part of the contract: sends come before the local
write (the replicas work while this node writes), repairs before the receipt and
the reply.

Actions are named tuples, built with ``tuple.__new__`` on the request path.
"""

from __future__ import annotations

from typing import NamedTuple

# what a Send (or local operation) is for: handed back with its reply, so the
# request knows a digest from a full read, a repair ack from a write ack
WRITE = 0    # a Put or Truncate the request's level counts
DATA = 1     # a full Get the read counts
DIGEST = 2   # a Get(digest=True) the read counts
FETCH = 3    # the value a newer digest named
REST = 4     # a session read asking the replicas not asked yet
REPAIR = 5   # a read repair's Put
SCAN = 6     # a Scan page the scan counts

PURPOSES = ("write", "data", "digest", "fetch", "rest", "repair", "scan")


class Send(NamedTuple):
    """Send ``message`` to peer ``node``; its reply comes back with ``purpose``."""
    node: str
    message: object
    purpose: int


class LocalWrite(NamedTuple):
    """Write ``version`` of the request's key to this node's storage; the outcome
    comes back as a reply (``PutAck``) or failure from this node."""
    version: object
    purpose: int


class LocalRead(NamedTuple):
    """Read the request's key from this node's storage: ``on_local(version)``."""


class LocalScan(NamedTuple):
    """Serve ``message`` (a ``Scan``) from this node's storage, as a replica
    would: the page comes back as this node's reply."""
    message: object


class LocalTruncate(NamedTuple):
    """Truncate the keyspace here at ``ts`` (``sync``: and delete the data)."""
    ts: int
    sync: bool


class StoreHint(NamedTuple):
    """``node`` did not take the write: keep it for ``node`` as a hint."""
    node: str


class OweTruncation(NamedTuple):
    """``node`` did not take the truncation: owe it (a hint that is never dropped)."""
    node: str


class Repair(NamedTuple):
    """Send ``message`` (a ``Put`` of the newest version) to each of ``nodes``,
    this node through its storage; each ack comes back with purpose ``REPAIR``."""
    nodes: tuple
    message: object


class TellTruncation(NamedTuple):
    """``node`` answered with data a truncation held here hides: send it the
    truncation at ``ts`` (its reply does not matter)."""
    node: str
    ts: int


class SkewedAnswer(NamedTuple):
    """``node`` answered with ``version`` from a clock ``ahead_ms`` ahead of this
    node's, beyond the tolerated skew: ignored (log it, count it)."""
    node: str
    version: object
    ahead_ms: int


class Receipt(NamedTuple):
    """Append ``receipt`` to the session's receipts (the client asked for them)."""
    receipt: dict


class Reply(NamedTuple):
    """Answer the client: ``result`` (a write: None; a read: the newest version or
    None; a scan: a page), or ``error``."""
    result: object
    error: object


class RefreshDescriptor(NamedTuple):
    """A replica's typed redirect carried ``descriptor``, newer than this node's:
    replace that one descriptor in the range cache (before the retry that
    follows, which is routed by it)."""
    descriptor: object


class LaggingReplica(NamedTuple):
    """``node`` refused a request with ``descriptor``, older than this node's: it
    lags (its metadata will catch up); counted as failed, worth one log line."""
    node: str
    descriptor: object


class Speculate(NamedTuple):
    """Call ``on_slow()`` once ``speculative_retry_ms`` has passed."""


# the actions that carry nothing, built once
LOCAL_READ = LocalRead()
SPECULATE = Speculate()
REPLY_OK = Reply(None, None)
