"""Range-addressed requests: what a replica checks before it serves one.

Every peer request that concerns a range names the range id and the generation
of the descriptor its sender routed it by (core/messages.py). A replica serves
it only if, in its own range cache:

1. it has that range id, in the request's keyspace; else RANGE_NOT_FOUND with
   the descriptor it has where the request's key (or span) starts;
2. at that generation; else STALE_GENERATION with its descriptor of the range
   (newer or older than the sender's: the sender compares, core/eventual/redirect.py);
3. this node is a member of the range (any role); else RANGE_NOT_FOUND;
4. the request's key, or its whole span, lies in the range; else
   STALE_GENERATION with the descriptor that holds the key (or the span's start).

:func:`refusal` is the whole rule. node/replica.py inlines its common case on the
Put and Get path (one dict lookup in ``RangeCache.held_by`` and an int compare,
then the key's bounds) and calls it only to word a refusal.

Payloads are descriptors as plain data (``RangeDescriptor.to_plain``), so a
sender can refresh its cache with the replica's newer one and retry.
"""

from __future__ import annotations

from ...errors import ErrorCode


def point(pkey: bytes) -> tuple[bytes, bytes]:
    """The span ``[pkey, pkey + 0x00)``: exactly the one placement key ``pkey``."""
    return pkey, pkey + b"\0"


def within(rng, start: bytes, end: bytes) -> bool:
    """``[start, end)`` (``end`` b"": to the end of the key space) lies in ``rng``."""
    if start < rng.start:
        return False
    return rng.end == b"" or (end != b"" and end <= rng.end)


def refusal(cache, node_id: str, keyspace: str, range_id: int, generation: int,
            start: bytes, end: bytes) -> tuple | None:
    """None if ``node_id`` serves a request for placement keys ``[start, end)`` of
    ``keyspace`` routed by range ``range_id`` at ``generation``; else the typed
    error's ``(code, message, payload)``."""
    if keyspace not in cache.keyspaces:
        return (ErrorCode.UNKNOWN_KEYSPACE, f"unknown keyspace {keyspace!r} at {node_id}",
                ())
    here = cache.lookup(keyspace, start)  # what this node has where the request starts
    held = cache.by_id(range_id)
    if held is None or held.keyspace != keyspace:
        return (ErrorCode.RANGE_NOT_FOUND, f"{node_id} has no range {range_id} of "
                f"keyspace {keyspace!r}", (here.to_plain(),))
    if held.generation != generation:
        return (ErrorCode.STALE_GENERATION, f"range {range_id} routed at generation "
                f"{generation}; {node_id} holds generation {held.generation}",
                (held.to_plain(),))
    if node_id not in held.write_targets:
        return (ErrorCode.RANGE_NOT_FOUND, f"{node_id} is not a replica of range "
                f"{range_id} (generation {generation})", (held.to_plain(),))
    if not within(held, start, end):
        return (ErrorCode.STALE_GENERATION, f"the request does not lie in range "
                f"{range_id} at {node_id}; it starts in range {here.range_id}",
                (here.to_plain(),))
    return None
