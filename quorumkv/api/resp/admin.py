"""What the RESP server tells the admin commands: SLOWLOG, MONITOR, CLIENT, INFO.

``ServerHooks`` is one per RESP server. The connection loop tells it when a
connection opens, is refused or closes, and, per command, does only what cannot
wait: it counts the command, remembers it as the connection's latest
(``ctx.last_started``: CLIENT LIST works out cmd, idle and argv-mem from it when
asked), feeds the monitors if there are any, and calls ``log_slow`` or
``filter_reply`` only when the command was slow or CLIENT REPLY is not ON. It keeps
the slow log, the monitors, and the counters INFO stats shows.
"""

from __future__ import annotations

import collections
import os
import time

from ...core import resp
from ...errors import SyntaxError_
from .registry import COMMANDS, command, to_int
from .subcommands import container, subcommand_of

SLOWLOG_MAX_ARGC = 32        # as Redis's SLOWLOG_ENTRY_MAX_ARGC
SLOWLOG_MAX_STRING = 128     # as Redis's SLOWLOG_ENTRY_MAX_STRING
MONITOR_MAX_BACKLOG_BYTES = 1024 * 1024  # a monitor this far behind is dropped
OPS_BUCKET_S = 0.1           # instantaneous_ops_per_sec: 100 ms buckets ...
OPS_WINDOW = 16              # ... averaged over the last 1.6 s, as Redis samples
REDACTED = b"(redacted)"


def _on_server(name: str) -> property:
    """A field the connection loop reads or bumps per command: it lives on the
    RespServer (a struct field of an extension type when compiled, cheap to reach
    from the loop); the hooks read and write it there."""
    return property(lambda self: getattr(self.server, name),
                    lambda self, value: setattr(self.server, name, value))


class ServerHooks:
    monitors = _on_server("monitors")
    slow_s = _on_server("slow_s")          # slowlog-log-slower-than, in seconds
    commands = _on_server("commands")
    next_sample = _on_server("next_sample")
    net_in = _on_server("net_in")
    net_out = _on_server("net_out")

    def __init__(self, server) -> None:
        self.server = server                  # the RespServer (max_clients)
        self.node = server.node
        self.contexts: dict[int, object] = {}  # client id -> CommandContext
        self.run_id = os.urandom(20).hex()
        # slow log (CONFIG SET slowlog-log-slower-than / slowlog-max-len)
        self.slowlog_max_len = 128
        self.slowlog: collections.deque = collections.deque()
        self.slowlog_next_id = 0
        # stats; CONFIG RESETSTAT moves the baselines instead of touching /metrics
        self.connections_received = 0
        self.rejected_connections = 0
        self.baseline: dict = {}
        self._ops = [0] * OPS_WINDOW      # commands per OPS_BUCKET_S, the last OPS_WINDOW
        self._ops_tick = 0
        self._ops_counted = 0             # self.commands when the current bucket began

    @property
    def slowlog_slower_than_us(self) -> int:
        return -1 if self.slow_s == float("inf") else round(self.slow_s * 1e6)

    @slowlog_slower_than_us.setter
    def slowlog_slower_than_us(self, us: int) -> None:
        self.slow_s = float("inf") if us < 0 else us / 1e6

    # ---- INFO stats ------------------------------------------------------------------

    COUNTERS = ("connections_received", "rejected_connections", "net_in", "net_out",
                "commands")

    def counter(self, name: str) -> int:
        """A counter as INFO shows it: since the start or the last CONFIG RESETSTAT."""
        return getattr(self, name) - self.baseline.get(name, 0)

    def command_stats(self) -> list[tuple[str, int, float, int]]:
        """``(command, calls, usec, failed_calls)`` per command since the reset."""
        out = []
        for name, entry in self.node.metrics.requests.items("resp"):
            calls, usec = sum(entry.outcomes.values()), entry.total_s * 1e6
            failed = entry.outcomes.get("error", 0)
            c0, u0, f0 = self.baseline.get(("cmd", name), (0, 0.0, 0))
            if calls > c0:
                out.append((name, calls - c0, usec - u0, failed - f0))
        return out

    def reset_stats(self) -> None:
        self.baseline = {name: getattr(self, name) for name in self.COUNTERS}
        for name, entry in self.node.metrics.requests.items("resp"):
            self.baseline[("cmd", name)] = (sum(entry.outcomes.values()),
                                            entry.total_s * 1e6, entry.outcomes.get("error", 0))

    # ---- connection events ------------------------------------------------------

    def opened(self, ctx, conn, transport) -> None:
        self.connections_received += 1
        ctx.hooks, ctx.conn = self, conn
        ctx.laddr = transport.get_extra_info("sockname")
        ctx.created_s = time.perf_counter()
        self.contexts[ctx.client_id] = ctx

    def rejected(self) -> None:
        self.connections_received += 1
        self.rejected_connections += 1

    def closed(self, ctx) -> None:
        self.contexts.pop(ctx.client_id, None)
        if ctx.monitor:
            ctx.monitor = False
            self.monitors.remove(ctx)

    # ---- command events (the slow paths) -------------------------------------------

    def feed_monitors(self, ctx, command: str, spec, args: list) -> None:
        """A command started while monitors are attached."""
        if spec is not None and type(args) is not resp.OversizedArgs:
            self._feed_monitors(ctx, command, spec, args)

    def filter_reply(self, ctx, reply: bytes):
        """Under CLIENT REPLY OFF or SKIP (``ctx.reply_filter``): the reply to send,
        or None. Called once per command, in the connection's order."""
        drop = ctx.reply_off or ctx.reply_skip
        ctx.reply_skip, ctx.reply_skip_next = ctx.reply_skip_next, False
        ctx.reply_filter = ctx.reply_off or ctx.reply_skip
        return None if drop else reply

    def sample(self, now: float) -> None:
        """The current ops bucket ended (the loop checks ``next_sample``)."""
        tick = int(now / OPS_BUCKET_S)
        if self._ops_tick:
            self._ops[self._ops_tick % OPS_WINDOW] += self.commands - self._ops_counted
        self._ops_counted = self.commands
        self._advance_ops(tick)
        self.next_sample = (tick + 1) * OPS_BUCKET_S

    def _advance_ops(self, tick: int) -> None:
        for t in range(max(self._ops_tick + 1, tick - OPS_WINDOW + 1), tick + 1):
            self._ops[t % OPS_WINDOW] = 0
        self._ops_tick = tick

    def ops_per_sec(self) -> int:
        """Commands answered per second over the window: the complete buckets and
        the part of the current one that has passed."""
        now = time.perf_counter()
        if now >= self.next_sample:
            self.sample(now)
        now_tick = self._ops_tick
        current = self.commands - self._ops_counted
        window_s = (OPS_WINDOW - 1) * OPS_BUCKET_S + (now - now_tick * OPS_BUCKET_S)
        return round((sum(self._ops) + current) / window_s)

    # ---- slow log -------------------------------------------------------------------

    def log_slow(self, ctx, args: list, micros: int) -> None:
        if self.slowlog_max_len <= 0:
            return
        name = args[0].decode("utf-8", "replace").upper() if isinstance(args[0], bytes) else ""
        spec = COMMANDS.get(name)
        if spec is not None and "skip_slowlog" in spec.flags:  # as Redis (EXEC)
            return
        self.slowlog.appendleft((self.slowlog_next_id, int(time.time()), micros,
                                 slowlog_args(args), addr(ctx.peer), ctx.name))
        self.slowlog_next_id += 1
        while len(self.slowlog) > self.slowlog_max_len:
            self.slowlog.pop()

    # ---- monitors ---------------------------------------------------------------------

    def _feed_monitors(self, ctx, command: str, spec, args: list) -> None:
        _, sub = subcommand_of(command, args)
        flags = sub.flags if sub else spec.flags
        if "admin" in flags:  # as Redis: admin commands are not shown
            return
        line = monitor_line(time.time(), addr(ctx.peer), redact(command, args), ctx.db())
        for mon in list(self.monitors):
            if mon is ctx:
                continue
            backlog = mon.conn.transport.get_write_buffer_size() + mon.conn.out_bytes
            if backlog > MONITOR_MAX_BACKLOG_BYTES:
                mon.conn.push(resp.error(f"ERR MONITOR client dropped: more than "
                                         f"{MONITOR_MAX_BACKLOG_BYTES} bytes not read"))
                self.closed(mon)
                mon.conn.close()  # after what it was sent: the transport flushes first
            else:
                mon.conn.push(line)


# ---- formats (pure) ----------------------------------------------------------------------

def arg_size(arg) -> int:
    """Bytes of an argument, also of one skipped as over the limit (core.resp.Oversized)."""
    return len(arg) if isinstance(arg, bytes) else arg.length


def addr(peer) -> str:
    return f"{peer[0]}:{peer[1]}" if peer else "?:0"


def redact(command: str, args: list) -> list:
    """The arguments as MONITOR and SLOWLOG may show them: no passwords."""
    if command == "AUTH":
        return [args[0]] + [REDACTED] * (len(args) - 1)
    if command == "HELLO":
        out = list(args)
        for i in range(2, len(out) - 2):
            if out[i].upper() == b"AUTH":
                out[i + 1] = out[i + 2] = REDACTED
        return out
    return args


def slowlog_args(args: list) -> list[bytes]:
    """At most 32 arguments of at most 128 bytes each, noted as Redis notes them."""
    args = [a if isinstance(a, bytes) else b"" for a in args]  # Oversized: not kept
    command = args[0].decode("utf-8", "replace").upper()
    args = redact(command, args)
    shown = args if len(args) <= SLOWLOG_MAX_ARGC else args[:SLOWLOG_MAX_ARGC - 1]
    out = [a if len(a) <= SLOWLOG_MAX_STRING
           else a[:SLOWLOG_MAX_STRING] + b"... (%d more bytes)" % (len(a) - SLOWLOG_MAX_STRING)
           for a in shown]
    if len(args) > SLOWLOG_MAX_ARGC:
        out.append(b"... (%d more arguments)" % (len(args) - SLOWLOG_MAX_ARGC + 1))
    return out


_REPR = {ord("\\"): b"\\\\", ord('"'): b'\\"', ord("\n"): b"\\n", ord("\r"): b"\\r",
         ord("\t"): b"\\t", 7: b"\\a", 8: b"\\b"}


def quote(arg: bytes) -> bytes:
    """``arg`` in double quotes, escaped as Redis's sdscatrepr."""
    out = bytearray(b'"')
    for byte in arg:
        esc = _REPR.get(byte)
        if esc is not None:
            out += esc
        elif 32 <= byte < 127:
            out.append(byte)
        else:
            out += b"\\x%02x" % byte
    return bytes(out + b'"')


def monitor_line(now_s: float, client: str, args: list, db: int = 0) -> bytes:
    """``+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`` as a status reply
    (``db``: the sending connection's, as ``CommandContext.db``)."""
    return (b"+%.6f [%d %s] " % (now_s, db, client.encode())
            + b" ".join(quote(a) for a in args) + b"\r\n")


# ---- SLOWLOG and MONITOR ------------------------------------------------------------------

SLOWLOG = container("SLOWLOG")


@SLOWLOG.sub("GET", -2, "admin loading stale", (
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name"))
async def slowlog_get(ctx, args):
    if len(args) > 3:
        raise SyntaxError_("unknown subcommand or wrong number of arguments for 'GET'. "
                           "Try SLOWLOG HELP.")
    count = 10
    if len(args) == 3:
        try:
            count = to_int(args[2])
        except SyntaxError_:
            count = -2
        if count < -1:
            raise SyntaxError_("count should be greater than or equal to -1")
    entries = list(ctx.hooks.slowlog)
    if count != -1:
        entries = entries[:count]
    return resp.array([
        resp.array([resp.integer(i), resp.integer(ts), resp.integer(us),
                    resp.bulk_array(argv), resp.bulk(client.encode()), resp.bulk(name)])
        for i, ts, us, argv, client, name in entries])


@SLOWLOG.sub("LEN", 2, "admin loading stale", ("LEN", "    Return the length of the slowlog."))
async def slowlog_len(ctx, args):
    return resp.integer(len(ctx.hooks.slowlog))


@SLOWLOG.sub("RESET", 2, "admin loading stale", ("RESET", "    Reset the slowlog."))
async def slowlog_reset(ctx, args):
    ctx.hooks.slowlog.clear()
    return resp.OK


@command("MONITOR", 1, "admin noscript loading stale")
async def monitor(ctx, args):
    """From now on this connection gets every other client's command as a status
    line, until it closes or falls more than MONITOR_MAX_BACKLOG_BYTES behind."""
    if not ctx.monitor:
        ctx.monitor = True
        ctx.hooks.monitors.append(ctx)
    return resp.OK


def fd_of(transport) -> int:
    """The socket's file descriptor (CLIENT LIST fd=), -1 if there is none."""
    sock = transport.get_extra_info("socket") if transport else None
    return sock.fileno() if sock is not None else -1
