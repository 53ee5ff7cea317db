"""CLIENT: the connections of this node, as Redis 7.2 shows and controls them.

Every connection's facts come from admin.ServerHooks (opened, started,
answered). The fields of CLIENT LIST that describe Redis's own buffers are the
nearest true figure: ``qbuf`` is the bytes read and not yet parsed, ``omem`` the
bytes written and not yet sent; those without an equivalent (``qbuf-free``,
``rbs``, ``rbp``, ``obl``, ``oll``, ``multi-mem``) are 0.
"""

from __future__ import annotations

import time

from ...core import resp
from ...errors import SyntaxError_
from .admin import addr, arg_size, fd_of
from .subcommands import container, subcommand_of

CLIENT = container("CLIENT")
NAME_ERROR = "Client names cannot contain spaces, newlines or special characters."
TYPES = (b"normal", b"master", b"replica", b"slave", b"pubsub")


def valid_name(name: bytes) -> bool:
    """As Redis's validateClientName: every byte printable and not a space."""
    return all(33 <= b <= 126 for b in name)


def set_name(ctx, name: bytes) -> None:
    if not valid_name(name):
        raise SyntaxError_(NAME_ERROR)
    ctx.name = name


@CLIENT.sub("SETNAME", 3, "noscript loading stale", (
        "SETNAME <name>", "    Assign the name <name> to the current connection."))
async def client_setname(ctx, args):
    set_name(ctx, args[2])
    return resp.OK


@CLIENT.sub("GETNAME", 2, "noscript loading stale", (
        "GETNAME", "    Return the name of the current connection."))
async def client_getname(ctx, args):
    return resp.bulk(ctx.name) if ctx.name else ctx.null()


@CLIENT.sub("ID", 2, "noscript loading stale", (
        "ID", "    Return the ID of the current connection."))
async def client_id(ctx, args):
    return resp.integer(ctx.client_id)


@CLIENT.sub("SETINFO", 4, "noscript loading stale", (
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are:",
        "    * LIB-NAME: the client lib name.",
        "    * LIB-VER: the client lib version."))
async def client_setinfo(ctx, args):
    attr = args[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        raise SyntaxError_(f"Unrecognized option '{args[2].decode('utf-8', 'replace')}'")
    if not valid_name(args[3]):
        raise SyntaxError_(f"{args[2].decode('utf-8', 'replace')} cannot contain spaces, "
                           f"newlines or special characters.")
    if attr == b"lib-name":
        ctx.lib_name = args[3]
    else:
        ctx.lib_ver = args[3]
    return resp.OK


@CLIENT.sub("INFO", 2, "noscript loading stale", (
        "INFO", "    Return information about the current client connection."))
async def client_info(ctx, args):
    return _text(describe(ctx, time.perf_counter()) + "\n", ctx)


@CLIENT.sub("LIST", -2, "admin noscript loading stale", (
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "    * ID <client-id> [<client-id> ...]",
        "      Return clients of specified IDs only."))
async def client_list(ctx, args):
    ids = None
    if len(args) == 4 and args[2].upper() == b"TYPE":
        kind = args[3].lower()
        if kind not in TYPES:
            raise SyntaxError_(f"Unknown client type '{args[3].decode('utf-8', 'replace')}'")
        if kind != b"normal":
            return _text("", ctx)  # no replica or pub/sub connections exist
    elif len(args) > 3 and args[2].upper() == b"ID":
        ids = {_client_id(a, "Invalid client ID") for a in args[3:]}
    elif len(args) != 2:
        raise SyntaxError_("syntax error")
    now = time.perf_counter()
    contexts = sorted(ctx.hooks.contexts.items())
    return _text("".join(describe(c, now) + "\n" for i, c in contexts
                         if ids is None or i in ids), ctx)


def _text(text: str, ctx) -> bytes:
    return resp.verbatim(text, ctx.resp3)


def _client_id(raw: bytes, message: str) -> int:
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n <= 0:
        raise SyntaxError_(message)
    return n


def last_command(c) -> str:
    """CLIENT LIST's ``cmd``: the latest command, ``config|get`` for a subcommand."""
    last = c.last_started
    if last is None or not last.args or not isinstance(last.args[0], bytes):
        return "NULL"
    name = last.args[0].decode("utf-8", "replace").upper()
    return (subcommand_of(name, last.args)[0] or name).lower()


def describe(c, now: float) -> str:
    """One line of CLIENT LIST, fields in Redis 7.2's order."""
    conn = c.conn
    transport = conn.transport if conn else None
    qbuf = _unparsed(conn)
    omem = transport.get_write_buffer_size() if transport else 0
    flags = ("O" if c.monitor else "") + ("e" if c.no_evict else "")
    events = "r" + ("w" if omem else "")
    last = c.last_started
    arg_bytes = 0 if last is None or last.reply is not None else sum(map(arg_size, last.args))
    idle = now - (c.created_s if last is None else last.started)
    fields = [
        ("id", c.client_id), ("addr", addr(c.peer)), ("laddr", addr(c.laddr)),
        ("fd", fd_of(transport)), ("name", c.name.decode("utf-8", "replace")),
        ("age", int(now - c.created_s)), ("idle", int(idle)),
        ("flags", flags or "N"), ("db", c.db()), ("sub", 0), ("psub", 0), ("ssub", 0),
        ("multi", -1), ("qbuf", qbuf), ("qbuf-free", 0), ("argv-mem", arg_bytes),
        ("multi-mem", 0), ("rbs", 0), ("rbp", 0), ("obl", 0), ("oll", 0), ("omem", omem),
        ("tot-mem", qbuf + omem + arg_bytes), ("events", events), ("cmd", last_command(c)),
        ("user", "default"), ("redir", -1), ("resp", 3 if c.resp3 else 2),
        ("lib-name", c.lib_name.decode("utf-8", "replace")),
        ("lib-ver", c.lib_ver.decode("utf-8", "replace")),
    ]
    return " ".join(f"{k}={v}" for k, v in fields)


def _unparsed(conn) -> int:
    parser = getattr(conn, "parser", None)
    buf = getattr(parser, "_buf", None)  # core.resp.RequestParser's input buffer
    return len(buf) - parser._pos if buf is not None else 0


@CLIENT.sub("KILL", -3, "admin noscript loading stale", (
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "    * ID <client-id>",
        "      Kill connections by client id."))
async def client_kill(ctx, args):
    if len(args) == 3:  # the old form: one address, OK or an error, may kill itself
        wanted = args[2].decode("utf-8", "replace")
        victims = [c for c in ctx.hooks.contexts.values() if addr(c.peer) == wanted]
        if not victims:
            raise SyntaxError_("No such client")
        _kill(ctx, victims)
        return resp.OK
    match = _kill_filter(args)
    skipme = match.pop("skipme", True)
    victims = [c for c in ctx.hooks.contexts.values()
               if all(test(c) for test in match.values()) and not (skipme and c is ctx)]
    _kill(ctx, victims)
    return resp.integer(len(victims))


def _kill_filter(args: list) -> dict:
    """The new form's filters: name -> test(ctx); "skipme" -> bool."""
    if len(args) % 2:
        raise SyntaxError_("syntax error")
    match: dict = {}
    for i in range(2, len(args), 2):
        option, value = args[i].upper(), args[i + 1]
        text = value.decode("utf-8", "replace")
        if option == b"ID":
            n = _client_id(value, "client-id should be greater than 0")
            match["id"] = lambda c, n=n: c.client_id == n
        elif option == b"ADDR":
            match["addr"] = lambda c, a=text: addr(c.peer) == a
        elif option == b"LADDR":
            match["laddr"] = lambda c, a=text: addr(c.laddr) == a
        elif option == b"TYPE":
            if value.lower() not in TYPES:
                raise SyntaxError_(f"Unknown client type '{text}'")
            match["type"] = lambda c, normal=value.lower() == b"normal": normal
        elif option == b"USER":
            if text != "default":  # the only user there is
                raise SyntaxError_(f"No such user '{text}'")
            match["user"] = lambda c: True
        elif option == b"SKIPME" and value.lower() in (b"yes", b"no"):
            match["skipme"] = value.lower() == b"yes"
        else:
            raise SyntaxError_("syntax error")
    return match


def _kill(ctx, victims: list) -> None:
    for c in victims:
        if c is ctx:
            ctx.quit = True  # after this reply, as Redis's CLIENT_CLOSE_AFTER_REPLY
        else:
            c.conn.close()


@CLIENT.sub("NO-EVICT", 3, "admin noscript loading stale", (
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction."))
async def client_no_evict(ctx, args):
    """Accepted and shown (flag ``e``); QuorumKV evicts no client either way."""
    mode = args[2].lower()
    if mode not in (b"on", b"off"):
        raise SyntaxError_("syntax error")
    ctx.no_evict = mode == b"on"
    return resp.OK


@CLIENT.sub("REPLY", 3, "noscript loading stale", (
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection."))
async def client_reply(ctx, args):
    """OFF: no replies until ON; SKIP: none for the next command. Neither answers
    itself, as in Redis (the connection loop asks ServerHooks.filter_reply)."""
    mode = args[2].lower()
    if mode == b"on":
        ctx.reply_off = ctx.reply_skip = ctx.reply_skip_next = ctx.reply_filter = False
        return resp.OK
    if mode == b"off":
        ctx.reply_off = ctx.reply_filter = True
        return b""
    if mode == b"skip":
        if not ctx.reply_off:
            ctx.reply_skip_next = ctx.reply_filter = True
        return b""
    raise SyntaxError_("syntax error")
