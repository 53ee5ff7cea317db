"""CPU cost of one node's request path, in process: no sockets, no other processes.

Node 1 runs as in production (RESP connections, coordinator, its RocksDB) but its
peer transport is replaced by an in-process one that hands frames to two real
``Replica`` objects (each with its own RocksDB) through the real message codec,
one frame per peer per loop turn as the socket transport does. 32 RESP clients
each keep one request in flight (``redis-benchmark -c 32 -P 1``).

The figure printed is node 1's CPU per request (process CPU minus the time spent
inside the two replicas), which is what bounds throughput when node 1 is
saturated. It leaves out what the kernel and uvloop spend on sockets, so it is a
tool to compare code changes, not a throughput prediction. On a noisy machine
compare instruction counts instead of times: the difference between two runs
under ``valgrind --tool=callgrind`` with different ``--requests`` is the
instructions per request (node 1 and the replicas together); use a large
difference, startup is not deterministic.

    .venv/bin/python bench/hotpath.py [--requests 200000] [--keys 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import shutil
import sys
import tempfile
import time

import msgpack
import uvloop

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from quorumkv.api.resp import RespConnection  # noqa: E402
from quorumkv.config import ClusterSection, Config, NodeAddress, NodeSection  # noqa: E402
from quorumkv.core import messages as m  # noqa: E402
from quorumkv.core.hlc import HLC  # noqa: E402
from quorumkv.net.transport import (  # noqa: E402
    Handlers, _array_header, deliver_replies, replies_on_wire)
from quorumkv.node.node import Node  # noqa: E402
from quorumkv.node.replica import Replica  # noqa: E402
from quorumkv.storage import Durability, Storage  # noqa: E402
from tests.integration.cluster import free_ports  # noqa: E402


class InProcessPeers:
    """The coordinator's transport, with the peers in this process."""

    def __init__(self, replicas: dict[str, Replica]) -> None:
        self.replicas = replicas
        self.handlers = {}  # peer -> its replica's registry, as its transport holds it
        self.channels = {}  # peer -> the way back, as an inbound connection's Channel
        for peer, replica in replicas.items():
            self.handlers[peer] = Handlers()
            replica.register(self.handlers[peer])
            self.channels[peer] = _Back(self, peer)
        self.ids = itertools.count(1)
        self.out = {peer: [] for peer in replicas}
        self.pending = {peer: {} for peer in replicas}
        self.scheduled = False
        self.peer_seconds = 0.0  # CPU inside the replicas, excluded from node 1's cost
        self.loop = asyncio.get_running_loop()

    def is_connected(self, peer: str) -> bool:
        return True

    def has_queued(self, peer: str) -> bool:
        return bool(self.out[peer])

    def send_request(self, peer: str, message, on_done) -> int:
        req_id = next(self.ids)
        self.pending[peer][req_id] = on_done
        self.out[peer].append(m.encode(req_id, message))
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._flush)
        return req_id

    def forget(self, peer: str, req_id: int) -> None:
        self.pending[peer].pop(req_id, None)

    def _flush(self) -> None:
        self.scheduled = False
        for peer, bodies in self.out.items():
            if bodies:
                frame = _array_header(len(bodies)) + b"".join(bodies)
                bodies.clear()
                self._serve(peer, frame)

    def _serve(self, peer: str, frame: bytes) -> None:
        started = time.process_time()
        items = [m.decode_body(b) for b in msgpack.unpackb(frame, raw=False)]
        replies = self.handlers[peer].dispatch(items, self.channels[peer])
        self.peer_seconds += time.process_time() - started
        if replies:
            self._reply(peer, replies)

    def _reply(self, peer: str, replies: list) -> None:
        started = time.process_time()
        bodies = [m.encode(i, r) for i, r in replies_on_wire(replies)]
        frame = _array_header(len(bodies)) + b"".join(bodies)
        self.peer_seconds += time.process_time() - started
        self.loop.call_soon(self._deliver, peer, frame)

    def _deliver(self, peer: str, frame: bytes) -> None:
        # node 1's side: one frame of replies, as FrameProtocol.data_received does
        deliver_replies(self.pending[peer],
                        list(map(m.decode_body, msgpack.unpackb(frame, raw=False))))


class _Back:
    """A replica's way back to node 1 (what ``Channel.send_later`` is in a node)."""

    def __init__(self, peers: InProcessPeers, peer: str) -> None:
        self.peers, self.peer, self.peer_id = peers, peer, "n1"

    def send_later(self, replies: list) -> None:
        self.peers._reply(self.peer, replies)


class TimedStorage(Storage):
    """A replica's storage whose write batches count as the replica's time."""

    peers: InProcessPeers | None = None

    def _flush_soon(self) -> None:
        started = time.process_time()
        super()._flush_soon()
        self.peers.peer_seconds += time.process_time() - started


class Client:
    """A RESP client with one request in flight, as redis-benchmark -P 1."""

    def __init__(self, conn: RespConnection, requests, on_finished) -> None:
        self.conn, self.requests, self.on_finished = conn, requests, on_finished
        self.loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:  # the connection's transport
        self.loop.call_soon(self.next)

    def next(self) -> None:
        request = next(self.requests, None)
        if request is None:
            self.on_finished()
        else:
            self.conn.data_received(request)

    def get_extra_info(self, name, default=None):
        return default

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def close(self) -> None: ...
    def is_closing(self) -> bool:
        return False


def command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


async def run(args) -> None:
    workdir = tempfile.mkdtemp(prefix="qkv-hotpath-")
    try:
        ports = iter(free_ports(9))
        nodes = tuple(NodeAddress(id=f"n{i}", peer_port=next(ports), resp_port=next(ports),
                                  http_port=next(ports)) for i in (1, 2, 3))
        node = Node(Config(NodeSection(id="n1", data_dir=os.path.join(workdir, "{id}"),
                                       fsync=args.fsync, anti_entropy_interval_ms=0,
                                       tombstone_gc_interval_ms=0,
                                       # timers that never fire here, even run
                                       # under valgrind: the work per request is
                                       # then the same however slow the run
                                       request_timeout_ms=600_000,
                                       speculative_retry_ms=600_000,
                                       heartbeat_interval_ms=60_000),
                           ClusterSection(nodes=nodes)))
        await node.start()
        for task in node._tasks:  # heartbeats, hints, WAL sync: not the request path
            task.cancel()
        replicas = {}
        for peer in ("n2", "n3"):
            storage = TimedStorage(os.path.join(workdir, peer), Durability(args.fsync))
            replicas[peer] = Replica(peer, node.ranges, storage, HLC(), node.clock_ms,
                                     node.metrics)
        peers = InProcessPeers(replicas)
        for r in replicas.values():
            r.storage.peers = peers
        node.coordinator.transport = peers
        node.coordinator.is_down = lambda peer: False  # no heartbeats reach them here
        server = node._servers[0]
        value = b"x" * 100
        rng = random.Random(1)
        for round_no in range(1, args.rounds + 1):
            for name in args.commands:
                def requests(n):
                    for _ in range(n):
                        key = b"key:%012d" % rng.randrange(args.keys)
                        yield command(b"SET", key, value) if name == "SET" else command(b"GET", key)
                finished = asyncio.get_running_loop().create_future()
                left = [args.clients]

                def one_finished():
                    left[0] -= 1
                    if not left[0]:
                        finished.set_result(None)

                clients = []
                for _ in range(args.clients):
                    conn = RespConnection(server)
                    client = Client(conn, requests(args.requests // args.clients), one_finished)
                    conn.connection_made(client)
                    clients.append(client)
                peers.peer_seconds = 0.0
                cpu, wall = time.process_time(), time.perf_counter()
                for client in clients:
                    client.next()
                await finished
                cpu = time.process_time() - cpu - peers.peer_seconds
                n = args.clients * (args.requests // args.clients)
                print(f"round {round_no} {name}: node 1 {cpu / n * 1e6:6.1f} us/request "
                      f"(replicas {peers.peer_seconds / n * 1e6:5.1f} us, "
                      f"{n / (time.perf_counter() - wall):,.0f} requests/s in process)",
                      flush=True)
                for client in clients:
                    client.conn.connection_lost(None)
        await node.stop()
        for r in replicas.values():
            r.storage.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commands", nargs="+", default=["SET", "GET"],
                        choices=["SET", "GET"], help="run these, in this order, each round")
    parser.add_argument("--fsync", default="periodic", choices=[d.value for d in Durability])
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
