"""Versioned values and their last-write-wins merge.

A stored value is a :class:`Version`: the HLC timestamp of the write, the id of the
node that coordinated it, a tombstone flag for deletes, an optional absolute expiry
(ms since the epoch, 0 = none) and the value bytes.

Versions are totally ordered by ``(ts, node_id, tombstone, expiry_ms, value)``.
The timestamp decides; the coordinator's node id breaks ties between concurrent
writes at the same HLC; the remaining fields only make the order total, so ``merge``
(the maximum) is commutative, associative and idempotent even for pathological
inputs.

A version is an immutable named tuple rather than a frozen dataclass: it is built
several times per request, a tuple is built in one C call (a frozen dataclass
sets each field through ``object.__setattr__``), the tuple order is exactly the
version order, and msgpack encodes it as the array it already is.
"""

from __future__ import annotations

from typing import NamedTuple

import msgpack

from .hlc import wall_ms_of

_packb = msgpack.Packer(use_bin_type=True).pack
# builds a named tuple from its fields in one C call: a NamedTuple's own __new__ is
# generated Python code, an interpreted call per version on the hot path
new_tuple = tuple.__new__


class Version(NamedTuple):
    ts: int
    node_id: str
    tombstone: bool = False
    expiry_ms: int = 0
    value: bytes = b""

    def is_live(self, now_ms: int) -> bool:
        """A live version answers reads: not deleted and not expired at ``now_ms``."""
        return not self.tombstone and (self.expiry_ms == 0 or self.expiry_ms > now_ms)

    def encode(self) -> bytes:
        return _packb(self)

    def as_tuple(self) -> tuple:
        return tuple(self)

    @staticmethod
    def from_tuple(t) -> "Version":
        """The inverse of :meth:`as_tuple`; raises ValueError/TypeError on anything else."""
        if not isinstance(t, (list, tuple)) or len(t) != 5:
            raise ValueError(f"a version is a 5-tuple, got {t!r:.80}")
        ts, node_id, tombstone, expiry_ms, value = t
        if not (type(ts) is int and type(node_id) is str and type(tombstone) is bool
                and type(expiry_ms) is int and type(value) is bytes):
            raise TypeError(f"bad version field types: {t!r:.80}")
        return new_tuple(Version, t)

    @staticmethod
    def decode(raw: bytes) -> "Version":
        """From local storage (trusted: written by :meth:`encode`)."""
        return Version(*msgpack.unpackb(raw, raw=False))


def purgeable(version: Version, now_ms: int, grace_ms: int) -> bool:
    """A tombstone written, or a value expired, more than ``grace_ms`` ago: tombstone
    GC may drop it (node/tombstones.py has the rule that makes that safe)."""
    if version.tombstone:
        return wall_ms_of(version.ts) < now_ms - grace_ms
    return version.expiry_ms != 0 and version.expiry_ms < now_ms - grace_ms


def merge(a: Version | None, b: Version | None) -> Version | None:
    """The winner of two versions of one key (``None`` means no version)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if a >= b else b


def newest(versions) -> Version | None:
    result = None
    for v in versions:
        result = merge(result, v)
    return result
