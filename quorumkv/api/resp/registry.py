"""The command registry and what every command family shares.

``COMMANDS`` maps a command name to its handler and its Redis arity (positive:
exactly that many arguments including the name; negative: at least that many).
Handlers take the connection's :class:`CommandContext` and the arguments and
return the encoded reply. Replies and error texts follow Redis so that existing
clients and tools behave as they do against Redis. The families (``strings``,
``expiry``, ``iteration``, ``connection``, ``introspection``) register their
commands when the package is imported.

The hottest commands (GET, plain SET) also have a callback form, ``now(ctx, args,
done)``: it starts the request and calls ``done(reply)`` once answered, with no
coroutine or task per request. It returns False to hand a command to the async
handler instead (SET with NX/XX/GET/KEEPTTL, which reads first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable

from ...core import resp
from ...core.consistency import Level
from ...core.session import Session
from ...core.strings import is_canonical_int64
from ...errors import QuorumKVError, SyntaxError_


# how a command holds its keys among its connection's pipelined commands (Spec)
EXCLUSIVE, READ, BLIND_WRITE = 0, 1, 2
REDIS_COMPAT_VERSION = "7.2.0"
NOT_INTEGER = "value is not an integer or out of range"


@dataclass
class Spec:
    """A command: its handler(s), Redis arity, Redis flags (``COMMAND INFO`` shows
    them) and key positions, and how it runs among the pipelined commands of its
    connection.

    ``keys`` is ``(first, last, step)`` as Redis reports it (``last`` -1: up to
    the last argument; ``(0, 0, 0)``: no keys). A command with keys runs as soon
    as no earlier command of the connection on one of its keys is still running,
    so pipelined commands on different keys are coordinated concurrently and those
    on one key apply in order. Two exceptions, where overlapping changes nothing:
    reads of one key (the ``readonly`` flag) overlap each other, and so do *blind*
    writes of one key (``blind(args)``: a write that replaces the value without
    reading it, such as a plain SET), since last write wins by timestamps taken in
    the order the writes start. A command without keys runs ``alone`` (after every
    earlier command has answered, and before any later one starts: it reads or
    changes the connection's state or the whole keyspace) unless declared
    ``alone=False`` (PING, ECHO, TIME: nothing to order)."""

    handler: Callable[["CommandContext", list], Awaitable[bytes]] | None  # None: `now` only
    arity: int
    now: Callable[["CommandContext", list, Callable[[bytes], None]], bool] | None = None
    flags: tuple[str, ...] = ()
    keys: tuple[int, int, int] = (0, 0, 0)
    alone: bool = True
    blind: Callable[[list], bool] | None = None
    share: int = field(init=False, default=EXCLUSIVE)  # READ, or EXCLUSIVE for now

    def __post_init__(self) -> None:
        self.share = READ if "readonly" in self.flags else EXCLUSIVE

    def key_args(self, args: list) -> list:
        """The arguments of ``args`` that are keys (as ``COMMAND GETKEYS``)."""
        first, last, step = self.keys
        if not first or first >= len(args):
            return []
        end = len(args) if last < 0 else min(last + 1, len(args))
        return args[first:end:step]


COMMANDS: dict[str, Spec] = {}


def always(args: list) -> bool:
    """``Spec.blind`` of commands whose every form is a blind write (SETEX, MSET)."""
    return True

ONE_KEY = (1, 1, 1)
ALL_KEYS = (1, -1, 1)


def command(name: str, arity: int, flags: str = "", keys: tuple[int, int, int] = (0, 0, 0),
            alone: bool | None = None, blind: Callable[[list], bool] | None = None):
    """Register ``fn`` as command ``name``; ``flags`` are Redis's, space-separated."""
    def register(fn):
        COMMANDS[name] = Spec(fn, arity, None, tuple(flags.split()), keys,
                              not keys[0] if alone is None else alone, blind)
        return fn
    return register


def callback_form(name: str, arity: int | None = None, flags: str = "",
                  keys: tuple[int, int, int] = (0, 0, 0)):
    """Register ``fn`` as the callback form of command ``name`` (see above); with
    ``arity``, as a command that has only this form (it never declines)."""
    def register(fn):
        if arity is not None:
            COMMANDS[name] = Spec(None, arity, fn, tuple(flags.split()), keys, not keys[0])
        else:
            COMMANDS[name].now = fn
        return fn
    return register


def error_reply(exc: Exception) -> bytes:
    if isinstance(exc, QuorumKVError):
        return resp.error(exc.resp_message())
    return resp.error(f"ERR internal error: {type(exc).__name__}: {exc}")


INT64_MAX = 2**63 - 1
INT32_MIN, INT32_MAX = -2**31, 2**31 - 1


def to_int(raw: bytes) -> int:
    """A Redis integer argument: a signed 64-bit integer written as Redis's
    string2ll accepts it (no ``+``, spaces, leading zeros or ``-0``, which
    Python's ``int`` would take)."""
    if not is_canonical_int64(raw):
        raise SyntaxError_(NOT_INTEGER)
    return int(raw)


def to_db(raw: bytes) -> int:
    """A Redis database number (SELECT, COPY ... DB): an integer as ``to_int``
    reads it, in C's int range, with Redis's error outside it."""
    n = to_int(raw)
    if not INT32_MIN <= n <= INT32_MAX:
        raise SyntaxError_(f"value is out of range, value must between {INT32_MIN} and "
                           f"{INT32_MAX}")
    return n


class CommandContext:
    """Per-connection state: protocol version, keyspace, default level, client name.

    Every command runs on the connection's keyspace (``QKV.USE``, ``SELECT``);
    its level is the keyspace's default until ``QKV.CONSISTENCY`` sets one
    (``level_set``), which then stays whatever keyspace the connection uses."""

    def __init__(self, node, kv, client_id: int) -> None:
        self.node = node
        self.kv = kv
        self.client_id = client_id
        self.resp3 = False
        self.keyspace: str = kv.initial
        self.strong = kv.is_strong(kv.initial)  # its commands: api/resp/strong.py
        self.strong_txn = None      # a strong keyspace's MULTI (strong.Transaction)
        self.strong_watches: dict = {}  # WATCHed key -> its version (strong keyspaces)
        self.strong_sessions: list = []  # free [client id, seq] of its strong writes
        self.strong_redirect = False  # QKV.REDIRECT ON: MOVED instead of forwarding
        self.level: Level = kv.default_level(kv.initial)
        self.level_set = False     # QKV.CONSISTENCY <level>: kept across QKV.USE, SELECT
        self.session = Session()  # grows with every read and write (QKV.SESSION)
        self.receipts_on = False
        self.last_receipts: list | None = None
        self.name = b""
        self.quit = False
        self.multi_refused = False  # inside a refused MULTI (api/resp/transactions.py)
        self.peer = None
        # set by the server's hooks (admin.ServerHooks) when the connection opens:
        # what CLIENT, MONITOR and SLOWLOG need of this connection and its server
        self.hooks = None          # admin.ServerHooks of the RESP server
        self.conn = None           # the RespConnection (close, push, transport)
        self.laddr = None
        self.created_s = 0.0       # time.perf_counter() at connect
        self.last_started = None   # the latest command's server.Started (CLIENT LIST)
        self.reply_off = False     # CLIENT REPLY OFF
        self.reply_skip = False    # CLIENT REPLY SKIP: drop this command's reply
        self.reply_skip_next = False
        self.reply_filter = False  # any of the three: the server asks the hooks
        self.no_evict = False
        self.monitor = False
        self.lib_name = b""
        self.lib_ver = b""

    def null(self) -> bytes:
        return resp.null(self.resp3)

    def db(self) -> int:
        """The keyspace's db number as CLIENT LIST and MONITOR show it; -1 for a
        keyspace that declares none (QKV.USE reaches those, SELECT cannot)."""
        db = self.kv.db_of(self.keyspace)
        return -1 if db is None else db

    def use(self, keyspace: str) -> None:
        """Switch to ``keyspace`` (known to exist) and, unless the connection set
        its own level, to that keyspace's default level."""
        self.keyspace = keyspace
        self.strong = self.kv.is_strong(keyspace)
        self.strong_watches = {}  # watched in the keyspace left
        if not self.level_set:
            self.level = self.kv.default_level(keyspace)

    def now_ms(self) -> int:
        return self.node.clock_ms()
