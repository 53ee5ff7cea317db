"""A RangeMachine over a plain dict, as the host would drive it: one entry after
another, each seeing the writes of the ones before, and replies made plain
(versions dropped) to compare with what redis-server answered."""

from __future__ import annotations

from quorumkv.core.strong import OverlayReader, Proposal, RangeMachine, encode_proposal
from quorumkv.core.strong.replies import Array, Bulk, Error, Int, Nil, Ok

NOW_MS = 1_700_000_000_000
KEYSPACE_ID = 3
RANGE_ID = 42


class Store(dict):
    """The engine: a dict of storage key -> bytes, read with ``get``."""

    def write(self, writes) -> None:
        for key, value in writes:
            if value is None:
                self.pop(key, None)
            else:
                self[key] = value


class Harness:
    def __init__(self, **settings) -> None:
        self.store = Store()
        self.machine = RangeMachine(KEYSPACE_ID, (b"", b""), range_id=RANGE_ID, **settings)
        self.index = 0

    def apply(self, command, now_ms: int = NOW_MS, client_id: bytes | None = None,
              seq: int = 0):
        """The reply to ``command`` proposed at ``now_ms`` and committed next."""
        self.index += 1
        data = encode_proposal(Proposal(command, now_ms, client_id, seq))
        applied = self.machine.apply(self.index, data, OverlayReader(self.store))
        self.store.write(applied.writes)
        return applied.reply

    def read(self, command, now_ms: int = NOW_MS):
        return self.machine.read(command, self.store, now_ms)


def plain(reply):
    """``"OK"``, None (nil), bytes, int, ``Err(text)``, or a list of those."""
    match reply:
        case Ok():
            return "OK"
        case Nil():
            return None
        case Bulk(value=v) | Int(value=v):
            return v
        case Error(message=m):
            return Err(m)
        case Array(items=items):
            return [plain(i) for i in items]
    raise AssertionError(f"not a reply: {reply!r}")


class Err(str):
    """An error reply's text, so that it never equals a bulk or "OK"."""

    def __eq__(self, other):
        return isinstance(other, Err) and str.__eq__(self, other)

    __hash__ = str.__hash__

    def __repr__(self):
        return f"Err({str.__repr__(self)})"
