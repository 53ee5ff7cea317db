"""A follower's view of the cluster metadata: what a node outside the metadata
group keeps.

The node feeds it the metadata group's committed entries, ``(index, command)``
(a command decoded or as its encoded bytes), in log order, or a whole snapshot
when it has fallen behind the group's log. The view applies them to its own
:class:`~.state.MetaState` (so it holds exactly what the replicas hold) and
answers :meth:`MetaView.changes_since`, with which the node refreshes only what
changed: :func:`refresh_cache` takes the new keyspaces and the newer descriptors
into its RangeCache, one descriptor at a time by generation.
"""

from __future__ import annotations

from ..placement.rangecache import RangeCache
from .commands import decode
from .state import Changes, MetaState, Result, runtime_keyspace


class MetaView:
    def __init__(self, state: MetaState | None = None) -> None:
        self.state = state or MetaState()

    @property
    def version(self) -> int:
        return self.state.version

    @property
    def applied_index(self) -> int:
        return self.state.applied_index

    def follow(self, entries) -> list[Result]:
        """Apply each ``(index, command)`` above the applied index (entries seen
        before are skipped: a stream may repeat after a reconnect). Raises
        commands.DecodeError for bytes that are not a command."""
        results = []
        for index, command in entries:
            if index <= self.state.applied_index:
                continue
            if isinstance(command, (bytes, bytearray)):
                command = decode(bytes(command))
            results.append(self.state.apply(index, command))
        return results

    def install(self, snapshot: dict) -> bool:
        """Take a snapshot (``MetaState.to_plain``) if it is ahead of this view;
        ValueError if it is not a snapshot. Returns whether it was taken."""
        state = MetaState.from_plain(snapshot)
        if state.applied_index <= self.state.applied_index:
            return False
        self.state = state
        return True

    def changes_since(self, version: int) -> Changes:
        return self.state.changes_since(version)

    def range_cache(self) -> RangeCache:
        return self.state.range_cache()


def refresh_cache(cache: RangeCache, state: MetaState, changes: Changes) -> bool:
    """Bring ``cache`` up to ``changes``: add the keyspaces it lacks, take every
    newer descriptor (``RangeCache.refresh``: by generation). False when the cache
    cannot follow in place (a keyspace was dropped or a descriptor was refused):
    build it again with ``state.range_cache()``."""
    for record in changes.keyspaces:
        if record.name not in cache.keyspaces:
            cache.add_keyspace(runtime_keyspace(record), state.descriptors(record.name))
    if changes.dropped_keyspaces or changes.removed_ranges:
        return False
    fresh = [d for d in changes.descriptors
             if (cache.by_id(d.range_id) or d).generation < d.generation]
    return len(cache.refresh(fresh)) == len(fresh)
