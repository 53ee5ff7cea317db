"""A stand-in for a strong keyspace's StrongReplicator (node/raft/strong.py) that
runs the real state machine of each range (core.strong.RangeMachine) over one
in-memory engine (sim/storage.py's MemEngine), synchronously: it skips Raft
alone. Every command goes to the one range that holds its keys (the keyspace's
placement key with hash tags, as strong keyspaces place keys), or raises the
CrossSlotError the real replicator raises; a write is a proposal at the next
log index, stamped with the node clock and the client's session, as the leader
would propose it. ``calls`` records ``(command, client_id, seq)``.

``connection(...)`` gives a RESP connection (the real server loop, registry and
KV) over a range map with a strong keyspace ``ledger`` (db 0, the initial one,
four hash ranges) and an eventual ``default``; ``node`` the node object, whose
``strong_replicators`` holds the double.
"""

from __future__ import annotations

import asyncio
import types

from quorumkv.api.kv import KV
from quorumkv.api.resp import server as S
from quorumkv.core.placement import Keyspace, RangeMap, bootstrap_ranges
from quorumkv.core.placement.partitioner import placement_key_with_tag
from quorumkv.core.strong import OverlayReader, Proposal, RangeMachine, encode_proposal
from quorumkv.core.strong import commands as c
from quorumkv.errors import CrossSlotError
from quorumkv.sim.storage import MemEngine

from .test_resp_connection import FakeReplicator, Transport

NOW_MS = 1_700_000_000_000
MAX_VALUE_BYTES = 1 << 20


class StrongDouble:
    def __init__(self, keyspace: Keyspace, ranges: RangeMap, clock_ms) -> None:
        self.keyspace = keyspace
        self.ranges = ranges
        self.clock_ms = clock_ms
        self.pkey_of = placement_key_with_tag if keyspace.partitioner == "hash" else bytes
        self.engine = MemEngine()
        self.machines = {
            d.range_id: RangeMachine(keyspace.keyspace_id, (d.start, d.end),
                                     range_id=d.range_id, pkey_of=self.pkey_of,
                                     max_value_bytes=MAX_VALUE_BYTES)
            for d in ranges.ranges(keyspace.name)}
        self.index = 0
        self.calls: list = []

    def range_of(self, keys):
        """The one range holding every key (the real replicator's rule and text)."""
        found = {self.ranges.lookup(self.keyspace.name, self.pkey_of(k)).range_id
                 for k in keys}
        if len(found) > 1:
            raise CrossSlotError(
                "Keys in request don't hash to the same range of keyspace "
                f"'{self.keyspace.name}' (give them one hash tag, e.g. {{user1}}.a and "
                "{user1}.b)")
        return found.pop() if found else self.ranges.ranges(self.keyspace.name)[0].range_id

    async def execute(self, command, client_id: bytes = b"", seq: int = 0):
        self.calls.append((command, client_id, seq))
        machine = self.machines[self.range_of(c.keys_of(command))]
        if c.is_read_only(command):
            return machine.read(command, self.engine, self.clock_ms())
        self.index += 1
        data = encode_proposal(Proposal(command, self.clock_ms(), client_id or None, seq))
        applied = machine.apply(self.index, data, OverlayReader(self.engine))
        batch = self.engine.batch()
        for skey, value in applied.writes:
            batch.put(skey, value) if value is not None else batch.delete(skey)
        self.engine.write(batch)
        return applied.reply


def strong_ranges() -> tuple[RangeMap, Keyspace]:
    ranges = RangeMap()
    ledger = Keyspace("ledger", 2, mode="strong", db=0)
    ranges.add_keyspace(Keyspace("default", 1), bootstrap_ranges(Keyspace("default", 1),
                                                                 ["n1"], 2))
    ranges.add_keyspace(ledger, bootstrap_ranges(ledger, ["n1"], 4, first_range_id=10))
    return ranges, ledger


def strong_node(clock=None):
    """A node as api/ sees it, with the double serving ``ledger``."""
    ranges, ledger = strong_ranges()
    clock = clock or (lambda: NOW_MS)
    node = types.SimpleNamespace(
        coordinator=FakeReplicator(), ranges=ranges, clock_ms=clock,
        config=types.SimpleNamespace(node=types.SimpleNamespace(
            max_key_bytes=512, max_value_bytes=MAX_VALUE_BYTES, max_clients=100)))
    from quorumkv.node.metrics import Metrics
    node.metrics = Metrics()
    node.strong_replicators = {"ledger": StrongDouble(ledger, ranges, clock)}
    node.kv = KV(node)
    return node


def connection(node=None):
    node = node or strong_node()
    conn = S.RespConnection(S.RespServer(node))
    conn.connection_made(Transport())
    return conn, node


def command(*args) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def run(*commands, conn=None) -> bytes:
    """The raw replies to ``commands`` sent pipelined on one connection."""
    async def go():
        c_, _ = conn or connection()
        start = len(c_.transport.written)
        c_.data_received(b"".join(command(*args) for args in commands))
        for _ in range(50 + 5 * len(commands)):
            await asyncio.sleep(0)
        return bytes(c_.transport.written[start:])
    return asyncio.run(go())
