"""The strong range's state machine (core/strong/) against a real redis-server:
random command sequences, the same arguments to both, raw RESP replies compared
byte for byte.

The machine's side is what the proposer and the replicas will do: Redis arguments
to a command (resp_args.py, whose argument errors are replies too), one log entry
each, applied by RangeMachine over a dict engine, the reply written by
``to_resp``. MULTI ... EXEC blocks become one Txn; a WATCH records the versions a
ReadIndex read would give. Expiry times are absolute, either long past or in
2100, and read back with EXPIRETIME / PEXPIRETIME: Redis decides by its clock
and the machine by the proposal's, and on those times they cannot disagree
(relative times and TTL would differ by the milliseconds between the two
calls). Between a WATCH and its EXEC at most one command runs, and it is not a
SET with a past time: so no watched key is created and deleted again, which Redis
sees as a change and the machine cannot (the one documented difference).
"""

from __future__ import annotations

import random
import time

import pytest

from quorumkv.core.strong import commands as c
from quorumkv.core.strong.replies import Error, to_resp
from quorumkv.core.strong.resp_args import ArgError, command_from_args, queued_command

from ..unit.strong.harness import Harness
from .test_string_commands import Raw

SEEDS = range(16)
STEPS = 200
BUDGET_S = 30  # per seed: the loop stops, and fails, past it

KEYS = [b"a", b"b", b"{t}c"]
VALUES = [b"0", b"1", b"-7", b"10.5", b"0.1", b"3.0e3", b"abc", b"", b" 1", b"01",
          b"9223372036854775807", b"-9223372036854775808", b"1e308", b"0x10", b"inf",
          b"12345678901234567890", b"-0.000001"]
INTS = [b"1", b"-1", b"7", b"9223372036854775807", b"-9223372036854775808", b"abc", b"1.5"]
NOW_MS = 1_700_000_000_000  # the proposals' clock: between the past and the future below
SECONDS = [b"4102444800", b"4102444900", b"1"]
MILLIS = [b"4102444800499", b"4102444800500", b"4102444900000", b"1"]
CONDITIONS = [b"NX", b"XX", b"GT", b"LT"]
FLOATS = [b"0.1", b"0.2", b"-0.3", b"1e17", b"2.5e-3", b"1e308", b"-1e308", b"nan", b"inf",
          b"abc", b"0x1p-3", b"100", b"1e4000"]


def random_args(rng: random.Random) -> list[bytes]:
    k, v = rng.choice(KEYS), rng.choice(VALUES)
    choices = [
        [b"GET", k], [b"SET", k, v], [b"SET", k, v, b"NX"], [b"SET", k, v, b"XX", b"GET"],
        [b"SET", k, v, b"GET"], [b"SETNX", k, v], [b"GETSET", k, v], [b"GETDEL", k],
        [b"INCR", k], [b"DECR", k], [b"INCRBY", k, rng.choice(INTS)],
        [b"DECRBY", k, rng.choice(INTS)], [b"INCRBYFLOAT", k, rng.choice(FLOATS)],
        [b"INCRBYFLOAT", k, rng.choice(FLOATS)], [b"APPEND", k, v],
        [b"SETRANGE", k, rng.choice([b"0", b"2", b"5", b"-1"]), v],
        [b"GETRANGE", k, rng.choice([b"0", b"-3", b"2"]), rng.choice([b"-1", b"1", b"10"])],
        [b"STRLEN", k], [b"EXISTS", *rng.sample(KEYS, 2)], [b"DEL", *rng.sample(KEYS, 2)],
        [b"MGET", *rng.sample(KEYS, 3)], [b"MSET", k, v, rng.choice(KEYS), rng.choice(VALUES)],
        [b"MSETNX", k, v, rng.choice(KEYS), rng.choice(VALUES)], [b"PERSIST", k],
        [b"SET", k, v, b"EXAT", rng.choice(SECONDS)], [b"SET", k, v, b"PXAT", rng.choice(MILLIS)],
        [b"SET", k, v, b"KEEPTTL"], [b"SET", k, v, b"XX", b"KEEPTTL", b"GET"],
        [b"GETEX", k, b"PXAT", rng.choice(MILLIS)], [b"GETEX", k, b"PERSIST"], [b"GETEX", k],
        [b"EXPIREAT", k, rng.choice(SECONDS), *rng.sample(CONDITIONS, rng.randint(0, 1))],
        [b"PEXPIREAT", k, rng.choice(MILLIS), *rng.sample(CONDITIONS, rng.randint(0, 2))],
        [b"EXPIRETIME", k], [b"PEXPIRETIME", k], [b"PEXPIRETIME", k],
    ]
    return rng.choice(choices)


class Machine:
    """The strong side: a RangeMachine fed one proposal per command."""

    def __init__(self) -> None:
        self.h = Harness()
        self.watches: list = []

    def run(self, args) -> bytes:
        try:
            command = command_from_args(args, NOW_MS)
        except ArgError as e:  # refused before proposing
            return to_resp(Error(str(e)))
        return to_resp(self.h.apply(command, now_ms=NOW_MS))

    def watch(self, keys) -> bytes:
        self.watches += [(k, self.h.read(c.Get(k), now_ms=NOW_MS).version) for k in keys]
        return b"+OK\r\n"

    def exec(self, block) -> bytes:
        txn = c.Txn(tuple(queued_command(a, NOW_MS) for a in block), tuple(self.watches))
        self.watches = []
        return to_resp(self.h.apply(txn, now_ms=NOW_MS))


@pytest.fixture(scope="module")
def theirs(redis_server):
    raw = Raw(redis_server)
    yield raw
    raw.close()


def _transaction(rng, ours: Machine, theirs: Raw, trace: list) -> None:
    watched = rng.sample(KEYS, rng.randint(0, 2))
    if watched:
        assert ours.watch(watched) == theirs.call(b"WATCH", *watched)
    between = []
    if rng.random() < 0.5:  # another write between WATCH and EXEC, or not
        between = random_args(rng)
        if between[0] == b"SET" and b"1" in between[3:]:
            between = [b"GET", between[1]]  # not an absent key created and deleted at once
        assert ours.run(between) == theirs.call(*between), between
    block = [random_args(rng) for _ in range(rng.randint(1, 4))]  # argument errors too
    assert theirs.call(b"MULTI") == b"+OK\r\n"
    for args in block:
        assert theirs.call(*args) == b"+QUEUED\r\n", args
    mine, reference = ours.exec(block), theirs.call(b"EXEC")
    trace.append((["WATCH", *watched], between, block))
    assert mine == reference, f"{trace[-8:]}: machine {mine!r}, redis-server {reference!r}"


@pytest.mark.parametrize("seed", SEEDS)
def test_random_histories_answer_as_redis_does(theirs, seed):
    deadline = time.monotonic() + BUDGET_S
    rng = random.Random(seed)
    assert theirs.call(b"FLUSHALL") == b"+OK\r\n"
    ours, trace = Machine(), []
    for _ in range(STEPS):
        assert time.monotonic() < deadline, "over the time budget"
        if rng.random() < 0.15:
            _transaction(rng, ours, theirs, trace)
            continue
        args = random_args(rng)
        trace.append(args)
        mine, reference = ours.run(args), theirs.call(*args)
        assert mine == reference, f"{trace[-8:]}: machine {mine!r}, redis-server {reference!r}"
