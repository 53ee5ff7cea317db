"""Redis commands over the KV service.

``COMMANDS`` maps a command name to its handler and its Redis arity (positive:
exactly that many arguments including the name; negative: at least that many).
Handlers take the connection's :class:`CommandContext` and the arguments and
return the encoded reply. Replies and error texts follow Redis so that existing
clients and tools behave as they do against Redis.

The hottest commands (GET, plain SET) also have a callback form, ``now(ctx, args,
done)``: it starts the request and calls ``done(reply)`` once answered, with no
coroutine or task per request. It returns False to hand a command to the async
handler instead (SET with NX/XX/GET/KEEPTTL, which reads first).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Awaitable, Callable

from .. import __version__, accel
from ..core import resp
from ..core.consistency import Level
from ..core.glob import glob_match
from ..core.rangemap import HASH_SPACE
from ..core.scan import next_cursor, parse_cursor
from ..core.session import Session
from ..errors import ArityError, QuorumKVError, SyntaxError_, UnsupportedError

KEYSPACE = "default"
SCAN_MAX_PAGES_PER_CALL = 16
REDIS_COMPAT_VERSION = "7.2.0"
NOT_INTEGER = "value is not an integer or out of range"


@dataclass
class Spec:
    handler: Callable[["CommandContext", list], Awaitable[bytes]] | None  # None: `now` only
    arity: int
    now: Callable[["CommandContext", list, Callable[[bytes], None]], bool] | None = None


COMMANDS: dict[str, Spec] = {}


def command(name: str, arity: int):
    def register(fn):
        COMMANDS[name] = Spec(fn, arity)
        return fn
    return register


def callback_form(name: str, arity: int | None = None):
    """Register ``fn`` as the callback form of command ``name`` (see above); with
    ``arity``, as a command that has only this form (it never declines)."""
    def register(fn):
        if arity is not None:
            COMMANDS[name] = Spec(None, arity, fn)
        else:
            COMMANDS[name].now = fn
        return fn
    return register


def error_reply(exc: Exception) -> bytes:
    if isinstance(exc, QuorumKVError):
        return resp.error(exc.resp_message())
    return resp.error(f"ERR internal error: {type(exc).__name__}: {exc}")


INT64_MAX = 2**63 - 1


def to_int(raw: bytes) -> int:
    """A Redis integer argument: a signed 64-bit integer, like Redis's string2ll."""
    try:
        n = int(raw)
    except ValueError:
        raise SyntaxError_(NOT_INTEGER) from None
    if not -INT64_MAX - 1 <= n <= INT64_MAX:
        raise SyntaxError_(NOT_INTEGER)
    return n


def _checked_expiry(expiry_ms: int, command: str) -> int:
    """An absolute expiry that fits the stored version (Redis answers overflowing
    expire times the same way)."""
    if expiry_ms > INT64_MAX:
        raise SyntaxError_(f"invalid expire time in '{command}' command")
    return expiry_ms


class CommandContext:
    """Per-connection state: protocol version, default level, client name."""

    def __init__(self, node, kv, client_id: int) -> None:
        self.node = node
        self.kv = kv
        self.client_id = client_id
        self.resp3 = False
        self.level: Level = node.default_level
        self.session = Session()  # grows with every read and write (QKV.SESSION)
        self.receipts_on = False
        self.last_receipts: list | None = None
        self.name = b""
        self.quit = False
        self.peer = None

    def null(self) -> bytes:
        return resp.null(self.resp3)

    def now_ms(self) -> int:
        return self.node.clock_ms()


# ---- connection ---------------------------------------------------------------

@command("PING", -1)
async def ping(ctx, args):
    if len(args) > 2:
        raise ArityError("ping")
    return resp.PONG if len(args) == 1 else resp.bulk(args[1])


@command("ECHO", 2)
async def echo(ctx, args):
    return resp.bulk(args[1])


@command("QUIT", -1)
async def quit_(ctx, args):
    ctx.quit = True
    return resp.OK


@command("SELECT", 2)
async def select(ctx, args):
    if to_int(args[1]) != 0:
        raise SyntaxError_("DB index is out of range")
    return resp.OK


@command("HELLO", -1)
async def hello(ctx, args):
    i = 1
    if len(args) > 1:
        try:
            version = int(args[1])
        except ValueError:
            raise SyntaxError_("Protocol version is not an integer or out of range") from None
        if version not in (2, 3):
            return resp.error("NOPROTO unsupported protocol version")
        ctx.resp3 = version == 3
        i = 2
    while i < len(args):
        option = args[i].upper()
        if option == b"AUTH" and i + 2 < len(args):
            i += 3  # no authentication yet: accept any credentials
        elif option == b"SETNAME" and i + 1 < len(args):
            ctx.name = args[i + 1]
            i += 2
        else:
            raise SyntaxError_(f"syntax error in HELLO option '{option.decode()}'")
    pairs = [
        (b"server", b"redis"), (b"version", REDIS_COMPAT_VERSION.encode()),
        (b"proto", 3 if ctx.resp3 else 2), (b"id", ctx.client_id),
        (b"mode", b"cluster-proxy"), (b"role", b"master"), (b"modules", None),
    ]
    encoded = []
    for key, value in pairs:
        if isinstance(value, int):
            v = resp.integer(value)
        elif value is None:
            v = resp.array([])
        else:
            v = resp.bulk(value)
        encoded.append((resp.bulk(key), v))
    return resp.mapping(encoded, ctx.resp3)


@command("CLIENT", -2)
async def client(ctx, args):
    sub = args[1].upper()
    if sub == b"SETNAME" and len(args) == 3:
        if b" " in args[2]:
            raise SyntaxError_("Client names cannot contain spaces, newlines or special "
                               "characters.")
        ctx.name = args[2]
        return resp.OK
    if sub == b"GETNAME" and len(args) == 2:
        return resp.bulk(ctx.name) if ctx.name else ctx.null()
    if sub == b"ID" and len(args) == 2:
        return resp.integer(ctx.client_id)
    if sub == b"SETINFO" and len(args) == 4:
        return resp.OK
    if sub == b"INFO" and len(args) == 2:
        return resp.bulk(f"id={ctx.client_id} addr={_addr(ctx.peer)} "
                         f"name={ctx.name.decode(errors='replace')} db=0 "
                         f"resp={3 if ctx.resp3 else 2}\n".encode())
    raise SyntaxError_(f"unknown subcommand or wrong number of arguments for "
                       f"'{args[1].decode(errors='replace')}'. Try CLIENT HELP.")


def _addr(peer) -> str:
    return f"{peer[0]}:{peer[1]}" if peer else "?"


@command("COMMAND", -1)
async def command_(ctx, args):
    if len(args) == 1:
        return resp.array([_command_info(name, spec) for name, spec in sorted(COMMANDS.items())])
    sub = args[1].upper()
    if sub == b"COUNT":
        return resp.integer(len(COMMANDS))
    if sub == b"INFO":
        names = [a.decode(errors="replace").upper() for a in args[2:]]
        return resp.array([_command_info(n, COMMANDS[n]) if n in COMMANDS else ctx.null()
                           for n in names])
    if sub == b"DOCS":
        return resp.mapping([], ctx.resp3)
    if sub == b"LIST":
        return resp.bulk_array([n.lower().encode() for n in sorted(COMMANDS)])
    raise SyntaxError_(f"unknown subcommand '{args[1].decode(errors='replace')}'. "
                       f"Try COMMAND HELP.")


# (first key, last key, step) as COMMAND reports them; -1 = up to the last argument
_MULTI_KEY = {"DEL": (1, -1, 1), "UNLINK": (1, -1, 1), "EXISTS": (1, -1, 1),
              "MGET": (1, -1, 1), "MSET": (1, -1, 2)}
_NO_KEY = {"PING", "ECHO", "QUIT", "SELECT", "HELLO", "CLIENT", "COMMAND", "CONFIG",
           "QKV.CONSISTENCY", "QKV.SESSION", "QKV.RECEIPT", "SCAN", "KEYS", "DBSIZE", "INFO"}


def _command_info(name: str, spec: Spec) -> bytes:
    first, last, step = _MULTI_KEY.get(name, (0, 0, 0) if name in _NO_KEY else (1, 1, 1))
    return resp.array([resp.bulk(name.lower().encode()), resp.integer(spec.arity),
                       resp.array([]), resp.integer(first), resp.integer(last),
                       resp.integer(step)])


@command("CONFIG", -2)
async def config(ctx, args):
    """``CONFIG GET <pattern>...``: the few Redis parameters tools ask for, read-only.
    Settings live in the node's config file."""
    if args[1].upper() != b"GET" or len(args) < 3:
        raise SyntaxError_("CONFIG supports only GET here; settings live in the node's "
                           "config file")
    node = ctx.node.config.node
    params = {
        b"save": b"",
        b"appendonly": b"yes",  # the RocksDB WAL is always on
        b"appendfsync": {"always": b"always", "batch": b"always",
                         "periodic": b"everysec"}[node.fsync],
        b"databases": b"1",
        b"maxclients": str(node.max_clients).encode(),
        b"proto-max-bulk-len": str(node.max_value_bytes).encode(),
    }
    pairs = [(k, v) for k, v in params.items()
             if any(glob_match(pattern.lower(), k) for pattern in args[2:])]
    return resp.mapping([(resp.bulk(k), resp.bulk(v)) for k, v in pairs], ctx.resp3)


@command("QKV.CONSISTENCY", -1)
async def qkv_consistency(ctx, args):
    """``QKV.CONSISTENCY`` shows, ``QKV.CONSISTENCY <level>`` sets this connection's
    default consistency level."""
    if len(args) == 1:
        return resp.simple(ctx.level.name)
    if len(args) != 2:
        raise ArityError("qkv.consistency")
    ctx.level = Level.parse(args[1])
    return resp.OK


@command("QKV.SESSION", -1)
async def qkv_session(ctx, args):
    """``QKV.SESSION`` returns this connection's session token; ``QKV.SESSION
    <token>`` presents one (from this or another connection or node; it only moves
    forward), and from then on reads here see what that session wrote or read
    (core.session)."""
    if len(args) == 1:
        return resp.bulk(ctx.session.encode().encode())
    if len(args) != 2:
        raise ArityError("qkv.session")
    ctx.session.present(args[1])
    return resp.OK


@command("QKV.RECEIPT", -1)
async def qkv_receipt(ctx, args):
    """``QKV.RECEIPT ON|OFF`` records consistency receipts for each following
    command (a debugging aid: which replicas answered, their versions, hints and
    read repairs); ``QKV.RECEIPT`` returns the previous command's as JSON."""
    if len(args) == 1:
        return resp.bulk(json.dumps(ctx.last_receipts or []).encode())
    if len(args) != 2 or args[1].upper() not in (b"ON", b"OFF"):
        raise SyntaxError_("QKV.RECEIPT takes ON or OFF, or nothing to read the last one")
    ctx.receipts_on = args[1].upper() == b"ON"
    ctx.session.receipts = [] if ctx.receipts_on else None
    ctx.last_receipts = None
    return resp.OK


# ---- strings ----------------------------------------------------------------------

@callback_form("GET", 2)
def get_now(ctx, args, done) -> bool:
    def answered(version, error) -> None:
        if error is not None:
            done(error_reply(error))
        else:
            done(ctx.null() if version is None else resp.bulk(version.value))

    ctx.kv.start_get_live(KEYSPACE, args[1], ctx.level, answered, ctx.session)
    return True


def _parse_expiry(ctx, option: bytes, raw: bytes, command: str) -> int:
    """An absolute expiry in ms from ``EX/PX/EXAT/PXAT <n>``."""
    n = to_int(raw)
    if n <= 0:
        raise SyntaxError_(f"invalid expire time in '{command}' command")
    now = ctx.now_ms()
    return _checked_expiry({b"EX": now + n * 1000, b"PX": now + n, b"EXAT": n * 1000,
                            b"PXAT": n}[option], command)


def _set_options(ctx, args) -> tuple[int, bool, bool, bool, bool]:
    """``(expiry_ms, nx, xx, keep_ttl, get)`` from SET's options."""
    expiry, nx, xx, keep_ttl, want_old = 0, False, False, False, False
    i = 3
    while i < len(args):
        option = args[i].upper()
        if option in (b"EX", b"PX", b"EXAT", b"PXAT") and i + 1 < len(args) \
                and not expiry and not keep_ttl:
            expiry = _parse_expiry(ctx, option, args[i + 1], "set")
            i += 2
            continue
        if option == b"NX" and not xx:
            nx = True
        elif option == b"XX" and not nx:
            xx = True
        elif option == b"KEEPTTL" and not expiry:
            keep_ttl = True
        elif option == b"GET":
            want_old = True
        else:
            raise SyntaxError_("syntax error")
        i += 1
    return expiry, nx, xx, keep_ttl, want_old


@command("SET", -3)
async def set_(ctx, args):
    key, value = args[1], args[2]
    expiry, nx, xx, keep_ttl, want_old = _set_options(ctx, args)
    ctx.kv.check_key(key)
    ctx.kv.check_value(value)
    if not (nx or xx or keep_ttl or want_old):
        await ctx.kv.put(KEYSPACE, key, value, ctx.level, expiry, session=ctx.session)
        return resp.OK
    current = await ctx.kv.get_live(KEYSPACE, key, ctx.level, session=ctx.session)
    old = resp.bulk(current.value) if current is not None else ctx.null()
    if (nx and current is not None) or (xx and current is None):
        return old if want_old else ctx.null()
    if keep_ttl and current is not None:
        expiry = current.expiry_ms
    await ctx.kv.put(KEYSPACE, key, value, ctx.level, expiry, session=ctx.session)
    return old if want_old else resp.OK


@callback_form("SET")
def set_now(ctx, args, done) -> bool:
    expiry = 0
    if len(args) > 3:
        expiry, nx, xx, keep_ttl, want_old = _set_options(ctx, args)
        if nx or xx or keep_ttl or want_old:
            return False  # reads first: the async handler

    def written(error) -> None:
        done(resp.OK if error is None else error_reply(error))

    ctx.kv.start_put(KEYSPACE, args[1], args[2], ctx.level, expiry, written, ctx.session)
    return True


@command("SETEX", 4)
async def setex(ctx, args):
    expiry = _parse_expiry(ctx, b"EX", args[2], "setex")
    await ctx.kv.put(KEYSPACE, args[1], args[3], ctx.level, expiry, session=ctx.session)
    return resp.OK


@command("PSETEX", 4)
async def psetex(ctx, args):
    expiry = _parse_expiry(ctx, b"PX", args[2], "psetex")
    await ctx.kv.put(KEYSPACE, args[1], args[3], ctx.level, expiry, session=ctx.session)
    return resp.OK


@command("SETNX", 3)
async def setnx(ctx, args):
    ctx.kv.check_value(args[2])
    if await ctx.kv.get_live(KEYSPACE, args[1], ctx.level, session=ctx.session) is not None:
        return resp.integer(0)
    await ctx.kv.put(KEYSPACE, args[1], args[2], ctx.level, session=ctx.session)
    return resp.integer(1)


@command("GETDEL", 2)
async def getdel(ctx, args):
    current = await ctx.kv.get_live(KEYSPACE, args[1], ctx.level, session=ctx.session)
    if current is None:
        return ctx.null()
    await ctx.kv.delete(KEYSPACE, args[1], ctx.level, session=ctx.session)
    return resp.bulk(current.value)


@command("GETEX", -2)
async def getex(ctx, args):
    key, expiry, persist = args[1], None, False
    if len(args) == 3 and args[2].upper() == b"PERSIST":
        persist = True
    elif len(args) == 4 and args[2].upper() in (b"EX", b"PX", b"EXAT", b"PXAT"):
        expiry = _parse_expiry(ctx, args[2].upper(), args[3], "getex")
    elif len(args) != 2:
        raise SyntaxError_("syntax error")
    current = await ctx.kv.get_live(KEYSPACE, key, ctx.level, session=ctx.session)
    if current is None:
        return ctx.null()
    if persist and current.expiry_ms:
        await ctx.kv.put(KEYSPACE, key, current.value, ctx.level, 0, session=ctx.session)
    elif expiry is not None:
        await ctx.kv.rewrite_expiry(KEYSPACE, key, expiry, ctx.level, session=ctx.session)
    return resp.bulk(current.value)


@command("DEL", -2)
async def del_(ctx, args):
    return resp.integer(await ctx.kv.delete_existing(KEYSPACE, args[1:], ctx.level,
                                                     session=ctx.session))


COMMANDS["UNLINK"] = COMMANDS["DEL"]


@command("EXISTS", -2)
async def exists(ctx, args):
    found = await asyncio.gather(*(ctx.kv.get_live(KEYSPACE, k, ctx.level, session=ctx.session)
                                   for k in args[1:]))
    return resp.integer(sum(v is not None for v in found))


@command("MGET", -2)
async def mget(ctx, args):
    values = await asyncio.gather(*(ctx.kv.get(KEYSPACE, k, ctx.level, session=ctx.session)
                                    for k in args[1:]))
    return resp.bulk_array(values, ctx.resp3)


@command("MSET", -3)
async def mset(ctx, args):
    if len(args) % 2 != 1:
        raise ArityError("mset")
    pairs = list(zip(args[1::2], args[2::2]))
    for key, value in pairs:
        ctx.kv.check_key(key)
        ctx.kv.check_value(value)
    await asyncio.gather(*(ctx.kv.put(KEYSPACE, k, v, ctx.level, session=ctx.session)
                           for k, v in pairs))
    return resp.OK


@command("TYPE", 2)
async def type_(ctx, args):
    found = await ctx.kv.get_live(KEYSPACE, args[1], ctx.level, session=ctx.session)
    return resp.simple("string" if found is not None else "none")


# ---- expiry -----------------------------------------------------------------------

async def _expire(ctx, args, to_abs_ms, command: str) -> bytes:
    if len(args) not in (3, 4):
        raise ArityError(command)
    n = to_int(args[2])
    condition = args[3].upper() if len(args) == 4 else None
    if condition not in (None, b"NX", b"XX", b"GT", b"LT"):
        raise SyntaxError_(f"Unsupported option {args[3].decode(errors='replace')}")
    expiry = _checked_expiry(to_abs_ms(ctx.now_ms(), n), command)
    current = await ctx.kv.get_live(KEYSPACE, args[1], ctx.level, session=ctx.session)
    if current is None:
        return resp.integer(0)
    has = current.expiry_ms != 0
    if (condition == b"NX" and has) or (condition == b"XX" and not has) \
            or (condition == b"GT" and (not has or expiry <= current.expiry_ms)) \
            or (condition == b"LT" and has and expiry >= current.expiry_ms):
        return resp.integer(0)
    if expiry <= ctx.now_ms():
        await ctx.kv.delete(KEYSPACE, args[1], ctx.level, session=ctx.session)
    else:
        await ctx.kv.put(KEYSPACE, args[1], current.value, ctx.level, expiry, session=ctx.session)
    return resp.integer(1)


@command("EXPIRE", -3)
async def expire(ctx, args):
    return await _expire(ctx, args, lambda now, n: now + n * 1000, "expire")


@command("PEXPIRE", -3)
async def pexpire(ctx, args):
    return await _expire(ctx, args, lambda now, n: now + n, "pexpire")


@command("EXPIREAT", -3)
async def expireat(ctx, args):
    return await _expire(ctx, args, lambda now, n: n * 1000, "expireat")


@command("PEXPIREAT", -3)
async def pexpireat(ctx, args):
    return await _expire(ctx, args, lambda now, n: n, "pexpireat")


async def _ttl_ms(ctx, key: bytes) -> int:
    current = await ctx.kv.get_live(KEYSPACE, key, ctx.level, session=ctx.session)
    if current is None:
        return -2
    if not current.expiry_ms:
        return -1
    return max(0, current.expiry_ms - ctx.now_ms())


@command("TTL", 2)
async def ttl(ctx, args):
    ms = await _ttl_ms(ctx, args[1])
    return resp.integer(ms if ms < 0 else (ms + 500) // 1000)


@command("PTTL", 2)
async def pttl(ctx, args):
    return resp.integer(await _ttl_ms(ctx, args[1]))


@command("PERSIST", 2)
async def persist(ctx, args):
    current = await ctx.kv.get_live(KEYSPACE, args[1], ctx.level, session=ctx.session)
    if current is None or not current.expiry_ms:
        return resp.integer(0)
    await ctx.kv.put(KEYSPACE, args[1], current.value, ctx.level, 0, session=ctx.session)
    return resp.integer(1)


# ---- iteration --------------------------------------------------------------------

async def scan_keys(ctx, position: int, count: int, pattern: bytes | None):
    """Keys from hash ``position`` on, at least ``count`` unless the keyspace ends."""
    keys: list[bytes] = []
    pages = 0
    while position < HASH_SPACE and len(keys) < count and pages < SCAN_MAX_PAGES_PER_CALL:
        page = await ctx.kv.coordinator.scan_page(KEYSPACE, position, count, ctx.level)
        keys += page.keys if pattern is None else [k for k in page.keys
                                                    if glob_match(pattern, k)]
        position = page.next_position
        pages += 1
    return keys, position


@command("SCAN", -2)
async def scan(ctx, args):
    position = parse_cursor(args[1])
    count, pattern, i = 10, None, 2
    while i < len(args):
        option = args[i].upper()
        if i + 1 >= len(args):
            raise SyntaxError_("syntax error")
        if option == b"COUNT":
            count = to_int(args[i + 1])
            if count < 1:
                raise SyntaxError_("syntax error")
        elif option == b"MATCH":
            pattern = args[i + 1]
        elif option == b"TYPE":
            if args[i + 1].lower() != b"string":
                return resp.array([resp.bulk(b"0"), resp.array([])])
        else:
            raise SyntaxError_("syntax error")
        i += 2
    keys, position = await scan_keys(ctx, position, count, pattern)
    cursor = str(next_cursor(position)).encode()
    return resp.array([resp.bulk(cursor), resp.bulk_array(keys)])


async def all_keys(ctx, pattern: bytes | None):
    position = 0
    while position < HASH_SPACE:
        keys, position = await scan_keys(ctx, position, 1000, pattern)
        yield keys


@command("KEYS", 2)
async def keys_(ctx, args):
    """Every matching key: walks the whole keyspace (expensive, as in Redis)."""
    pattern = None if args[1] == b"*" else args[1]
    found: list[bytes] = []
    async for batch in all_keys(ctx, pattern):
        found += batch
    return resp.bulk_array(found)


@command("DBSIZE", 1)
async def dbsize(ctx, args):
    """Live keys in the keyspace: an exact count by a full scan (expensive)."""
    total = 0
    async for batch in all_keys(ctx, None):
        total += len(batch)
    return resp.integer(total)


# ---- info -------------------------------------------------------------------------

@command("INFO", -1)
async def info(ctx, args):
    sections = {a.decode(errors="replace").lower() for a in args[1:]} or {"default"}
    node = ctx.node
    me = node.me
    keys, size = node.storage.stats()
    wanted = lambda s: bool(sections & {s, "all", "everything", "default"})  # noqa: E731
    out = []
    if wanted("server"):
        out += ["# Server", f"redis_version:{REDIS_COMPAT_VERSION}",
                f"quorumkv_version:{__version__}", f"node_id:{node.node_id}",
                "redis_mode:cluster-proxy", f"tcp_port:{me.resp_port}",
                f"uptime_in_seconds:{int(__import__('time').time() - node.started_at)}",
                f"compiled_modules:{len(accel.status()['compiled'])}/{len(accel.MODULES)}", ""]
    if wanted("clients"):
        out += ["# Clients", f"connected_clients:{int(node.metrics.clients._value.get())}", ""]
    if wanted("replication") or wanted("cluster"):
        cfg = node.config.cluster
        out += ["# Cluster", "role:master", f"cluster_nodes:{len(cfg.nodes)}",
                f"replication_factor:{node.ranges.keyspaces[KEYSPACE].replication_factor}",
                f"ranges:{len(node.ranges.all_ranges())}",
                f"range_map_epoch:{node.ranges.epoch}",
                f"default_consistency:{node.default_level.name}",
                f"connection_consistency:{ctx.level.name}", ""]
    if wanted("keyspace"):
        out += ["# Keyspace", f"db0:keys={keys},expires=0,avg_ttl=0", ""]
    return resp.verbatim("\r\n".join(out), ctx.resp3)


# ---- read-modify-write: strong keyspaces only ---------------------------------------

async def _needs_strong(ctx, args):
    name = args[0].decode(errors="replace").upper()
    raise UnsupportedError(
        f"{name} needs an atomic read-modify-write, which eventual keyspaces cannot give; "
        f"it will be supported on strong (Raft) keyspaces")


@command("GETSET", 3)
async def getset(ctx, args):
    """Deprecated in Redis in favour of SET ... GET, and the same here."""
    return await set_(ctx, [b"SET", args[1], args[2], b"GET"])


for _name, _arity in (("INCR", 2), ("DECR", 2), ("INCRBY", 3), ("DECRBY", 3),
                      ("INCRBYFLOAT", 3), ("APPEND", 3), ("SETRANGE", 4), ("MSETNX", -3)):
    COMMANDS[_name] = Spec(_needs_strong, _arity)
