"""A row cache: the decoded versions of recently read keys, in memory.

Point reads dominate (every client read, and the digest a replica sends for it),
and a RocksDB lookup through a large memtable costs microseconds where a dict
lookup costs tens of nanoseconds. The cache is write-through: every version the
engine writes replaces its key's entry once the write succeeds, so the cache never
holds anything older than RocksDB. Absent keys are cached too (as ``None``).

What comes in: what a read found, and the writes a node coordinates (its clients
are the likeliest to read them back). A write a node takes as a replica only
replaces an entry that is cached already, so that replicated writes do not fill
memory with keys nobody read there (like Cassandra's row cache, which reads fill).

Bounded by an estimate of the bytes it holds; least recently used entries go
first, where a read or the write that caches a key counts as a use and a rewrite
of a cached key does not: it replaces the entry in place. Moving an entry costs
cache misses on its linked-list neighbours, and a write needs the cache only for
the reads that follow it. Lost on restart, refilled by use.

A version is kept as a plain tuple of its fields and made a ``Version`` again when
read. The garbage collector stops tracking a plain tuple of ints, strings and
bytes; it keeps tracking a named tuple, and would visit every cached version in
every full collection. With a million entries a full collection took 110 ms with
named tuples and takes 33 ms with plain ones (the dict itself is still walked).
"""

from __future__ import annotations

import collections

from ..core.version import Version, new_tuple

# bytes per entry besides its key and value: the dict slot, the version tuple,
# the key and value objects' headers (measured with sys.getsizeof, rounded up)
ENTRY_OVERHEAD_BYTES = 250
MISSING = object()  # not cached (``None`` is a cached "no version")
LARGEST_SHARE = 16  # an entry bigger than 1/16 of the cache is not cached
VALUE = Version._fields.index("value")  # a row's field holding the value


class RowCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: collections.OrderedDict = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, skey: bytes):
        """The cached version (or None for a cached absence), else ``MISSING``."""
        entries = self._entries
        row = entries.get(skey, MISSING)
        if row is MISSING:
            return MISSING
        entries.move_to_end(skey)
        return None if row is None else new_tuple(Version, row)

    def put(self, skey: bytes, version) -> None:
        """Cache ``version`` (or None: absent) for ``skey``."""
        self.put_many(((skey, version),), (skey,))

    def put_many(self, items, add=()) -> None:
        """Replace the cached entries of ``(skey, version)`` items (a write batch's,
        in one call) in place; items whose key is in ``add`` are cached even if they
        were not."""
        if not self.max_bytes:
            return
        entries = self._entries
        largest = self.max_bytes // LARGEST_SHARE  # one large value would flush the rest
        added = 0
        for skey, version in items:
            old = entries.get(skey, MISSING)
            if old is MISSING and skey not in add:
                continue
            row = None if version is None else tuple(version)
            size = _size(skey, row)
            if size > largest:
                self.discard(skey)
                continue
            entries[skey] = row  # a new key goes to the end; a cached one stays
            added += size if old is MISSING else size - _size(skey, old)
        self.bytes += added
        if self.bytes > self.max_bytes:
            self._evict()

    def _evict(self) -> None:
        entries = self._entries
        while self.bytes > self.max_bytes and entries:
            key, evicted = entries.popitem(last=False)
            self.bytes -= _size(key, evicted)

    def discard(self, skey: bytes) -> None:
        old = self._entries.pop(skey, MISSING)
        if old is not MISSING:
            self.bytes -= _size(skey, old)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


def _size(skey: bytes, row) -> int:
    """Estimated bytes of an entry; ``row`` is a cached tuple, a ``Version`` or None."""
    return ENTRY_OVERHEAD_BYTES + len(skey) + (0 if row is None else len(row[VALUE]))
