"""The ZooKeeper target: a small asyncio client of ZooKeeper's own wire protocol
(jute records in length-prefixed frames), one session (one TCP connection) per
client.

Why not kazoo: kazoo runs each session on its own threads and serialises in pure
Python; 32 sessions in one process spend the client's core on thread hand-offs, and
the servers need the other one. This client is one asyncio protocol per session:
requests carry an xid, replies come back in order, pings keep an idle session alive.

Workloads: `write` (setData, version -1), `read-seq` (getData: served by the server
the session is on from its own state: sequentially consistent, NOT linearizable; it
may return a value older than one already acknowledged to another client),
`read-sync` (sync, then getData on the same session: the server first catches up
with the leader's commits: the usual way to get an up-to-date read from ZooKeeper;
it is still not a quorum read — sync is not a quorum operation, so a deposed leader
can serve it), `incr` (getData, then setData with the version read; retried on
BadVersion: the optimistic update ZooKeeper's recipes use).
"""

from __future__ import annotations

import asyncio
import struct

WORKLOADS = {
    "write": "setData",
    "read-seq": "getData (sequentially consistent, NOT linearizable)",
    "read-sync": "sync + getData (up to date with the leader; not a quorum read)",
    "incr": "getData + setData(version), retried on BadVersion",
}
DEFAULT_WORKLOADS = ("write", "read-sync", "read-seq", "incr")
ROOT = "/qkvbench"
MULTI_OPS = 100  # creates per multi in the preload

OP_CREATE, OP_GET_DATA, OP_SET_DATA, OP_SYNC, OP_PING, OP_MULTI, OP_CLOSE = 1, 4, 5, 9, 11, 14, -11
XID_WATCH, XID_PING = -1, -2
NO_NODE, BAD_VERSION, NODE_EXISTS = -101, -103, -110
ERROR_NAMES = {NO_NODE: "NoNode", BAD_VERSION: "BadVersion", NODE_EXISTS: "NodeExists",
               -4: "ConnectionLoss", -112: "SessionExpired", -2: "MarshallingError"}
OPEN_ACL_UNSAFE = struct.pack(">ii", 1, 31) + b"".join(  # one ACL: all perms, world:anyone
    struct.pack(">i", len(s)) + s for s in (b"world", b"anyone"))
STAT_VERSION = struct.Struct(">i")  # Stat: 4 longs (czxid mzxid ctime mtime), then version
HEADER = struct.Struct(">iqi")      # ReplyHeader: xid, zxid, err


class ZkError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"{ERROR_NAMES.get(code, 'error')} ({code})")
        self.code = code


def _ustring(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def _buffer(b: bytes) -> bytes:
    return struct.pack(">i", len(b)) + b


def _get_data(path: str) -> bytes:
    return _ustring(path) + b"\x00"  # watch: false


def _set_data(path: str, data: bytes, version: int = -1) -> bytes:
    return _ustring(path) + _buffer(data) + struct.pack(">i", version)


def _create(path: str, data: bytes) -> bytes:
    return _ustring(path) + _buffer(data) + OPEN_ACL_UNSAFE + struct.pack(">i", 0)  # persistent


def _multi_create(items: list[tuple[str, bytes]]) -> bytes:
    ops = b"".join(struct.pack(">i?i", OP_CREATE, False, -1) + _create(p, d) for p, d in items)
    return ops + struct.pack(">i?i", -1, True, -1)


def _data_and_version(body: bytes) -> tuple[bytes, int]:
    """GetDataResponse: buffer data, then Stat."""
    (size,) = struct.unpack_from(">i", body)
    data = body[4:4 + max(size, 0)]
    (version,) = STAT_VERSION.unpack_from(body, 4 + max(size, 0) + 32)
    return data, version


class Session(asyncio.Protocol):
    """One ZooKeeper session: send a request, await its reply by xid."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pending: dict[int, asyncio.Future] = {}
        self.xid = 0
        self.connected: asyncio.Future = asyncio.get_running_loop().create_future()
        self.transport = None
        self.pinger = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= 4:
            (size,) = struct.unpack_from(">i", self.buf)
            if len(self.buf) < 4 + size:
                return
            frame = bytes(self.buf[4:4 + size])
            del self.buf[:4 + size]
            self._frame(frame)

    def _frame(self, frame: bytes) -> None:
        if not self.connected.done():  # ConnectResponse: version, timeout, session id, ...
            _, timeout_ms = struct.unpack_from(">ii", frame)
            if timeout_ms <= 0:
                self.connected.set_exception(ZkError(-112))
            else:
                self.connected.set_result(timeout_ms)
            return
        xid, _, err = HEADER.unpack_from(frame)
        if xid in (XID_PING, XID_WATCH):
            return
        future = self.pending.pop(xid, None)
        if future is None or future.done():
            return
        if err:
            future.set_exception(ZkError(err))
        else:
            future.set_result(frame[HEADER.size:])

    def connection_lost(self, exc) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ZkError(-4))
        self.pending.clear()
        if not self.connected.done():
            self.connected.set_exception(ZkError(-4))

    def send(self, op: int, body: bytes) -> asyncio.Future:
        if self.transport is None or self.transport.is_closing():
            raise ZkError(-4)
        self.xid += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.xid] = future
        self.transport.write(struct.pack(">iii", 8 + len(body), self.xid, op) + body)
        return future

    async def _ping(self, every: float) -> None:
        ping = struct.pack(">iii", 8, XID_PING, OP_PING)
        while not self.transport.is_closing():
            await asyncio.sleep(every)
            self.transport.write(ping)


class Target:
    name = "zookeeper"
    workloads = WORKLOADS
    default_workloads = DEFAULT_WORKLOADS

    def __init__(self, options) -> None:
        self.timeout = options.request_timeout
        self.session_timeout_ms = 30_000

    async def connect(self, endpoint: str) -> Session:
        host, port = endpoint.rsplit(":", 1)
        loop = asyncio.get_running_loop()
        transport, session = await loop.create_connection(Session, host, int(port))
        # ConnectRequest: protocol 0, last zxid 0, timeout, session 0, 16-byte password, rw
        request = struct.pack(">iqiq", 0, 0, self.session_timeout_ms, 0) + _buffer(bytes(16)) + b"\x00"
        transport.write(struct.pack(">i", len(request)) + request)
        timeout_ms = await asyncio.wait_for(session.connected, self.timeout)
        session.pinger = asyncio.ensure_future(session._ping(timeout_ms / 3000))
        return session

    async def close(self, session: Session) -> None:
        session.pinger.cancel()
        try:
            await asyncio.wait_for(session.send(OP_CLOSE, b""), self.timeout)
        except (ZkError, asyncio.TimeoutError):
            pass
        session.transport.close()

    def key(self, i: int, width: int) -> str:
        return f"{ROOT}/k{i:0{width}d}"

    def counter(self, i: int, width: int) -> str:
        return f"{ROOT}/c{i:0{width}d}"

    async def call(self, session: Session, op: int, body: bytes) -> bytes:
        return await asyncio.wait_for(session.send(op, body), self.timeout)

    async def preload(self, session: Session, pairs: list[tuple[str, bytes]]) -> None:
        try:
            await self.call(session, OP_CREATE, _create(ROOT, b""))
        except ZkError as e:
            if e.code != NODE_EXISTS:
                raise
        for i in range(0, len(pairs), MULTI_OPS):
            batch = pairs[i:i + MULTI_OPS]
            try:
                await self.call(session, OP_MULTI, _multi_create(batch))
            except ZkError:  # some exist already (an earlier run): one by one
                for path, data in batch:
                    if await self._exists(session, path):
                        await self.call(session, OP_SET_DATA, _set_data(path, data))
                    else:
                        await self.call(session, OP_CREATE, _create(path, data))

    async def _exists(self, session: Session, path: str) -> bool:
        try:
            await self.call(session, OP_GET_DATA, _get_data(path))
            return True
        except ZkError as e:
            if e.code == NO_NODE:
                return False
            raise

    async def read_int(self, session: Session, key: str) -> int:
        await self.call(session, OP_SYNC, _ustring(key))  # every acknowledged write, seen
        return int(_data_and_version(await self.call(session, OP_GET_DATA, _get_data(key)))[0])

    async def op(self, workload: str, session: Session, key: str, value: bytes) -> int:
        """Run one operation; the number of retries it needed (incr only)."""
        if workload == "write":
            await self.call(session, OP_SET_DATA, _set_data(key, value))
            return 0
        if workload == "read-seq":
            await self.call(session, OP_GET_DATA, _get_data(key))
            return 0
        if workload == "read-sync":
            await self.call(session, OP_SYNC, _ustring(key))
            await self.call(session, OP_GET_DATA, _get_data(key))
            return 0
        if workload == "incr":
            return await self._incr(session, key)
        raise AssertionError(workload)

    async def _incr(self, session: Session, key: str) -> int:
        retries = 0
        while True:
            data, version = _data_and_version(await self.call(session, OP_GET_DATA, _get_data(key)))
            try:
                await self.call(session, OP_SET_DATA, _set_data(key, b"%d" % (int(data) + 1), version))
                return retries
            except ZkError as e:
                if e.code != BAD_VERSION:
                    raise
                retries += 1
