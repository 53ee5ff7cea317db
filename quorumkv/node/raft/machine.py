"""The state machines the Raft host applies committed entries to.

The host (host.py) knows nothing of what a command means. Each group's machine
reads and writes the node's one plain engine through this small interface:

    reader()                        a view of the engine for one turn's applies
    apply(index, data, reader)      -> object with .reply and .writes
    applied_record(index)           the (key, value) storing the applied index
    conf_changed(conf_state)        the group's membership changed
    snapshot_data()                 the state as of the applied index, as bytes
    restore(data, batch)            replace the state by a snapshot's

``RangeStateMachine`` is a strong keyspace's range (core/strong/machine.py).
A snapshot of a range is its engine spans (core.strong.record.snapshot_spans:
user records, sessions, applied index) as one msgpack array of ``[key, value]``:
whole in memory, which bounds the size of a range a snapshot can carry (streaming
them is the range-move work).
"""

from __future__ import annotations

import msgpack

from ...core import keys
from ...core.strong import record
from ...core.strong.machine import OverlayReader, RangeMachine


class EngineReader:
    """``get(skey)`` of the engine as it is (for reads served after ReadIndex)."""

    __slots__ = ("get",)

    def __init__(self, engine) -> None:
        self.get = engine.get


class RangeStateMachine:
    def __init__(self, engine, keyspace, descriptor, max_value_bytes: int) -> None:
        self.engine = engine
        self.keyspace_name = keyspace.name
        self.keyspace_id = keyspace.keyspace_id
        self.range_id = descriptor.range_id
        self.start, self.end = descriptor.start, descriptor.end
        self.core = RangeMachine(keyspace.keyspace_id, (descriptor.start, descriptor.end),
                                 range_id=descriptor.range_id,
                                 pkey_of=keyspace.placement_key,
                                 max_value_bytes=max_value_bytes)
        self._engine_reader = EngineReader(engine)
        self.core.restore(self._session_records())

    def applied_index(self) -> int:
        key, _ = record.applied_index_record(self.range_id, 0)
        return record.parse_applied_index(self.engine.get(key))

    # ---- applying --------------------------------------------------------------

    def reader(self) -> OverlayReader:
        return OverlayReader(self._engine_reader, {})

    def apply(self, index: int, data: bytes, reader: OverlayReader):
        applied = self.core.apply(index, data, reader)
        reader.add(applied.writes)
        return applied

    def applied_record(self, index: int) -> tuple[bytes, bytes]:
        return record.applied_index_record(self.range_id, index)

    def conf_changed(self, conf_state) -> None:
        pass  # a range's data does not depend on who replicates it

    def read(self, command, now_ms: int):
        return self.core.read(command, self._engine_reader, now_ms)

    # ---- snapshots ---------------------------------------------------------------

    def _spans(self):
        return record.snapshot_spans(self.keyspace_id, self.range_id, self.start, self.end)

    def snapshot_data(self) -> bytes:
        snap = self.engine.snapshot()
        items = [[k, v] for lo, hi in self._spans() for k, v in snap.iter_span(lo, hi)]
        return msgpack.packb(items)

    def restore(self, data: bytes, batch) -> None:
        """Replace the range's state (in ``batch``) by the snapshot ``data``."""
        items = msgpack.unpackb(data)
        for lo, hi in self._spans():
            batch.delete_range(lo, hi)
        for key, value in items:
            batch.put(key, value)
        prefix = keys.session_prefix(self.range_id)
        sessions = [(k, v) for k, v in items if k.startswith(prefix)]
        self.core.restore(sessions)

    def _session_records(self):
        lo, hi = keys.prefix_span(keys.session_prefix(self.range_id))
        return list(self.engine.iter_span(lo, hi))
