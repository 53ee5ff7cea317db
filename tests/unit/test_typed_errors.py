"""Typed remote errors: every code survives the wire with its payload and comes
back as its exception class; the replica answers its failures with the right
code; and its registered handlers keep all the writes of one read in one storage
batch, acknowledged with one PutAcks."""

from __future__ import annotations

import msgpack
import pytest

from quorumkv import errors as e
from quorumkv.core import messages as m
from quorumkv.core.hlc import HLC
from quorumkv.core.placement import Keyspace, RangeMap, bootstrap_ranges
from quorumkv.core.version import Version
from quorumkv.net import transport as t
from quorumkv.node.metrics import Metrics
from quorumkv.node.replica import Replica

NOW_MS = 1_800_000_000_000


def wire(req_id: int, message):
    return m.decode_body(msgpack.unpackb(m.encode(req_id, message), raw=False))


DESCRIPTORS = ({"range_id": 7, "keyspace": "users", "start": b"l", "end": b"r",
                "generation": 3, "replicas": (("n1", "voter"), ("n2", "learner"))},)


@pytest.mark.parametrize("code, cls, payload", [
    (e.ErrorCode.INTERNAL, e.RemoteInternalError, ()),
    (e.ErrorCode.UNEXPECTED_MESSAGE, e.RemoteInternalError, ()),
    (e.ErrorCode.CLOCK_SKEW, e.ClockSkewRefused, ()),
    (e.ErrorCode.STORAGE, e.RemoteStorageError, ()),
    (e.ErrorCode.UNKNOWN_KEYSPACE, e.RemoteUnknownKeyspace, ()),
    (e.ErrorCode.RANGE_NOT_FOUND, e.RangeNotFound, DESCRIPTORS),
    (e.ErrorCode.STALE_GENERATION, e.StaleGeneration, DESCRIPTORS),
    (e.ErrorCode.NOT_LEADER, e.NotLeader, ("n3",)),
])
def test_every_code_round_trips_to_its_exception(code, cls, payload):
    req_id, reply = wire(-4, m.ErrorReply(code, "why", payload))
    assert req_id == -4 and reply == m.ErrorReply(code, "why", payload)
    error = reply.error()
    assert type(error) is cls and error.code == code and str(error) == "why"
    assert error.payload == payload
    assert isinstance(error, e.RemoteError) and not isinstance(error, e.PeerError)


def test_redirect_payloads_read_as_descriptors_and_leader():
    stale = wire(-1, m.ErrorReply(e.ErrorCode.STALE_GENERATION, "", DESCRIPTORS))[1].error()
    assert stale.descriptors[0]["generation"] == 3
    assert stale.descriptors[0]["replicas"] == (("n1", "voter"), ("n2", "learner"))
    assert isinstance(stale, e.RangeNotFound)  # a sender handles both by refreshing
    assert wire(-1, m.ErrorReply(e.ErrorCode.NOT_LEADER, "", ("n2",)))[1].error().leader == "n2"
    assert wire(-1, m.ErrorReply(e.ErrorCode.NOT_LEADER, "", ()))[1].error().leader is None


def test_a_code_from_a_newer_version_stays_a_plain_remote_error():
    error = wire(-1, m.ErrorReply(999, "new", (1,)))[1].error()
    assert type(error) is e.RemoteError and error.code == 999 and error.payload == (1,)


@pytest.mark.parametrize("payload", [
    [msgpack.ExtType(5, b"x")], [{1: "int key"}], [[[[[[[[[["too deep"]]]]]]]]]],
])
def test_payloads_that_are_not_plain_data_are_refused(payload):
    body = msgpack.unpackb(msgpack.packb([-1, m.ErrorReply.TAG, 1, "x", payload]),
                           raw=False, strict_map_key=False)
    with pytest.raises(m.DecodeError):
        m.decode_body(body)


@pytest.mark.parametrize("body", [
    [-1, m.ErrorReply.TAG, "1", "x", []],
    [-1, m.ErrorReply.TAG, 1, b"x", []],
    [-1, m.ErrorReply.TAG, 1, "x"],
    [-1, m.ErrorReply.TAG, 1, "x", "not an array"],
])
def test_malformed_error_replies_are_decode_errors(body):
    with pytest.raises(m.DecodeError):
        m.decode_body(body)


# ---- the replica's handlers ----------------------------------------------------------


class FakeStorage:
    def __init__(self, fail: Exception | None = None) -> None:
        self.batches: list = []
        self.callbacks: list = []
        self.truncated: dict = {}
        self.fail = fail

    def get(self, keyspace_id, pkey):
        return None

    def write_soon(self, entries, on_durable, cache: bool = False) -> None:
        self.batches.append(list(entries))
        self.callbacks.append(on_durable)

    def make_durable(self) -> None:
        for callback in self.callbacks:
            callback(self.fail)
        self.callbacks.clear()


class Back:
    """A Channel's way back, recorded."""
    peer_id = "n2"

    def __init__(self) -> None:
        self.later: list = []

    def send_later(self, replies) -> None:
        self.later.append(list(replies))


def range_map() -> RangeMap:
    ks = Keyspace("default", 1, replication_factor=3)
    ranges = RangeMap()
    ranges.add_keyspace(ks, bootstrap_ranges(ks, ["n1", "n2", "n3"], 4))
    return ranges


ROUTING = range_map()  # the same map as each replica's: requests are routed by it


def address(key: bytes) -> tuple[int, int]:
    """The range id and generation a request for ``key`` is routed by."""
    rng = ROUTING.lookup("default", ROUTING.keyspaces["default"].placement_key(key))
    return rng.range_id, rng.generation


def replica(storage) -> tuple[Replica, t.Handlers]:
    ranges = range_map()
    r = Replica("n1", ranges, storage, HLC(), lambda: NOW_MS, Metrics(), max_skew_ms=500)
    handlers = t.Handlers()
    r.register(handlers)
    return r, handlers


def put(key: bytes, ts_ms: int = NOW_MS) -> m.Put:
    return m.Put("default", key, Version(ts_ms << 16, "n2", value=b"v"), *address(key))


def test_all_the_puts_of_one_read_make_one_batch_and_one_putacks():
    storage = FakeStorage()
    _, handlers = replica(storage)
    back = Back()
    items = [(1, put(b"a")), (2, m.Get("default", b"a", False, *address(b"a"))),
             (3, put(b"b")), (4, m.Ping()), (5, put(b"c"))]
    now = handlers.dispatch(items, back)
    assert sorted(r for r, _ in now) == [2, 4]  # the read and the ping at once
    assert len(storage.batches) == 1 and len(storage.batches[0]) == 3
    storage.make_durable()
    (acks,) = back.later
    assert acks == [(1, m.PUT_ACK), (3, m.PUT_ACK), (5, m.PUT_ACK)]
    assert t.replies_on_wire(acks) == [(0, m.PutAcks((1, 3, 5)))]


def test_replica_failures_are_answered_with_their_codes():
    storage = FakeStorage(fail=OSError("disk full"))
    _, handlers = replica(storage)
    back = Back()
    skewed = put(b"late", NOW_MS + 60_000)  # a minute ahead of the replica's clock
    now = dict(handlers.dispatch([(1, m.Put("nope", b"k", Version(1, "n2"), 1, 1)),
                                  (2, m.Get("nope", b"k", False, 1, 1)), (3, skewed),
                                  (4, put(b"ok")), (5, m.Scan("nope", b"", b"", 10, 1, 1))],
                                 back))
    assert now[1].code == now[2].code == now[5].code == e.ErrorCode.UNKNOWN_KEYSPACE
    assert isinstance(now[1].error(), e.RemoteUnknownKeyspace) and "'nope'" in now[1].message
    assert now[3].code == e.ErrorCode.CLOCK_SKEW and "clock skew" in now[3].message
    assert isinstance(wire(-3, now[3])[1].error(), e.ClockSkewRefused)
    storage.make_durable()
    ((req_id, failed),) = back.later[0]
    assert req_id == 4 and failed.code == e.ErrorCode.STORAGE and "disk full" in failed.message
