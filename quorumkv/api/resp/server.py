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

from ...core import resp
from ...core.resp import Oversized, OversizedArgs, ProtocolError, RequestParser
from ...errors import ArityError, LimitError, QuorumKVError, UnknownCommandError
from .registry import COMMANDS, CommandContext, error_reply

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
        self._dirty: list = []
        self._flush_scheduled = False
        self.debug = log.isEnabledFor(logging.DEBUG)  # once: free per command when off

    def flush_soon(self, conn) -> None:
        self._dirty.append(conn)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_all)

    def _flush_all(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn._flush()

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


class RespConnection:
    """One client connection (an asyncio protocol): a parser and a queue of
    commands run in order.

    ``_drain`` runs queued commands until one has to wait for replicas; that
    command's ``_answered`` appends its reply and drains again. Commands with a
    callback form (GET, SET) run without a task; the others run as one task each.
    Replies produced in one drain are written together.

    It does not subclass ``asyncio.Protocol`` (the loop needs only the methods) so
    that the compiled build can make it an extension type (server.pxd).
    """

    def __init__(self, server: RespServer) -> None:
        self.server = server
        self.parser = RequestParser(server.max_arg)
        self.queue: collections.deque = collections.deque()
        self.out: list[bytes] = []
        self.out_bytes = 0
        self.waiting = False      # a command is running; the rest of the queue waits
        self.draining = False     # _drain is on the stack (answers may come synchronously)
        self.current = None       # (stats, started) of the running command
        self.task: asyncio.Task | None = None
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

    def connection_lost(self, exc) -> None:
        self.closing = True
        if self in self.server.connections:
            self.server.connections.discard(self)
            self.server.node.metrics.clients.dec()
        if self.task and not self.task.done():
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.parser.feed(data)
        try:
            self.queue.extend(self.parser.commands())
        except ProtocolError as exc:
            self.queue.append(exc)  # answered in order, then the connection closes
        if len(self.queue) > MAX_QUEUED_COMMANDS and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        if not self.waiting:
            self._drain()

    def eof_received(self) -> None:
        return None  # the transport closes itself

    def pause_writing(self) -> None:
        pass  # as asyncio.Protocol: the transport buffers what the client is slow to read

    def resume_writing(self) -> None:
        pass

    def close(self) -> None:
        self.closing = True
        if self.transport:
            self.transport.close()

    # ---- command loop ---------------------------------------------------------

    def _drain(self) -> None:
        """Run queued commands until the queue is empty or one has to wait."""
        if self.draining:
            return
        self.draining = True
        queue = self.queue
        try:
            while queue and not self.waiting and not self.closing and not self.ctx.quit:
                item = queue.popleft()
                if isinstance(item, ProtocolError):
                    self.out.append(resp.error(f"ERR Protocol error: {item}"))
                    self._flush()
                    self.close()
                    return
                self._start(item)
                if self.out_bytes > WRITE_COALESCE_BYTES:
                    self._flush()
            if self.ctx.quit and not self.waiting:  # QUIT answered: say OK and close
                self._flush()
                self.close()
                return
            if self.paused and len(queue) < MAX_QUEUED_COMMANDS // 2:
                self.paused = False
                self.transport.resume_reading()
            if self.out:
                self.server.flush_soon(self)
        finally:
            self.draining = False

    def _flush(self) -> None:
        out = self.out
        if out and not self.closing:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        out.clear()
        self.out_bytes = 0

    def _start(self, args: list) -> None:
        """Start one command; its reply arrives through ``_answered``."""
        name = args[0]
        if isinstance(name, Oversized):
            self.out.append(resp.error("ERR Protocol error: command name too large"))
            return
        command, spec, stats = self.server.lookup(name)
        ctx = self.ctx
        if self.server.debug:
            log.debug("client %d: %s, %d arguments", ctx.client_id, command, len(args) - 1)
        if ctx.receipts_on and command != "QKV.RECEIPT":
            ctx.last_receipts = ctx.session.receipts = []  # this command's receipts
        self.current = (stats, time.perf_counter())
        self.waiting = True
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
            if spec.now is None or not spec.now(self.ctx, args, self._answered):
                self.task = asyncio.ensure_future(self._run_async(command, spec, args))
        except Exception as exc:
            if self.waiting:  # raised before the command was answered: answer it
                self._answered(self._error(command, exc))
            else:
                log.error("command %s failed after answering", command, exc_info=exc)

    async def _run_async(self, command: str, spec, args: list) -> None:
        try:
            reply = await spec.handler(self.ctx, args)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reply = self._error(command, exc)
        self._answered(reply)

    @staticmethod
    def _error(command: str, exc: Exception) -> bytes:
        if not isinstance(exc, QuorumKVError):  # a bug: answer it, keep the connection
            log.error("command %s failed", command, exc_info=exc)
        return error_reply(exc)

    def _answered(self, reply: bytes) -> None:
        """The running command's reply: may be called from inside ``_start`` or
        later (replica answers, deadline), exactly once per command."""
        stats, started = self.current
        stats.record("error" if reply[:1] == b"-" else "ok", time.perf_counter() - started)
        self.waiting = False
        self.out.append(reply)
        self.out_bytes += len(reply)
        if not self.draining:
            try:
                self._drain()
            except Exception:  # never into the replica callback that answered us
                log.exception("connection %d failed", self.ctx.client_id)
                self.close()
