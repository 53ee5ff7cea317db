"""A client of one strong keyspace that goes to each range's leader and applies
every write at most once.

    with StrongClient(["127.0.0.1:7379", "127.0.0.1:7380"], "locks") as kv:
        kv.set("{user1}.lock", "owner-a")
        kv.incr("{user1}.visits")            # 1
        kv.cas("{user1}.lock", "owner-a", "owner-b")

Routing. The client reads the keyspace's ranges once (``QKV.KEYSPACE DESCRIBE``)
and places a key as the server does (a hash keyspace hashes the key's ``{tag}``).
Its connections send ``QKV.REDIRECT ON``: a node that would forward a write to the
range's leader answers ``MOVED <range-id> <host:port>`` instead, and the client
keeps that leader for the range and sends there from then on (reads too: the
leader serves them without asking anyone). Until it knows a range's leader it
asks the nodes it was given in turn. A MOVED for a range it does not know (the
ranges changed) makes it read the ranges again.

Exactly-once. Every command is sent as ``QKV.REQUEST <client-id> <seq> ...``: the
client's id (16 random bytes, hex) and the next number of one of its sessions.
A connection that fails or times out is retried on the next node with the same
id and seq, so a write the first node had applied is not applied again: the
range answers the retry with the first reply. A session carries one request at
a time; concurrent callers (threads, tasks) each take a session of their own.

``ResponseError`` replies other than MOVED are the keyspace's answer and are
raised as they are. ``AsyncStrongClient`` is the same over ``redis.asyncio``.
"""

from __future__ import annotations

import bisect
import os
import threading

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, MovedError, TimeoutError
from redis.retry import Retry

from ..core.placement.partitioner import placement_key_with_tag
from .client import async_setup_hook, parse_node, setup_hook

RETRY_ERRORS = (ConnectionError, TimeoutError)
MAX_REDIRECTS = 5  # MOVED followed per request before the last one is raised


def _pairs(reply) -> dict:
    """A map reply (a dict in RESP3, a flat field/value array in RESP2) with
    str keys."""
    items = reply.items() if isinstance(reply, dict) else zip(reply[0::2], reply[1::2])
    return {_text(k): v for k, v in items}


class RangeRouter:
    """Which range a key is in, and the leader last seen for each range (pure:
    no I/O; the clients feed it)."""

    def __init__(self) -> None:
        self.partitioner = "hash"
        self.starts: list[bytes] = []
        self.range_ids: list[int] = []
        self.leaders: dict[int, tuple[str, int]] = {}

    def load(self, described) -> None:
        """``QKV.KEYSPACE DESCRIBE``'s reply."""
        info = _pairs(described)
        mode = info.get("mode")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "strong":
            raise ValueError(f"keyspace is in {mode} mode: StrongClient is for strong "
                             f"keyspaces (use Client)")
        partitioner = info["partitioner"]
        self.partitioner = partitioner.decode() if isinstance(partitioner, bytes) \
            else partitioner
        ranges = sorted((bytes.fromhex(_text(r["start"])), r["range_id"])
                        for r in map(_pairs, info["ranges"]))
        self.starts = [start for start, _ in ranges]
        self.range_ids = [range_id for _, range_id in ranges]
        self.leaders = {r: a for r, a in self.leaders.items() if r in self.range_ids}

    def range_of(self, key) -> int | None:
        if not self.starts or key is None:
            return None
        if isinstance(key, str):
            key = key.encode()
        pkey = placement_key_with_tag(key) if self.partitioner == "hash" else key
        return self.range_ids[max(0, bisect.bisect_right(self.starts, pkey) - 1)]

    def moved(self, range_id: int, address: tuple[str, int]) -> bool:
        """Keep the leader a MOVED named; False if the range is unknown (reload)."""
        if range_id not in self.range_ids:
            return False
        self.leaders[range_id] = address
        return True

    def forget(self, range_id: int | None, address) -> None:
        """``address`` failed: stop sending ``range_id`` there."""
        if range_id is not None and self.leaders.get(range_id) == address:
            del self.leaders[range_id]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Sessions:
    """The client's exactly-once sessions: one id, many sequences; a request takes
    one for its duration (its retries reuse its seq)."""

    def __init__(self) -> None:
        self.client_id = os.urandom(16).hex()
        self._free: list[list] = []
        self._count = 0
        self._lock = threading.Lock()

    def take(self) -> list:
        with self._lock:
            if self._free:
                session = self._free.pop()
            else:
                self._count += 1
                session = [f"{self.client_id}.{self._count}", 0]
            session[1] += 1
            return session

    def give(self, session: list) -> None:
        with self._lock:
            self._free.append(session)


class _Base:
    _redis_mod = redis
    _retry_cls = Retry

    def __init__(self, nodes, keyspace: str, timeout: float = 5.0) -> None:
        if isinstance(nodes, str):
            nodes = [nodes]
        self.nodes = [n if isinstance(n, tuple) else parse_node(n) for n in nodes]
        if not self.nodes:
            raise ValueError("at least one node is needed")
        if not (isinstance(keyspace, str) and keyspace):
            raise ValueError(f"keyspace must be a non-empty name, not {keyspace!r}")
        self.keyspace = keyspace
        self.timeout = timeout
        self.router = RangeRouter()
        self.sessions = Sessions()
        self._loaded = False
        self._connections: dict[tuple[str, int], object] = {}
        self._next = 0
        self.redirects = 0  # MOVED replies followed (for tests and benchmarks)

    def _connection(self, address: tuple[str, int]):
        conn = self._connections.get(address)
        if conn is None:
            mod = self._redis_mod
            pool = mod.ConnectionPool(host=address[0], port=address[1],
                                      socket_timeout=self.timeout,
                                      socket_connect_timeout=self.timeout,
                                      retry=self._retry_cls(NoBackoff(), 0),
                                      redis_connect_func=self._hook())
            conn = self._connections[address] = mod.Redis(connection_pool=pool)
        return conn

    def _order(self, range_id) -> list[tuple[str, int]]:
        """The leader known for the range first, then the given nodes in turn."""
        start = self._next
        self._next = (start + 1) % len(self.nodes)
        order = self.nodes[start:] + self.nodes[:start]
        leader = self.router.leaders.get(range_id)
        if leader is not None:
            order = [leader] + [a for a in order if a != leader]
        return order

    def _setup(self) -> list[tuple[str, str]]:
        """What each new connection sends first."""
        return [("QKV.USE", self.keyspace), ("QKV.REDIRECT", "ON")]

    def _moved(self, exc: MovedError, order: list, redirects: int) -> tuple:
        """Follow a MOVED: ``(range id, next order, reload the ranges?)``; the
        error itself once ``MAX_REDIRECTS`` were followed for one request."""
        if redirects > MAX_REDIRECTS:
            raise exc
        self.redirects += 1
        target = (exc.host, int(exc.port))
        known = self.router.moved(exc.slot_id, target)
        return exc.slot_id, [target] + [a for a in order if a != target], not known

    @staticmethod
    def _wrapped(session: list, args) -> tuple:
        return ("QKV.REQUEST", session[0], session[1], *args)

    def __repr__(self) -> str:
        nodes = ",".join(f"{h}:{p}" for h, p in self.nodes)
        return f"{type(self).__name__}({nodes}, keyspace={self.keyspace})"


class StrongClient(_Base):
    """Synchronous (thread-safe: each call takes its own session)."""

    def _hook(self):
        return setup_hook(self._setup())

    def _load(self) -> None:
        last = None
        for address in self._order(None):
            try:
                self.router.load(self._connection(address).execute_command(
                    "QKV.KEYSPACE", "DESCRIBE", self.keyspace))
                self._loaded = True
                return
            except RETRY_ERRORS as exc:
                last = exc
        raise last

    def execute(self, *args, key=None):
        """Run one command (``args``) on the range of ``key`` (default: its first
        argument after the name) and return its reply."""
        if not self._loaded:
            self._load()
        if key is None and len(args) > 1:
            key = args[1]
        session = self.sessions.take()
        try:
            return self._send(self.router.range_of(key), self._wrapped(session, args))
        finally:
            self.sessions.give(session)

    def _send(self, range_id, wrapped):
        last: Exception | None = None
        order = self._order(range_id)
        redirects = 0
        while order:
            address = order.pop(0)
            try:
                return self._connection(address).execute_command(*wrapped)
            except MovedError as exc:
                redirects += 1
                range_id, order, reload = self._moved(exc, order, redirects)
                if reload:
                    self._load()
            except RETRY_ERRORS as exc:
                last = exc
                self.router.forget(range_id, address)
        raise last

    def get(self, key):
        return self.execute("GET", key)

    def set(self, key, value) -> bool:
        return self.execute("SET", key, value) == b"OK"

    def delete(self, key) -> int:
        return self.execute("DEL", key)

    def incr(self, key, amount: int = 1) -> int:
        return self.execute("INCRBY", key, amount)

    def cas(self, key, expected, new) -> bool:
        """``QKV.CAS``: set ``new`` if the value is ``expected``; whether it did."""
        return bool(self.execute("QKV.CAS", key, expected, new))

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
            conn.connection_pool.disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncStrongClient(_Base):
    """The same for asyncio (``redis.asyncio``)."""

    _redis_mod = redis.asyncio
    _retry_cls = AsyncRetry

    def _hook(self):
        return async_setup_hook(self._setup())

    async def _load(self) -> None:
        last = None
        for address in self._order(None):
            try:
                self.router.load(await self._connection(address).execute_command(
                    "QKV.KEYSPACE", "DESCRIBE", self.keyspace))
                self._loaded = True
                return
            except RETRY_ERRORS as exc:
                last = exc
        raise last

    async def execute(self, *args, key=None):
        if not self._loaded:
            await self._load()
        if key is None and len(args) > 1:
            key = args[1]
        session = self.sessions.take()
        try:
            return await self._send(self.router.range_of(key), self._wrapped(session, args))
        finally:
            self.sessions.give(session)

    async def _send(self, range_id, wrapped):
        last: Exception | None = None
        order = self._order(range_id)
        redirects = 0
        while order:
            address = order.pop(0)
            try:
                return await self._connection(address).execute_command(*wrapped)
            except MovedError as exc:
                redirects += 1
                range_id, order, reload = self._moved(exc, order, redirects)
                if reload:
                    await self._load()
            except RETRY_ERRORS as exc:
                last = exc
                self.router.forget(range_id, address)
        raise last

    async def get(self, key):
        return await self.execute("GET", key)

    async def set(self, key, value) -> bool:
        return await self.execute("SET", key, value) == b"OK"

    async def delete(self, key) -> int:
        return await self.execute("DEL", key)

    async def incr(self, key, amount: int = 1) -> int:
        return await self.execute("INCRBY", key, amount)

    async def cas(self, key, expected, new) -> bool:
        return bool(await self.execute("QKV.CAS", key, expected, new))

    async def close(self) -> None:
        for conn in self._connections.values():
            await conn.aclose()
            await conn.connection_pool.disconnect()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
