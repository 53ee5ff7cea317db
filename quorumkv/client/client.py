"""An any-node QuorumKV client over the Redis protocol (redis-py underneath).

    with Client(["127.0.0.1:7379", "127.0.0.1:7380"], consistency="QUORUM") as kv:
        kv.set("user:42", "alice", ttl=60)
        kv.get("user:42")                      # b"alice"

Every node can coordinate any request, so a call goes to one node, starting at a
rotating position; a connection error or timeout moves it on to the next node, and
the last error is raised when no node answers. Error replies (``ResponseError``,
e.g. a consistency level that could not be met) are the cluster's answer and are
not retried elsewhere.

The keyspace and the consistency level are per client: they are sent as
``QKV.USE <keyspace>`` and ``QKV.CONSISTENCY <LEVEL>`` on every new connection,
so they survive reconnects (an unknown keyspace raises ``ResponseError: unknown
keyspace 'x'`` on the first call). ``with_keyspace`` and ``with_consistency``
return a client with another keyspace or level and the same session.
``AsyncClient`` is the same over ``redis.asyncio``.

``range(start, end, limit=None, reverse=False)`` reads a range keyspace in key
order (``QKV.RANGE``): it returns a list of ``(key, value)`` pairs of
``[start, end)`` (b"" or "": unbounded), following the server's continuations
page after page (each page may be served by another node) until ``limit`` pairs
or the end of the span; descending with ``reverse``.

Sessions (on by default): the client keeps the session token of everything it
wrote or read and presents it with each request (``QKV.SESSION``, pipelined with
the command in one round trip), so after a failover to another node, or at level
ONE, it still reads its own writes. ``session_token`` is the token to hand to
another client (``Client(..., session_token=...)``).
"""

from __future__ import annotations

import random

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

from ..config import REQUEST_LEVELS

FAILOVER_ERRORS = (ConnectionError, TimeoutError)


def parse_node(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"node must be host:port, not {text!r}")
    return host, int(port)


def _check_level(level: str | None) -> str | None:
    if level is None:
        return None
    if level.upper() not in REQUEST_LEVELS:
        raise ValueError(f"unknown consistency level {level!r} "
                         f"(one of {', '.join(REQUEST_LEVELS)})")
    return level.upper()


def _ttl_args(ttl: float | None) -> dict:
    if ttl is None:
        return {}
    return {"ex": int(ttl)} if float(ttl).is_integer() else {"px": int(ttl * 1000)}


def _setup_commands(level: str | None, keyspace: str | None) -> list[tuple[str, str]]:
    """What a new connection sends after redis-py's handshake: the keyspace first
    (it sets the keyspace's default level), then the client's own level."""
    return ([("QKV.USE", keyspace)] if keyspace else []) + \
        ([("QKV.CONSISTENCY", level)] if level else [])


def setup_hook(commands):
    """A redis-py ``redis_connect_func``: the usual handshake, then ``commands``
    (a ResponseError if the node refuses one, e.g. an unknown keyspace)."""
    def on_connect(conn) -> None:
        conn.on_connect()
        for command in commands:
            conn.send_command(*command)
            conn.read_response()
    return on_connect


def async_setup_hook(commands):
    """``setup_hook`` for ``redis.asyncio`` connections."""
    async def on_connect(conn) -> None:
        await conn.on_connect()
        for command in commands:
            await conn.send_command(*command)
            await conn.read_response()
    return on_connect


def consistency_hook(level: str | None, keyspace: str | None = None):
    """The hook of a client: the keyspace, then the level."""
    return setup_hook(_setup_commands(level, keyspace))


def async_consistency_hook(level: str | None, keyspace: str | None = None):
    return async_setup_hook(_setup_commands(level, keyspace))


class _Base:
    _redis_mod = redis
    _retry_cls = Retry
    _hook = staticmethod(consistency_hook)

    def __init__(self, nodes=("127.0.0.1:7379",), consistency: str | None = None,
                 timeout: float = 5.0, session: bool = True,
                 session_token: str | None = None, keyspace: str | None = None) -> None:
        if isinstance(nodes, str):
            nodes = [nodes]
        self.nodes = [n if isinstance(n, tuple) else parse_node(n) for n in nodes]
        if not self.nodes:
            raise ValueError("at least one node is needed")
        self.consistency = _check_level(consistency)
        if keyspace is not None and not (isinstance(keyspace, str) and keyspace):
            raise ValueError(f"keyspace must be a non-empty name, not {keyspace!r}")
        self.keyspace = keyspace  # None: the node's db 0 keyspace
        self.timeout = timeout
        self.session = session
        self.session_token = session_token
        self._next = random.randrange(len(self.nodes))
        self._clients = [self._make(host, port) for host, port in self.nodes]

    def _make(self, host: str, port: int):
        mod = self._redis_mod
        pool = mod.ConnectionPool(host=host, port=port, socket_timeout=self.timeout,
                                  socket_connect_timeout=self.timeout,
                                  retry=self._retry_cls(NoBackoff(), 0),
                                  redis_connect_func=self._hook(self.consistency,
                                                                self.keyspace))
        return mod.Redis(connection_pool=pool)

    def _order(self) -> list:
        start = self._next
        self._next = (start + 1) % len(self._clients)
        return self._clients[start:] + self._clients[:start]

    def with_consistency(self, level: str | None):
        """A new client to the same nodes whose requests use ``level`` (same session)."""
        return type(self)(self.nodes, level, self.timeout, self.session, self.session_token,
                          self.keyspace)

    def with_keyspace(self, keyspace: str | None):
        """A new client to the same nodes whose requests go to ``keyspace`` (same
        level and session)."""
        return type(self)(self.nodes, self.consistency, self.timeout, self.session,
                          self.session_token, keyspace)

    def _queue(self, pipe, command: str, args, kwargs) -> int:
        """Queue ``command`` between the session's QKV.SESSION calls; its index."""
        first = 0
        if self.session_token:
            pipe.execute_command("QKV.SESSION", self.session_token)
            first = 1
        getattr(pipe, command)(*args, **kwargs)
        pipe.execute_command("QKV.SESSION")
        return first

    def _advance(self, results: list, index: int):
        """The command's result from the pipeline's; errors raised as the server
        worded them (redis-py would prefix "Command # n ... of pipeline")."""
        for result in results:
            if isinstance(result, Exception):
                raise result
        token = results[index + 1]
        self.session_token = token.decode() if isinstance(token, bytes) else token
        return results[index]

    def __repr__(self) -> str:
        nodes = ",".join(f"{h}:{p}" for h, p in self.nodes)
        return (f"{type(self).__name__}({nodes}, keyspace={self.keyspace}, "
                f"consistency={self.consistency})")


RANGE_PAGE = 1000  # pairs asked for per QKV.RANGE call (the server's default page)


def _range_args(start, end, want: int, reverse: bool) -> tuple:
    return ("QKV.RANGE", start, end, "LIMIT", want) + (("REV",) if reverse else ())


def _range_step(reply, pairs: list, start, end, reverse: bool):
    """Add one QKV.RANGE reply's pairs; the next ``(start, end)``, or None: done."""
    following, flat = reply
    pairs += zip(flat[0::2], flat[1::2])
    if following is None:
        return None
    return (start, following) if reverse else (following, end)


def _range_want(limit: int | None, got: int) -> int:
    return RANGE_PAGE if limit is None else min(RANGE_PAGE, limit - got)


class Client(_Base):
    """Synchronous client (thread-safe as far as redis-py's pools are)."""

    def _call(self, fn):
        last: Exception | None = None
        for client in self._order():
            try:
                return fn(client)
            except FAILOVER_ERRORS as exc:
                last = exc
        raise last

    def _run(self, command: str, *args, **kwargs):
        if not self.session:
            return self._call(lambda r: getattr(r, command)(*args, **kwargs))

        def with_session(r):
            pipe = r.pipeline(transaction=False)
            index = self._queue(pipe, command, args, kwargs)
            return self._advance(pipe.execute(raise_on_error=False), index)
        return self._call(with_session)

    def get(self, key):
        return self._run("get", key)

    def set(self, key, value, ttl: float | None = None) -> bool:
        return bool(self._run("set", key, value, **_ttl_args(ttl)))

    def delete(self, *keys) -> int:
        return self._run("delete", *keys)

    def mget(self, keys) -> list:
        return self._run("mget", list(keys))

    def mset(self, mapping) -> bool:
        return bool(self._run("mset", mapping))

    def exists(self, *keys) -> int:
        return self._run("exists", *keys)

    def ping(self) -> bool:
        return bool(self._call(lambda r: r.ping()))

    def scan_iter(self, match=None, count=None):
        """Keys matching ``match``; the cursor stays on the node that answered first."""
        client, (cursor, keys) = self._call(lambda r: (r, r.scan(0, match=match, count=count)))
        yield from keys
        while cursor:
            cursor, keys = client.scan(cursor, match=match, count=count)
            yield from keys

    def range(self, start=b"", end=b"", limit: int | None = None,
              reverse: bool = False) -> list:
        """``(key, value)`` pairs of ``[start, end)`` in key order (module docstring)."""
        pairs: list = []
        bounds = (start, end)
        while bounds is not None and (limit is None or len(pairs) < limit):
            reply = self._run("execute_command",
                              *_range_args(*bounds, _range_want(limit, len(pairs)), reverse))
            bounds = _range_step(reply, pairs, *bounds, reverse)
        return pairs

    def close(self) -> None:
        for client in self._clients:
            client.close()
            client.connection_pool.disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncClient(_Base):
    """The same client for asyncio (``redis.asyncio``)."""

    _redis_mod = redis.asyncio
    _retry_cls = AsyncRetry
    _hook = staticmethod(async_consistency_hook)

    async def _call(self, fn):
        last: Exception | None = None
        for client in self._order():
            try:
                return await fn(client)
            except FAILOVER_ERRORS as exc:
                last = exc
        raise last

    async def _run(self, command: str, *args, **kwargs):
        if not self.session:
            return await self._call(lambda r: getattr(r, command)(*args, **kwargs))

        async def with_session(r):
            async with r.pipeline(transaction=False) as pipe:
                index = self._queue(pipe, command, args, kwargs)
                return self._advance(await pipe.execute(raise_on_error=False), index)
        return await self._call(with_session)

    async def get(self, key):
        return await self._run("get", key)

    async def set(self, key, value, ttl: float | None = None) -> bool:
        return bool(await self._run("set", key, value, **_ttl_args(ttl)))

    async def delete(self, *keys) -> int:
        return await self._run("delete", *keys)

    async def mget(self, keys) -> list:
        return await self._run("mget", list(keys))

    async def mset(self, mapping) -> bool:
        return bool(await self._run("mset", mapping))

    async def exists(self, *keys) -> int:
        return await self._run("exists", *keys)

    async def ping(self) -> bool:
        return bool(await self._call(lambda r: r.ping()))

    async def scan_iter(self, match=None, count=None):
        """Keys matching ``match``; the cursor stays on the node that answered first."""
        async def first(r):
            return r, await r.scan(0, match=match, count=count)
        client, (cursor, keys) = await self._call(first)
        for key in keys:
            yield key
        while cursor:
            cursor, keys = await client.scan(cursor, match=match, count=count)
            for key in keys:
                yield key

    async def range(self, start=b"", end=b"", limit: int | None = None,
                    reverse: bool = False) -> list:
        """``(key, value)`` pairs of ``[start, end)`` in key order (module docstring)."""
        pairs: list = []
        bounds = (start, end)
        while bounds is not None and (limit is None or len(pairs) < limit):
            reply = await self._run(
                "execute_command", *_range_args(*bounds, _range_want(limit, len(pairs)),
                                                reverse))
            bounds = _range_step(reply, pairs, *bounds, reverse)
        return pairs

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()
            await client.connection_pool.disconnect()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
