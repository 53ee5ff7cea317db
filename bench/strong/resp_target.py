"""The quorumkv target: RESP over one asyncio connection per client (SET, GET, INCR),
for a QuorumKV strong keyspace (`--keyspace NAME`: each connection sends `QKV.USE
NAME` first). It speaks plain RESP2, so it runs against redis-server too (that is
how it is checked until strong keyspaces exist).

A minimal client on purpose (as for the other targets): one request in flight per
connection, a reply parser for the five RESP2 types, no pooling layer; redis-py's
asyncio client costs several times the CPU per request, and on two cores the client
competes with the servers.

With `--follow-leaders` a client keeps a connection to each node it is sent to
and goes to each range's leader: its connections send `QKV.REDIRECT ON`, a
`MOVED <range> <host:port>` is followed and remembered per range, and every
request is wrapped in `QKV.REQUEST <id> <seq>` (quorumkv.client.strong's way,
with its RangeRouter and Sessions): what the redirecting Python client does,
without redis-py's per-request cost.

Workloads: `write` (SET), `read` (GET: linearizable on a strong keyspace, whatever
the keyspace guarantees elsewhere), `incr` (INCR, one round trip: the server does
the read-modify-write).
"""

from __future__ import annotations

import asyncio

WORKLOADS = {
    "write": "SET",
    "read": "GET (linearizable on a strong keyspace)",
    "incr": "INCR",
}
DEFAULT_WORKLOADS = ("write", "read", "incr")
PRELOAD_PIPELINE = 100  # SETs pipelined per round trip in the preload
NIL = object()  # a nil reply ($-1): parse() returns None for "incomplete"


class RespError(Exception):
    """An error reply (-ERR ...)."""


class MissingKey(Exception):
    """A read found no value: the preload did not cover the key."""


def encode(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def parse(buf: bytearray, i: int = 0):
    """(reply, next offset), or None while the reply is incomplete."""
    end = buf.find(b"\r\n", i)
    if end < 0:
        return None
    kind, line = buf[i:i + 1], bytes(buf[i + 1:end])
    if kind == b"+":
        return line, end + 2
    if kind == b"-":
        return RespError(line.decode(errors="replace")), end + 2
    if kind == b":":
        return int(line), end + 2
    if kind == b"$":
        size = int(line)
        if size < 0:
            return NIL, end + 2
        if len(buf) < end + 2 + size + 2:
            return None
        return bytes(buf[end + 2:end + 2 + size]), end + 4 + size
    if kind == b"*":
        items, j = [], end + 2
        for _ in range(int(line)):
            got = parse(buf, j)
            if got is None:
                return None
            items.append(got[0])
            j = got[1]
        return items, j
    raise RespError(f"unexpected RESP reply type {kind!r}")


class Connection(asyncio.Protocol):
    """Requests in order, replies in order (RESP keeps them in order per connection)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiting: list[asyncio.Future] = []
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.waiting:
            got = parse(self.buf)
            if got is None:
                return
            reply, used = got
            del self.buf[:used]
            future = self.waiting.pop(0)
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc) -> None:
        for future in self.waiting:
            if not future.done():
                future.set_exception(ConnectionError("connection closed"))
        self.waiting.clear()

    def request(self, *args: bytes) -> asyncio.Future:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("connection closed")
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.transport.write(encode(*args))
        return future


MAX_REDIRECTS = 5


class Routed:
    """One client's connections in --follow-leaders mode (module docstring)."""

    def __init__(self, target, endpoint: str) -> None:
        from quorumkv.client.strong import RangeRouter, Sessions
        self.target = target
        host, port = endpoint.rsplit(":", 1)
        self.home = (host, int(port))
        self.conns: dict[tuple[str, int], Connection] = {}
        self.router = RangeRouter()
        self.sessions = Sessions()

    async def start(self) -> "Routed":
        described = await self.target.call(await self.conn(self.home), b"QKV.KEYSPACE",
                                           b"DESCRIBE", self.target.keyspace.encode())
        self.router.load(described)
        return self

    async def conn(self, address: tuple[str, int]) -> Connection:
        conn = self.conns.get(address)
        if conn is None or conn.transport.is_closing():
            conn = await self.target.open(*address)
            await self.target.call(conn, b"QKV.REDIRECT", b"ON")
            self.conns[address] = conn
        return conn

    def close(self) -> None:
        for conn in self.conns.values():
            conn.transport.close()

    def request(self, *args: bytes) -> asyncio.Future:
        return asyncio.ensure_future(self._request(args))

    async def _request(self, args):
        range_id = self.router.range_of(args[1]) if len(args) > 1 else None
        address = self.router.leaders.get(range_id, self.home)
        session = self.sessions.take()
        try:
            wrapped = (b"QKV.REQUEST", session[0].encode(), b"%d" % session[1], *args)
            for _ in range(MAX_REDIRECTS):
                reply = await (await self.conn(address)).request(*wrapped)
                if not (isinstance(reply, RespError) and str(reply).startswith("MOVED ")):
                    return reply
                moved_range, target = str(reply).split(" ")[1:3]
                host, port = target.rsplit(":", 1)
                address = (host, int(port))
                self.router.moved(int(moved_range), address)
            return reply
        finally:
            self.sessions.give(session)


class Target:
    name = "quorumkv"
    workloads = WORKLOADS
    default_workloads = DEFAULT_WORKLOADS

    def __init__(self, options) -> None:
        self.timeout = options.request_timeout
        self.keyspace = options.keyspace
        self.follow_leaders = getattr(options, "follow_leaders", False)
        if self.follow_leaders and not self.keyspace:
            raise SystemExit("--follow-leaders needs --keyspace (a strong keyspace)")

    async def connect(self, endpoint: str):
        if self.follow_leaders:
            return await Routed(self, endpoint).start()
        host, port = endpoint.rsplit(":", 1)
        return await self.open(host, int(port))

    async def open(self, host: str, port: int) -> Connection:
        _, conn = await asyncio.get_running_loop().create_connection(Connection, host, port)
        if self.keyspace:
            await self.call(conn, b"QKV.USE", self.keyspace.encode())
        return conn

    async def close(self, conn) -> None:
        conn.close() if isinstance(conn, Routed) else conn.transport.close()

    def key(self, i: int, width: int) -> bytes:
        return b"k%0*d" % (width, i)

    def counter(self, i: int, width: int) -> bytes:
        return b"c%0*d" % (width, i)

    async def call(self, conn: Connection, *args: bytes):
        reply = await asyncio.wait_for(conn.request(*args), self.timeout)
        if isinstance(reply, RespError):
            raise reply
        return reply

    async def preload(self, conn: Connection, pairs: list[tuple[bytes, bytes]]) -> None:
        # Pipelined SETs, not MSET: on a strong keyspace an MSET must stay in one range
        # (CROSSSLOT otherwise), and the preload's keys are spread over all of them.
        for i in range(0, len(pairs), PRELOAD_PIPELINE):
            replies = await asyncio.wait_for(asyncio.gather(
                *(conn.request(b"SET", k, v) for k, v in pairs[i:i + PRELOAD_PIPELINE])),
                self.timeout)
            for reply in replies:
                if isinstance(reply, RespError):
                    raise reply

    async def read_int(self, conn: Connection, key: bytes) -> int:
        reply = await self.call(conn, b"GET", key)
        return 0 if reply is NIL else int(reply)

    async def op(self, workload: str, conn: Connection, key: bytes, value: bytes) -> int:
        if workload == "write":
            await self.call(conn, b"SET", key, value)
        elif workload == "read":
            if await self.call(conn, b"GET", key) is NIL:
                raise MissingKey(key.decode())
        elif workload == "incr":
            await self.call(conn, b"INCR", key)
        else:
            raise AssertionError(workload)
        return 0
