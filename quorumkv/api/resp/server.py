"""The Redis protocol server: an asyncio adapter around the sans-IO parser.

Pipelined commands of one connection are coordinated concurrently, and their
replies come back in the order sent. Commands on one key still apply in order (a
GET after a SET of the same key on one connection sees the SET), and a command
without keys that reads or changes the connection or the whole keyspace
(``Spec.alone``: SELECT, HELLO, KEYS, FLUSHDB ...) runs with nothing else of its
connection in flight. Different connections run concurrently. Replies produced
while more pipelined commands are waiting are written together.

No connection holds the event loop for long: each loop turn starts at most
``MAX_STARTS_PER_TURN`` commands of one connection, at most ``MAX_IN_FLIGHT`` run
at once, and reading pauses while ``MAX_QUEUED_COMMANDS`` are waiting.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time

from ...core import resp
from ...core.resp import Oversized, OversizedArgs, ProtocolError, RequestParser
from ...errors import (ArityError, LimitError, QuorumKVError, UnknownCommandError,
                       UnsupportedError)
from .admin import ServerHooks
from .registry import BLIND_WRITE, COMMANDS, EXCLUSIVE, CommandContext, error_reply
from .strong import request_args, strong_spec
from .transactions import REFUSED_IN_MULTI, TRANSACTION_ENDS

log = logging.getLogger(__name__)
MAX_QUEUED_COMMANDS = 10_000      # pause reading a connection beyond this backlog
MAX_IN_FLIGHT = 128               # commands of one connection coordinated at once
MAX_STARTS_PER_TURN = 256         # then the connection yields to the others
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
        self.unknown_stats = node.metrics.requests.stats("resp", "UNKNOWN")
        # read or bumped per command (admin.ServerHooks reads them here)
        self.monitors: list = []      # CommandContexts of MONITOR connections
        self.slow_s = 0.01            # slowlog-log-slower-than
        self.commands = 0             # answered, for INFO stats
        self.next_sample = 0.0        # perf_counter time the ops bucket ends
        self.net_in = 0
        self.net_out = 0
        self.hooks = ServerHooks(self)  # what SLOWLOG, MONITOR, CLIENT and INFO read
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


class Started:
    """One started command of a connection: its place in the reply order, the
    keys it holds, its reply once answered. ``answered`` is the ``done`` callback
    the command's handler calls, exactly once."""

    def __init__(self, conn: "RespConnection", stats, keys, alone: bool, args: list) -> None:
        self.conn = conn
        self.args = args
        self.stats = stats
        self.started = time.perf_counter()
        self.keys = keys          # the key argument, a list of them, or None
        self.alone = alone
        self.reply = None
        self.elapsed = 0.0        # seconds from the start to the answer
        self.task = None

    def answered(self, reply: bytes) -> None:
        self.conn._answered(self, reply)


# a command with more arguments than this still to read pauses reading for a
# loop turn after each read (RespConnection.data_received)
YIELD_PENDING_ARGS = 1024


class RespConnection:
    """One client connection (an asyncio protocol): a parser, the queue of
    commands not started yet and the started ones in reply order.

    ``_drain`` starts queued commands while they may run (see the module
    docstring); each started command's ``Started.answered`` stores its reply,
    moves every reply that is next in order to the output, and drains again.
    Commands with a callback form (GET, SET) run without a task; the others run
    as one task each. Replies produced in one drain are written together.

    It does not subclass ``asyncio.Protocol`` (the loop needs only the methods) so
    that the compiled build can make it an extension type (server.pxd).
    """

    def __init__(self, server: RespServer) -> None:
        self.server = server
        self.parser = RequestParser(server.max_arg)
        self.queue: collections.deque = collections.deque()   # parsed, not started
        self.in_flight: collections.deque = collections.deque()  # Started, reply order
        self.busy_keys: dict = {}     # key -> (EXCLUSIVE/READ/BLIND_WRITE, holders)
        self.alone_running = False
        self.out: list[bytes] = []
        self.out_bytes = 0
        self.draining = False     # _drain is on the stack (answers may come synchronously)
        self.drain_scheduled = False
        self.transport = None
        self.paused = False
        self.broken = False       # a protocol error is queued: read nothing more
        self.closing = False
        self.ctx = CommandContext(server.node, server.kv, next(server.ids))

    # ---- asyncio callbacks ---------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        if len(self.server.connections) >= self.server.max_clients:
            transport.write(resp.error("ERR max number of clients reached"))
            transport.close()
            self.closing = True
            self.server.hooks.rejected()
            return
        self.server.connections.add(self)
        self.server.node.metrics.clients.inc()
        self.ctx.peer = transport.get_extra_info("peername")
        self.server.hooks.opened(self.ctx, self, transport)

    def connection_lost(self, exc) -> None:
        self.closing = True
        if self in self.server.connections:
            self.server.connections.discard(self)
            self.server.node.metrics.clients.dec()
        self.server.hooks.closed(self.ctx)
        for started in self.in_flight:
            if started.task is not None and not started.task.done():
                started.task.cancel()

    def data_received(self, data: bytes) -> None:
        if self.closing or self.broken:
            return
        self.server.net_in += len(data)
        self.parser.feed(data)
        try:
            self.queue.extend(self.parser.commands())
        except ProtocolError as exc:
            # the commands before the bad bytes run, then it is answered in order
            # and the connection closes; nothing more is read meanwhile
            self.queue.extend(exc.parsed)
            self.queue.append(exc)
            self.broken = True
            if not self.paused:
                self.paused = True
                self.transport.pause_reading()
        if len(self.queue) > MAX_QUEUED_COMMANDS and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        elif self.parser._want > YIELD_PENDING_ARGS and not self.paused:
            # a huge command is still arriving: libuv hands over up to 32 reads per
            # wake-up, each parsed here, so read no more until the loop's next turn
            # and the other connections are served in between
            self.transport.pause_reading()
            asyncio.get_running_loop().call_soon(self._resume_after_yield)
        self._drain()

    def _resume_after_yield(self) -> None:
        if not (self.paused or self.closing or self.transport.is_closing()):
            self.transport.resume_reading()

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

    def push(self, data: bytes) -> None:
        """Write ``data`` (a MONITOR line) after the replies released so far."""
        if not self.closing:
            self.out.append(data)
            self._flush()

    # ---- command loop ---------------------------------------------------------

    def _drain(self) -> None:
        """Start queued commands while they may run (module docstring)."""
        if self.draining:
            return
        self.draining = True
        queue = self.queue
        ctx = self.ctx
        try:
            starts = 0
            while queue and not self.closing and not ctx.quit:
                item = queue[0]
                if isinstance(item, ProtocolError):
                    if self.in_flight:
                        break  # answered after the commands before it
                    queue.popleft()
                    self.out.append(resp.error(f"ERR Protocol error: {item}"))
                    self._flush()
                    self.close()
                    return
                if not self._start_next(item):
                    break
                queue.popleft()
                starts += 1
                if self.out_bytes > WRITE_COALESCE_BYTES:
                    self._flush()
                if starts >= MAX_STARTS_PER_TURN and queue:
                    self._drain_next_turn()  # let the other connections in
                    break
            if ctx.quit and not self.in_flight:  # QUIT answered: say OK and close
                self._flush()
                self.close()
                return
            if self.paused and not self.broken and len(queue) < MAX_QUEUED_COMMANDS // 2:
                self.paused = False
                self.transport.resume_reading()
            if self.out:
                self.server.flush_soon(self)
        finally:
            self.draining = False

    def _drain_next_turn(self) -> None:
        if not self.drain_scheduled:
            self.drain_scheduled = True
            asyncio.get_running_loop().call_soon(self._scheduled_drain)

    def _scheduled_drain(self) -> None:
        self.drain_scheduled = False
        self._drain()

    def _flush(self) -> None:
        out = self.out
        if out and not self.closing:
            data = out[0] if len(out) == 1 else b"".join(out)
            self.server.net_out += len(data)
            self.transport.write(data)
        out.clear()
        self.out_bytes = 0

    def _start_next(self, args: list) -> bool:
        """Start ``args`` if it may run now (False: it waits, and so does every
        command after it)."""
        name = args[0]
        if self.alone_running:
            return False
        if isinstance(name, Oversized):
            self._start(args, "UNKNOWN", None, self.server.unknown_stats, None, False)
            return True
        command, spec, stats = self.server.lookup(name)
        if command == "QKV.REQUEST":  # the wrapped command, with the client's session
            inner = request_args(args)
            if inner is not None:
                args = inner
                command, spec, stats = self.server.lookup(args[0])
        ctx = self.ctx
        if ctx.strong:  # a strong keyspace's commands (api/resp/strong.py)
            spec = strong_spec(ctx, command, spec)
        if spec is None or (ctx.multi_refused and command not in TRANSACTION_ENDS):
            # answered at once (an error), touches nothing
            self._start(args, command, spec, stats, None, False)
            return True
        in_flight = self.in_flight
        if spec.alone or ctx.receipts_on:
            if in_flight:
                return False
            self._start(args, command, spec, stats, None, True)
            return True
        if len(in_flight) >= MAX_IN_FLIGHT:
            return False
        first = spec.keys[0]
        keys = None
        if first and first < len(args):
            busy = self.busy_keys  # key -> (how it is held, by how many)
            share = spec.share
            if share == EXCLUSIVE and spec.blind is not None and spec.blind(args):
                share = BLIND_WRITE
            if spec.keys[1] == first:  # one key (GET, SET ...): no list for it
                keys = args[first]
                held = busy.get(keys) if busy else None
                if held is None:
                    busy[keys] = (share, 1)
                elif held[0] == share != EXCLUSIVE:
                    busy[keys] = (share, held[1] + 1)
                else:
                    return False
            else:
                keys = spec.key_args(args)
                if busy:
                    for key in keys:
                        held = busy.get(key)
                        if held is not None and not held[0] == share != EXCLUSIVE:
                            return False
                for key in keys:
                    held = busy.get(key)
                    busy[key] = (share, 1 if held is None else held[1] + 1)
        self._start(args, command, spec, stats, keys, False)
        return True

    def _start(self, args: list, command, spec, stats, keys, alone: bool) -> None:
        """Start one command; its reply arrives through ``Started.answered``."""
        ctx = self.ctx
        started = Started(self, stats, keys, alone, args)
        self.in_flight.append(started)
        ctx.last_started = started
        if self.server.monitors:
            self.server.hooks.feed_monitors(ctx, command, spec, args)
        if alone:
            self.alone_running = True
        if self.server.debug:
            log.debug("client %d: %s, %d arguments", ctx.client_id, command, len(args) - 1)
        if ctx.receipts_on and command != "QKV.RECEIPT":
            ctx.last_receipts = ctx.session.receipts = []  # this command's receipts
        try:
            name = args[0]
            if isinstance(name, Oversized):
                raise ProtocolError("command name too large")
            if spec is None:
                raise UnknownCommandError(name.decode("utf-8", "replace"), args[1:])
            if ctx.multi_refused and command not in TRANSACTION_ENDS:
                raise UnsupportedError(REFUSED_IN_MULTI)
            n = len(args)
            if (spec.arity > 0 and n != spec.arity) or (spec.arity < 0 and n < -spec.arity):
                raise ArityError(command)
            if type(args) is OversizedArgs:
                size = max(a.length for a in args if isinstance(a, Oversized))
                raise LimitError(f"argument too large: {size} bytes, limit is "
                                 f"{self.server.max_arg} bytes")
            if spec.now is None or not spec.now(ctx, args, started.answered):
                started.task = asyncio.ensure_future(
                    self._run_async(started, command, spec, args))
        except ProtocolError as exc:
            started.answered(resp.error(f"ERR Protocol error: {exc}"))
        except Exception as exc:
            if started.reply is None:  # raised before the command was answered: answer it
                started.answered(self._error(command, exc))
            else:
                log.error("command %s failed after answering", command, exc_info=exc)

    async def _run_async(self, started: Started, command: str, spec, args: list) -> None:
        try:
            reply = await spec.handler(self.ctx, args)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reply = self._error(command, exc)
        started.answered(reply)

    @staticmethod
    def _error(command: str, exc: Exception) -> bytes:
        if not isinstance(exc, QuorumKVError):  # a bug: answer it, keep the connection
            log.error("command %s failed", command, exc_info=exc)
        return error_reply(exc)

    def _answered(self, started: Started, reply: bytes) -> None:
        """A started command's reply: may come from inside ``_start`` or later
        (replica answers, deadline). Only the first counts: a handler that raised
        after handing its callback on is answered with the error at once, and the
        callback's later answer must not release keys a later command holds."""
        if started.reply is not None:
            return
        now = time.perf_counter()
        elapsed = now - started.started
        started.stats.record("error" if reply[:1] == b"-" else "ok", elapsed)
        started.reply = reply
        started.elapsed = elapsed
        keys = started.keys
        if keys is not None:
            busy = self.busy_keys
            for key in (keys if type(keys) is list else (keys,)):
                share, count = busy[key]
                if count > 1:
                    busy[key] = (share, count - 1)
                else:
                    del busy[key]
        if started.alone:
            self.alone_running = False
        in_flight = self.in_flight
        out = self.out
        server = self.server
        ctx = self.ctx
        released = 0
        while in_flight and in_flight[0].reply is not None:
            done = in_flight.popleft()
            released += 1
            reply = done.reply
            if done.elapsed >= server.slow_s:  # from its arrival to its own answer
                server.hooks.log_slow(ctx, done.args, int(done.elapsed * 1e6))
            if ctx.reply_filter:  # CLIENT REPLY OFF or SKIP, in the connection's order
                reply = server.hooks.filter_reply(ctx, reply)
                if reply is None:
                    continue
            out.append(reply)
            self.out_bytes += len(reply)
        if released:
            server.commands += released
            if now >= server.next_sample:
                server.hooks.sample(now)
        if not self.draining:
            try:
                self._drain()
            except Exception:  # never into the replica callback that answered us
                log.exception("connection %d failed", self.ctx.client_id)
                self.close()
