"""Range-addressed peer requests: the replica's check of a request's range id and
generation (each refusal, its typed error and the descriptor it carries through
the wire codec), the property that a request routed by the current map is never
refused, the sender's judgement of a redirect, and a coordinator with a stale
descriptor against two real replicas over a real loopback transport."""

from __future__ import annotations

import asyncio
import logging

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv import errors as e
from quorumkv.core import messages as m
from quorumkv.core.consistency import Level
from quorumkv.core.eventual.actions import LaggingReplica, RefreshDescriptor
from quorumkv.core.eventual.redirect import FAIL, NOT_LEADER, RETRY, judge
from quorumkv.core.hlc import HLC
from quorumkv.core.placement import (Keyspace, RangeDescriptor, RangeMap, bootstrap_ranges,
                                     refusal)
from quorumkv.core.version import Version
from quorumkv.net import transport as t
from quorumkv.node.coordinator import Coordinator
from quorumkv.node.metrics import Metrics
from quorumkv.node.replica import Replica
from quorumkv.storage import Durability, Storage

NOW_MS = 1_800_000_000_000
NODES = ["n1", "n2", "n3", "n4"]


def wire(req_id: int, message):
    return m.decode_body(msgpack.unpackb(m.encode(req_id, message), raw=False))


def range_map(partitioner: str = "range", nodes=NODES) -> RangeMap:
    """``users``: four ranges over four nodes, three replicas each (so every
    node lacks one range)."""
    ks = Keyspace("users", 2, partitioner=partitioner, replication_factor=3)
    ranges = RangeMap()
    split = ("g", "n", "t") if partitioner == "range" else ()
    ranges.add_keyspace(ks, bootstrap_ranges(ks, nodes, 4, split_points=split))
    return ranges


def bumped(rng: RangeDescriptor, by: int = 1, voters=None) -> RangeDescriptor:
    return RangeDescriptor.of(rng.range_id, rng.keyspace, rng.start, rng.end,
                              voters or rng.replicas, rng.generation + by)


class FakeStorage:
    def __init__(self) -> None:
        self.truncated: dict = {}
        self.batches: list = []

    def get(self, keyspace_id, pkey):
        return None

    def write_soon(self, entries, on_durable, cache: bool = False) -> None:
        self.batches.append(list(entries))

    def scan(self, keyspace_id, start, end, limit, group_prefix=None, reverse=False):
        return [], False, b""


class Back:
    peer_id = "n9"

    def send_later(self, replies) -> None:
        pass


def serve(ranges: RangeMap, node: str, requests: list) -> dict:
    """Each request's immediate reply from ``node``'s replica (a Put accepted:
    no immediate reply, its write in the storage batch)."""
    storage = FakeStorage()
    replica = Replica(node, ranges, storage, HLC(), lambda: NOW_MS, Metrics())
    handlers = t.Handlers()
    replica.register(handlers)
    return dict(handlers.dispatch(list(enumerate(requests, 1)), Back()))


def version() -> Version:
    return Version(NOW_MS << 16, "n9", value=b"v")


def put(key: bytes, rng) -> m.Put:
    return m.Put("users", key, version(), rng.range_id, rng.generation)


def get(key: bytes, rng) -> m.Get:
    return m.Get("users", key, False, rng.range_id, rng.generation)


def member_range(ranges: RangeMap, node: str, member: bool = True) -> RangeDescriptor:
    return next(r for r in ranges.ranges("users") if (node in r.replicas) == member)


def refused(reply, code) -> RangeDescriptor:
    """``reply`` is a typed ``code`` whose one descriptor survives the wire."""
    assert type(reply) is m.ErrorReply and reply.code == code, reply
    error = wire(-1, reply)[1].error()
    (data,) = error.descriptors
    return RangeDescriptor.from_plain(data)


# ---- the replica's check, case by case ------------------------------------------------


def test_a_request_routed_by_the_replicas_own_map_is_served():
    ranges = range_map()
    rng = member_range(ranges, "n1")
    key = rng.start + b"\0"
    replies = serve(ranges, "n1", [put(key, rng), get(key, rng)])
    assert 1 not in replies  # the Put went to storage
    assert replies[2] == m.GetReply(None)


def test_an_unknown_range_id_is_range_not_found_with_the_descriptor_of_the_key():
    ranges = range_map()
    rng = member_range(ranges, "n1")
    key = rng.start + b"\0"
    lost = RangeDescriptor.of(99, "users", b"", b"", ["n1"], 1)
    for reply in serve(ranges, "n1", [put(key, lost), get(key, lost)]).values():
        assert refused(reply, e.ErrorCode.RANGE_NOT_FOUND) == rng


def test_a_range_of_another_keyspace_is_range_not_found():
    ranges = range_map()
    ks = Keyspace("default", 1, replication_factor=3)
    ranges.add_keyspace(ks, bootstrap_ranges(ks, NODES, 1, first_range_id=10))
    other = ranges.by_id(10)
    rng = member_range(ranges, "n1")
    reply = serve(ranges, "n1", [put(rng.start + b"\0", other)])[1]
    assert refused(reply, e.ErrorCode.RANGE_NOT_FOUND) == rng


@pytest.mark.parametrize("sender_generation", [2, 4], ids=["replica newer", "replica older"])
def test_another_generation_is_stale_generation_with_the_replicas_descriptor(sender_generation):
    ranges = range_map()
    rng = member_range(ranges, "n1")
    ranges.replace(bumped(rng, 2))  # the replica holds generation 3
    sender = bumped(rng, sender_generation - 1)
    key = rng.start + b"\0"
    for reply in serve(ranges, "n1", [put(key, sender), get(key, sender)]).values():
        theirs = refused(reply, e.ErrorCode.STALE_GENERATION)
        assert theirs == ranges.by_id(rng.range_id) and theirs.generation == 3


def test_a_node_that_is_not_a_member_is_range_not_found():
    ranges = range_map()
    rng = member_range(ranges, "n1", member=False)
    reply = serve(ranges, "n1", [put(rng.start + b"\0", rng)])[1]
    assert refused(reply, e.ErrorCode.RANGE_NOT_FOUND) == rng
    assert "not a replica" in reply.message


def test_a_key_outside_the_range_is_stale_generation_with_the_range_that_holds_it():
    ranges = range_map()
    rng, right = ranges.ranges("users")[:2]  # bootstrap: n1 n2 n3, then n2 n3 n4
    assert "n2" in rng.replicas and "n2" in right.replicas
    key = right.start + b"\0"
    for reply in serve(ranges, "n2", [put(key, rng), get(key, rng)]).values():
        assert refused(reply, e.ErrorCode.STALE_GENERATION) == right


def test_spans_are_checked_for_scans_and_anti_entropy():
    ranges = range_map()
    rng, right = ranges.ranges("users")[:2]
    node = "n2"
    inside = m.Scan("users", rng.start, rng.end, 10, rng.range_id, rng.generation)
    across = m.Scan("users", rng.start, right.end, 10, rng.range_id, rng.generation)
    unbounded = m.Scan("users", rng.start, b"", 10, rng.range_id, rng.generation)
    replies = serve(ranges, node, [inside, across, unbounded])
    assert type(replies[1]) is m.ScanReply
    assert refused(replies[2], e.ErrorCode.STALE_GENERATION) == rng
    assert refused(replies[3], e.ErrorCode.STALE_GENERATION) == rng
    for message, ok in ((m.FetchRequest("users", (rng.start, rng.end), *address(rng)), False),
                        (m.FetchRequest("users", (rng.start,), *address(rng)), True),
                        (m.TreeRequest("users", rng.start, right.end, 4, b"", 0,
                                       *address(rng)), False),
                        (m.DigestRequest("users", rng.start, rng.end, 4, (), *address(bumped(
                            rng))), False)):
        span = (min(message.pkeys), max(message.pkeys) + b"\0") if type(
            message) is m.FetchRequest else (message.start, message.end)
        verdict = refusal(ranges, node, "users", message.range_id, message.generation, *span)
        assert (verdict is None) == ok, message


def address(rng) -> tuple[int, int]:
    return rng.range_id, rng.generation


def test_anti_entropy_requests_are_answered_with_the_typed_error():
    """Through the replica's handler, which answers anti-entropy in a task."""
    ranges = range_map()
    rng = member_range(ranges, "n1")
    replica = Replica("n1", ranges, FakeStorage(), HLC(), lambda: NOW_MS, Metrics())
    sent = []

    class Later:
        def send_later(self, replies):
            sent.extend(replies)

    async def scenario():
        await replica._anti_entropy(1, m.TreeRequest("users", rng.start, rng.end, 4, b"", 0,
                                                     *address(bumped(rng))), Later().send_later)

    asyncio.run(scenario())
    ((req_id, reply),) = sent
    assert req_id == 1 and refused(reply, e.ErrorCode.STALE_GENERATION) == rng


def test_a_truncation_names_no_range_and_is_never_refused_for_one():
    assert "range_id" not in m.Truncate._fields


# ---- properties --------------------------------------------------------------------

keys = st.binary(min_size=0, max_size=12)


@settings(max_examples=60, deadline=None)
@given(partitioner=st.sampled_from(["hash", "range"]), keys=st.lists(keys, max_size=20),
       changes=st.lists(st.integers(0, 3), max_size=6))
def test_a_request_routed_by_the_current_map_is_never_refused(partitioner, keys, changes):
    """Whatever generations the map's ranges reached, routing by it is served by
    every member of the key's range, for Puts, Gets and a scan of the range."""
    ranges = range_map(partitioner)
    for index in changes:  # replica changes: each a newer generation of one range
        rng = ranges.ranges("users")[index]
        ranges.replace(bumped(rng, voters=rng.replicas[::-1]))
    ks = ranges.keyspaces["users"]
    for key in keys:
        rng = ranges.lookup("users", ks.placement_key(key))
        scan = m.Scan("users", rng.start, rng.end, 5, rng.range_id, rng.generation)
        for node in rng.write_targets:
            replies = serve(ranges, node, [put(key, rng), get(key, rng), scan])
            assert 1 not in replies and type(replies[2]) is m.GetReply, replies
            assert type(replies[3]) is m.ScanReply, replies


@settings(max_examples=100, deadline=None)
@given(key=keys, range_id=st.integers(0, 6), generation=st.integers(1, 3),
       node=st.sampled_from(NODES), partitioner=st.sampled_from(["hash", "range"]))
def test_the_replicas_fast_check_is_the_rule(key, range_id, generation, node, partitioner):
    """The inlined check on the Put/Get path accepts exactly what ``refusal`` does,
    and refuses with the same code."""
    ranges = range_map(partitioner)
    ranges.replace(bumped(ranges.ranges("users")[1]))  # one range at generation 2
    pkey = ranges.keyspaces["users"].placement_key(key)
    rule = refusal(ranges, node, "users", range_id, generation, pkey, pkey + b"\0")
    message = m.Put("users", key, version(), range_id, generation)
    replies = serve(ranges, node, [message, m.Get("users", key, True, range_id, generation)])
    if rule is None:
        assert 1 not in replies and type(replies[2]) is m.GetReply
    else:
        assert replies[1].code == replies[2].code == rule[0]
        assert replies[1].payload == rule[2]


@given(st.builds(RangeDescriptor.of, st.integers(1, 2**40), st.text(max_size=8), keys, keys,
                 st.lists(st.sampled_from(NODES), unique=True, max_size=4),
                 st.integers(1, 2**40)))
def test_descriptors_round_trip_as_plain_data_through_the_wire(descriptor):
    reply = m.ErrorReply(e.ErrorCode.STALE_GENERATION, "stale", (descriptor.to_plain(),))
    (data,) = wire(-1, reply)[1].error().descriptors
    assert RangeDescriptor.from_plain(data) == descriptor


@pytest.mark.parametrize("data", [
    None, (), {"range_id": 1}, {"range_id": "1", "keyspace": "k", "start": b"", "end": b"",
                                "members": (), "generation": 1},
    {"range_id": 1, "keyspace": "k", "start": b"", "end": b"", "members": (("n1", "boss"),),
     "generation": 1},
    {"range_id": 1, "keyspace": "k", "start": b"", "end": b"", "members": (), "generation": 0},
])
def test_malformed_descriptors_are_refused(data):
    with pytest.raises(ValueError):
        RangeDescriptor.from_plain(data)


# ---- the cache's part ---------------------------------------------------------------


def test_held_by_follows_the_cache_and_refresh_takes_only_newer_descriptors():
    ranges = range_map()
    rng = member_range(ranges, "n1", member=False)
    assert rng.range_id not in ranges.held_by("n1")
    joined = bumped(rng, voters=("n1",) + rng.replicas[1:])
    assert ranges.refresh([joined.to_plain(), rng, {"bad": 1}]) == [joined]
    assert ranges.held_by("n1")[rng.range_id] == joined
    assert ranges.refresh([rng.to_plain()]) == [] and ranges.by_id(rng.range_id) == joined


# ---- the sender's judgement ------------------------------------------------------------


def stale(*descriptors) -> e.RemoteError:
    return m.ErrorReply(e.ErrorCode.STALE_GENERATION, "stale",
                        tuple(d.to_plain() for d in descriptors)).error()


def test_a_newer_descriptor_is_refreshed_and_retried_once():
    ranges = range_map()
    rng = member_range(ranges, "n2")
    newer = bumped(rng)
    retried: set = set()
    verdict, theirs, actions = judge(stale(newer), "n2", rng.range_id, 1, ranges.by_id,
                                     retried, True)
    assert (verdict, theirs, actions) == (RETRY, newer, [RefreshDescriptor(newer)])
    assert judge(stale(newer), "n2", rng.range_id, 1, ranges.by_id, retried, True)[0] == FAIL


def test_an_older_descriptor_is_a_lagging_replica_and_never_downgrades():
    ranges = range_map()
    rng = member_range(ranges, "n2")
    ranges.replace(bumped(rng, 2))
    verdict, _, actions = judge(stale(rng), "n2", rng.range_id, 3, ranges.by_id, set(), True)
    assert verdict == FAIL and actions == [LaggingReplica("n2", rng)]


@pytest.mark.parametrize("error", [
    stale(), m.ErrorReply(e.ErrorCode.STALE_GENERATION, "x", ({"bad": 1},)).error(),
    stale(RangeDescriptor.of(99, "users", b"", b"", ["n2"], 5)),  # a range never heard of
    m.ErrorReply(e.ErrorCode.CLOCK_SKEW, "skew").error(),
])
def test_redirects_without_a_usable_newer_descriptor_fail(error):
    ranges = range_map()
    rng = member_range(ranges, "n2")
    verdict, _, actions = judge(error, "n2", rng.range_id, 1, ranges.by_id, set(), True)
    assert verdict == FAIL and actions == []


def test_not_leader_is_decoded_with_its_leader():
    error = wire(-1, m.ErrorReply(e.ErrorCode.NOT_LEADER, "no", ("n3",)))[1].error()
    assert judge(error, "n2", 1, 1, lambda _: None, set(), True) == (NOT_LEADER, "n3", [])


# ---- a coordinator with a stale descriptor, real replicas, a real transport --------------


def hello(node_id: str) -> m.Hello:
    return m.Hello(node_id, "c1", "fp", "{}")


class Peer:
    """A replica node: its own range map, storage and transport on loopback."""

    def __init__(self, node_id: str, ranges: RangeMap, path) -> None:
        self.node_id = node_id
        self.ranges = ranges
        self.storage = Storage(str(path / node_id), Durability.BATCH)
        self.transport = t.PeerTransport("127.0.0.1", 0, {}, hello=hello(node_id),
                                         check_hello=lambda h: "")

    async def start(self) -> None:
        Replica(self.node_id, self.ranges, self.storage, HLC(), lambda: NOW_MS,
                Metrics()).register(self.transport)
        await self.transport.start()
        self.port = self.transport._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        await self.transport.close()
        self.storage.close()


def three_node_maps(generations: dict[str, int]) -> dict[str, RangeMap]:
    """One range keyspace of one range over n1..n3, at each node's generation."""
    maps = {}
    for node, generation in generations.items():
        ks = Keyspace("users", 2, partitioner="range", replication_factor=3)
        ranges = RangeMap()
        ranges.add_keyspace(ks, [RangeDescriptor.of(1, "users", b"", b"",
                                                    ("n1", "n2", "n3"), generation)])
        maps[node] = ranges
    return maps


async def coordinated(tmp_path, generations: dict[str, int], work):
    """``work(coordinator)`` on n1, whose peers n2 and n3 are real replicas."""
    maps = three_node_maps(generations)
    peers = [Peer(n, maps[n], tmp_path) for n in ("n2", "n3")]
    for peer in peers:
        await peer.start()
    storage = Storage(str(tmp_path / "n1"), Durability.BATCH)
    transport = t.PeerTransport("127.0.0.1", 0, {p.node_id: ("127.0.0.1", p.port)
                                                 for p in peers}, hello=hello("n1"),
                                check_hello=lambda h: "")
    await transport.start()
    coordinator = Coordinator("n1", maps["n1"], storage, transport, HLC(), lambda: NOW_MS,
                              5.0, Metrics(), speculative_retry_s=0)
    try:
        return await asyncio.wait_for(work(coordinator, peers), 10.0), maps
    finally:
        await transport.close()
        storage.close()
        for peer in peers:
            await peer.close()


def test_a_stale_coordinator_is_redirected_refreshes_and_its_retry_succeeds(tmp_path, caplog):
    async def work(c, peers):
        written = c.new_version(b"v1")
        await c.write("users", b"alice", written, Level.parse("ALL"))
        read = await c.read("users", b"alice", Level.parse("ALL"))
        stored = [p.storage.get(2, b"alice") for p in peers]
        return written, read, stored

    caplog.set_level(logging.INFO, logger="quorumkv.node.coordinator")
    (written, read, stored), maps = asyncio.run(coordinated(
        tmp_path, {"n1": 1, "n2": 2, "n3": 2}, work))
    assert read == written and stored == [written, written]
    assert maps["n1"].by_id(1).generation == 2  # refreshed, one descriptor replaced
    assert "refreshed to generation 2" in caplog.text


def test_a_lagging_replica_fails_the_request_and_the_cache_is_not_downgraded(tmp_path,
                                                                              caplog):
    async def work(c, peers):
        with pytest.raises(e.ConsistencyError):
            await c.write("users", b"bob", c.new_version(b"v"), Level.parse("ALL"))
        await c.write("users", b"bob", c.new_version(b"v2"), Level.parse("QUORUM"))
        with pytest.raises(e.ConsistencyError):
            await c.write("users", b"bob", c.new_version(b"v3"), Level.parse("ALL"))
        return [p.storage.get(2, b"bob") for p in peers]

    caplog.set_level(logging.WARNING, logger="quorumkv.node.coordinator")
    stored, maps = asyncio.run(coordinated(tmp_path, {"n1": 3, "n2": 3, "n3": 2}, work))
    assert stored[0].value == b"v3" and stored[1] is None  # n3 took none of them
    assert maps["n1"].by_id(1).generation == 3
    assert caplog.text.count("replica n3 holds range 1 at generation 2") == 1  # logged once
