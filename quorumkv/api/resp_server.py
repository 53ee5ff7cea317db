"""The Redis protocol server: an asyncio adapter around the sans-IO parser.

Commands of one connection run in order (a pipeline's replies come back in the
order sent, and a GET after a SET on one connection sees the SET); different
connections run concurrently. Replies produced while more pipelined commands are
waiting are written together.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time

from ..core import resp
from ..core.resp import Oversized, OversizedArgs, ProtocolError, RequestParser
from ..errors import ArityError, LimitError, QuorumKVError, UnknownCommandError
from .commands import COMMANDS, CommandContext

log = logging.getLogger(__name__)
MAX_QUEUED_COMMANDS = 10_000      # pause reading a connection beyond this backlog
WRITE_COALESCE_BYTES = 64 * 1024
MAX_CACHED_NAMES = 1024


class RespServer:
    def __init__(self, node) -> None:
        self.node = node
        self.kv = node.kv
        self.ids = itertools.count(1)
        self.connections: set[RespConnection] = set()
        self.server: asyncio.AbstractServer | None = None
        cfg = node.config.node
        self.max_arg = max(cfg.max_key_bytes, cfg.max_value_bytes)
        self.max_clients = cfg.max_clients
        self._by_name: dict[bytes, tuple] = {}

    def lookup(self, raw_name: bytes):
        """``(NAME, spec or None, metrics entry)`` for a command name as sent,
        cached per spelling (clients send the same few names over and over)."""
        entry = self._by_name.get(raw_name)
        if entry is None:
            command = raw_name.decode("utf-8", "replace").upper()
            spec = COMMANDS.get(command)
            stats = self.node.metrics.requests.stats("resp", command if spec else "UNKNOWN")
            entry = (command, spec, stats)
            if spec is not None and len(self._by_name) < MAX_CACHED_NAMES:
                self._by_name[raw_name] = entry
        return entry

    async def start(self) -> "RespServer":
        loop = asyncio.get_running_loop()
        me = self.node.me
        self.server = await loop.create_server(lambda: RespConnection(self), me.host,
                                               me.resp_port, reuse_address=True, backlog=1024)
        return self

    async def close(self) -> None:
        if self.server:
            self.server.close()
        for conn in list(self.connections):
            conn.close()
        if self.server:
            try:
                await asyncio.wait_for(self.server.wait_closed(), 1.0)
            except asyncio.TimeoutError:
                pass


async def start_resp(node) -> RespServer:
    return await RespServer(node).start()


class RespConnection(asyncio.Protocol):
    """One client connection: a parser, a queue of commands and one worker task
    that runs them in order (it sleeps on ``_wake`` while the queue is empty)."""

    def __init__(self, server: RespServer) -> None:
        self.server = server
        self.parser = RequestParser(server.max_arg)
        self.queue: collections.deque = collections.deque()
        self.worker: asyncio.Task | None = None
        self._wake: asyncio.Future | None = None
        self.transport = None
        self.paused = False
        self.closing = False
        self.ctx = CommandContext(server.node, server.kv, next(server.ids))

    # ---- asyncio callbacks ---------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        if len(self.server.connections) >= self.server.max_clients:
            transport.write(resp.error("ERR max number of clients reached"))
            transport.close()
            self.closing = True
            return
        self.server.connections.add(self)
        self.server.node.metrics.clients.inc()
        self.ctx.peer = transport.get_extra_info("peername")
        self.worker = asyncio.ensure_future(self._run())

    def connection_lost(self, exc) -> None:
        self.closing = True
        if self in self.server.connections:
            self.server.connections.discard(self)
            self.server.node.metrics.clients.dec()
        if self.worker and not self.worker.done():
            self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.parser.feed(data)
        try:
            self.queue.extend(self.parser.commands())
        except ProtocolError as exc:
            self.queue.append(exc)  # answered in order, then the connection closes
        if self.queue and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        if len(self.queue) > MAX_QUEUED_COMMANDS and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def close(self) -> None:
        self.closing = True
        if self.transport:
            self.transport.close()

    # ---- command loop ---------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue, write = self.queue, self.transport.write
        out: list[bytes] = []
        size = 0
        while not self.closing:
            if not queue:
                self._wake = loop.create_future()
                await self._wake
                continue
            item = queue.popleft()
            if isinstance(item, ProtocolError):
                out.append(resp.error(f"ERR Protocol error: {item}"))
                write(b"".join(out))
                self.close()
                return
            reply = await self._execute(item)
            out.append(reply)
            size += len(reply)
            if not queue or size > WRITE_COALESCE_BYTES:
                write(b"".join(out) if len(out) > 1 else reply)
                out, size = [], 0
            if self.paused and len(queue) < MAX_QUEUED_COMMANDS // 2:
                self.paused = False
                self.transport.resume_reading()
            if self.ctx.quit:
                if out:
                    write(b"".join(out))
                self.close()

    async def _execute(self, args: list) -> bytes:
        name = args[0]
        if isinstance(name, Oversized):
            return resp.error("ERR Protocol error: command name too large")
        command, spec, stats = self.server.lookup(name)
        outcome = "ok"
        started = time.perf_counter()
        try:
            if spec is None:
                raise UnknownCommandError(name.decode("utf-8", "replace"), args[1:])
            n = len(args)
            if (spec.arity > 0 and n != spec.arity) or (spec.arity < 0 and n < -spec.arity):
                raise ArityError(command)
            if type(args) is OversizedArgs:
                size = max(a.length for a in args if isinstance(a, Oversized))
                raise LimitError(f"argument too large: {size} bytes, limit is "
                                 f"{self.server.max_arg} bytes")
            reply = await spec.handler(self.ctx, args)
        except QuorumKVError as exc:
            outcome = "error"
            reply = resp.error(exc.resp_message())
        except Exception as exc:  # a bug: answer it, keep the connection and log
            log.exception("command %s failed", command)
            outcome = "error"
            reply = resp.error(f"ERR internal error: {type(exc).__name__}: {exc}")
        stats.record(outcome, time.perf_counter() - started)
        return reply
