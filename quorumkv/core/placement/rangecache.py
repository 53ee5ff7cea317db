"""The range cache: every keyspace's ranges, looked up by key or by range id.

Within a keyspace the ranges tile the whole placement-key space: sorted by start,
the first starts at ``b""``, each ends where the next starts, the last runs to the
end (``b""``). Every key is in exactly one range, and for a range keyspace the
order of keys is the order of ranges.

The cache changes one descriptor at a time (:meth:`RangeCache.replace`): the new
descriptor must be newer (a larger generation) than every descriptor it replaces,
and the cache must still tile afterwards, so it covers exactly the span of the
ranges it replaces (itself: a replica change; itself and its right-hand
neighbours: a merge). A refused replacement changes nothing. Splits, which turn
one descriptor into two, arrive with range splits.

``version`` counts the changes the cache has taken (each keyspace added, each
descriptor replaced): of two states of one cache the larger version is the newer.
Nodes built from the same bootstrap configuration start at the same version.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from .descriptor import RangeDescriptor
from .keyspace import Keyspace


class ReplaceRefused(ValueError):
    """A descriptor the cache does not take (stale, unknown or breaking the tiling)."""


class StaleGeneration(ReplaceRefused):
    """The cache already holds this range at the same or a newer generation."""


@dataclass
class RangeCache:
    """The ranges of every keyspace, sorted by start within a keyspace."""

    keyspaces: dict[str, Keyspace] = field(default_factory=dict)
    _ranges: dict[str, list[RangeDescriptor]] = field(default_factory=dict)
    _starts: dict[str, list[bytes]] = field(default_factory=dict)
    _by_id: dict[int, RangeDescriptor] = field(default_factory=dict)
    version: int = 0
    # node id -> (version, {range id: descriptor}) of the ranges it is a member of
    _held: dict[str, tuple[int, dict]] = field(default_factory=dict, compare=False,
                                               repr=False)

    def add_keyspace(self, keyspace: Keyspace, ranges: list[RangeDescriptor]) -> None:
        ranges = sorted(ranges, key=lambda r: r.start)
        check_tiling(ranges)
        assert keyspace.name not in self.keyspaces, f"keyspace {keyspace.name} twice"
        assert all(r.keyspace == keyspace.name for r in ranges), "ranges of another keyspace"
        taken = [r.range_id for r in ranges if r.range_id in self._by_id]
        assert not taken and len({r.range_id for r in ranges}) == len(ranges), \
            f"range ids are unique across keyspaces: {taken}"
        self.keyspaces[keyspace.name] = keyspace
        self._set(keyspace.name, ranges)
        self.version += 1

    def remove_keyspace(self, name: str) -> list[RangeDescriptor]:
        """Forget keyspace ``name`` and its ranges (it was dropped); returns them."""
        ranges = self._ranges.pop(name)
        del self.keyspaces[name]
        del self._starts[name]
        for r in ranges:
            del self._by_id[r.range_id]
        self.version += 1
        return ranges

    def _set(self, keyspace: str, ranges: list[RangeDescriptor]) -> None:
        for old in self._ranges.get(keyspace, ()):
            del self._by_id[old.range_id]
        self._ranges[keyspace] = ranges
        self._starts[keyspace] = [r.start for r in ranges]
        self._by_id.update((r.range_id, r) for r in ranges)

    def ranges(self, keyspace: str) -> list[RangeDescriptor]:
        return self._ranges[keyspace]

    def all_ranges(self) -> list[RangeDescriptor]:
        return [r for name in sorted(self._ranges) for r in self._ranges[name]]

    def lookup(self, keyspace: str, pkey: bytes) -> RangeDescriptor:
        """The one range of ``keyspace`` whose span holds placement key ``pkey``."""
        index = bisect.bisect_right(self._starts[keyspace], pkey) - 1
        return self._ranges[keyspace][index]

    def by_id(self, range_id: int) -> RangeDescriptor | None:
        return self._by_id.get(range_id)

    def held_by(self, node_id: str) -> dict[int, RangeDescriptor]:
        """The ranges ``node_id`` is a member of (any role), by range id: what a
        replica checks a request's range against (addressing.py). Built again
        after the cache changes; callers must not change it."""
        held = self._held.get(node_id)
        if held is None or held[0] != self.version:
            held = self._held[node_id] = (self.version, {
                r.range_id: r for r in self._by_id.values() if node_id in r.write_targets})
        return held[1]

    def replace(self, new: RangeDescriptor) -> list[RangeDescriptor]:
        """Take ``new`` in place of the descriptors it covers; returns them.

        Raises ReplaceRefused (StaleGeneration for an old one) and changes nothing
        unless: its keyspace is known, its range id is one of the replaced ranges,
        its span is exactly theirs, and its generation is above each of theirs."""
        ranges = self._ranges.get(new.keyspace)
        if ranges is None:
            raise ReplaceRefused(f"no keyspace {new.keyspace!r}")
        first = bisect.bisect_right(self._starts[new.keyspace], new.start) - 1
        last = first
        while ranges[last].end != new.end and ranges[last].end != b"":
            last += 1
        replaced = ranges[first:last + 1]
        if replaced[0].start != new.start or replaced[-1].end != new.end:
            raise ReplaceRefused(f"range {new.range_id} {new.start!r}..{new.end!r} does "
                                 f"not cover whole ranges: the cache would not tile")
        if new.range_id not in {r.range_id for r in replaced}:
            raise ReplaceRefused(f"range {new.range_id} is not one of the ranges it "
                                 f"covers ({[r.range_id for r in replaced]})")
        newest = max(r.generation for r in replaced)
        if new.generation <= newest:
            raise StaleGeneration(f"range {new.range_id} generation {new.generation} is "
                                  f"not newer than the cached generation {newest}")
        self._set(new.keyspace, ranges[:first] + [new] + ranges[last + 1:])
        self.version += 1
        return replaced

    def refresh(self, descriptors) -> list[RangeDescriptor]:
        """Take each of ``descriptors`` (RangeDescriptor, or the plain data a
        typed redirect carries) that this cache takes: newer than what it holds
        and replacing whole ranges. Returns the ones taken; the others (stale,
        malformed, or a split's half) change nothing."""
        taken = []
        for data in descriptors:
            try:
                new = data if type(data) is RangeDescriptor else RangeDescriptor.from_plain(data)
                self.replace(new)
            except (ValueError, AssertionError):  # ReplaceRefused is a ValueError
                continue
            taken.append(new)
        return taken

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "epoch": self.version,  # the old name of "version", kept for one release
            "keyspaces": [ks.to_json() | {"ranges": len(self._ranges[ks.name])}
                          for ks in self.keyspaces.values()],
            "ranges": [r.to_json(self.keyspaces[r.keyspace].partitioner)
                       for r in self.all_ranges()],
        }


RangeMap = RangeCache  # the name its callers know


def check_tiling(ranges: list[RangeDescriptor]) -> None:
    """Ranges sorted by start must cover the whole key space exactly once."""
    assert ranges, "a keyspace has at least one range"
    assert ranges[0].start == b"", "first range starts at the beginning"
    assert ranges[-1].end == b"", "last range runs to the end"
    for left, right in zip(ranges, ranges[1:]):
        assert left.end == right.start and left.end != b"", "ranges must abut"
