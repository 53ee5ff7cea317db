"""A data-driven runner for scenario scripts over the pure eventual core.

A scenario file is a list of blocks: one command line, a ``----`` line, and the
output the command gives (up to a blank line). Lines starting with ``#`` between
blocks are comments. The runner feeds each command to a ``Harness``, which drives
one request object of ``quorumkv.core.eventual`` at a time and prints every action
it returns, one per line. ``--rewrite`` writes the output of the current code
into the file instead of comparing (review the diff).

Commands (``key=value`` arguments; nodes are ``n1``...; this node is ``me``):

    cluster me=n1 replicas=n1,n2,n3 [skew=500] [timeout=1000] [hints_count=true]
            [generation=1]             this node's descriptor of the one range (id 1)
    session [token=<wall ms>] [acks=N] [enforced=true] [receipts=true]
    truncation at=<wall ms>           a truncation held here (hides older data)
    write key=k value=v at=<wall ms> [level=QUORUM] [down=n3,...]
    delete key=k at=<wall ms> ...     the same with a tombstone
    truncate at=<wall ms> [level=ALL] [down=...]
    read key=k [level=QUORUM] [now=<wall ms>] [down=...] [disconnected=...] [queued=...]
    scan start=a [end=z] [limit=10] [level=QUORUM] [partitioner=range|hash] [now=...]
    ack n2 | refuse n2 | unreachable n2 | local-failed
    answer n2 <version>|none [now=...]  a GetReply (the purpose is what was asked of n2)
    local <version>|none               this node's stored version (a LocalRead)
    page n2 <key:version>,... [truncated=true] [now=...]   a ScanReply
    hint-kept n3 [kept=false] | hint-stored n3 [ok=false]
    redirect n2 generation=2 [replicas=n1,n2,n3] [range=1] [code=stale|not-found]
                                       a typed redirect carrying that descriptor
    not-leader n2 [leader=n3]          a NOT_LEADER typed error
    ranges                             this node's range cache
    slow                               speculative_retry_ms passed
    timeout [late=n2,...]              the deadline passed (late: default, what is
                                       still outstanding)
    show                               the session and the HLC

A version is ``value@wall_ms`` (``~@wall_ms``: a tombstone), optionally
``/coordinator`` (default n1). Times are wall-clock milliseconds; the runner
packs them into HLC timestamps. A message routed by another range or generation
than the request started with shows it: ``(range 1 gen 2)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgpack

from quorumkv.core import messages as m
from quorumkv.core.consistency import Level
from quorumkv.core.eventual import actions as a
from quorumkv.core.eventual.context import Context
from quorumkv.core.eventual.read import Read
from quorumkv.core.eventual.scan import SpanScan
from quorumkv.core.eventual.write import Truncate, Write
from quorumkv.core.hlc import HLC, pack, wall_ms_of
from quorumkv.core.placement import Keyspace, RangeCache, RangeDescriptor
from quorumkv.core.session import Session
from quorumkv.core.version import Version

from .. import datadriven
from ..datadriven import SEPARATOR, parse, render  # noqa: F401 (the runners' format)



def run_file(path: Path) -> tuple[str, str]:
    """The file's text and what it would be with the current code's output."""
    return datadriven.run_file(path, Harness())


# ---- values in scripts --------------------------------------------------------------

def version_of(text: str) -> Version | None:
    if text == "none":
        return None
    value, _, rest = text.partition("@")
    wall, _, coordinator = rest.partition("/")
    ts = pack(int(wall), 0)
    if value == "~":
        return Version(ts, coordinator or "n1", True)
    return Version(ts, coordinator or "n1", False, 0, value.encode())


def show_version(v) -> str:
    if v is None:
        return "none"
    text = f"{'~' if v.tombstone else v.value.decode()}@{wall_ms_of(v.ts)}"
    logical = v.ts & 0xFFFF
    return text + (f"+{logical}" if logical else "") + ("" if v.node_id == "n1"
                                                      else f"/{v.node_id}")


def show_key(key: bytes) -> str:
    return repr(key)[2:-1]


def show_address(msg, routed) -> str:
    """`` (range r gen g)`` if ``msg`` is routed otherwise than ``routed``."""
    address = (msg.range_id, msg.generation)
    return "" if address == routed else f" (range {address[0]} gen {address[1]})"


def show_message(msg, routed=None) -> str:
    kind = type(msg)
    if kind is m.Put:
        return (f"put {show_key(msg.key)}={show_version(msg.version)}"
                + show_address(msg, routed))
    if kind is m.Get:
        return (f"get {show_key(msg.key)}" + (" digest" if msg.digest else "")
                + show_address(msg, routed))
    if kind is m.Scan:
        return (f"scan [{show_key(msg.start)}, {show_key(msg.end)}) limit {msg.limit}"
                + show_address(msg, routed))
    if kind is m.Truncate:
        return f"truncate {msg.keyspace}@{wall_ms_of(msg.ts)}" + (" sync" if msg.sync else "")
    return repr(msg)


def show_descriptor(d) -> str:
    return f"range {d.range_id} generation {d.generation} replicas {','.join(d.replicas)}"


def show_action(action, request=None, routed=None) -> str:
    kind = type(action)
    purpose = a.PURPOSES[action.purpose] if hasattr(action, "purpose") else None
    if kind is a.Send:
        return f"send {action.node} {show_message(action.message, routed)} ({purpose})"
    if kind is a.RefreshDescriptor:
        return f"refresh-descriptor {show_descriptor(action.descriptor)}"
    if kind is a.LaggingReplica:
        return f"lagging-replica {action.node} {show_descriptor(action.descriptor)}"
    if kind is a.LocalWrite:
        return f"local-write {show_version(action.version)} ({purpose})"
    if kind is a.LocalRead:
        return "local-read"
    if kind is a.LocalScan:
        return f"local-{show_message(action.message, routed)}"
    if kind is a.LocalTruncate:
        return f"local-truncate @{wall_ms_of(action.ts)}" + (" sync" if action.sync else "")
    if kind is a.StoreHint:
        return f"store-hint {action.node}"
    if kind is a.OweTruncation:
        return f"owe-truncation {action.node}"
    if kind is a.Repair:
        return f"repair {','.join(action.nodes)} {show_message(action.message, routed)}"
    if kind is a.TellTruncation:
        return f"tell-truncation {action.node} @{wall_ms_of(action.ts)}"
    if kind is a.SkewedAnswer:
        return (f"skewed-answer {action.node} {show_version(action.version)} "
                f"{action.ahead_ms} ms ahead")
    if kind is a.Receipt:
        return "receipt " + json.dumps(action.receipt, sort_keys=True)
    if kind is a.Speculate:
        return "speculate-after-retry"
    if kind is a.Reply:
        if action.error is not None:
            return f"reply error {type(action.error).__name__}: {action.error}"
        result = action.result
        if result is None:
            return "reply ok" if isinstance(request, Write) else "reply none"
        if isinstance(result, Version):
            return f"reply {show_version(result)}"
        items = ", ".join(f"{show_key(k)}={show_version(v)}" for k, v in result.items)
        resume = "end" if result.resume is None else show_key(result.resume)
        return f"reply page [{items}] resume {resume}"
    return repr(action)


def args_of(words: list[str]) -> tuple[list[str], dict[str, str]]:
    positional, named = [], {}
    for word in words:
        if "=" in word:
            name, _, value = word.partition("=")
            named[name] = value
        else:
            positional.append(word)
    return positional, named


def nodes_of(text: str | None) -> set[str]:
    return set(text.split(",")) if text else set()


def truthy(text: str | None, default: bool = False) -> bool:
    return default if text is None else text.lower() in ("true", "yes", "1")


# ---- the harness ----------------------------------------------------------------------

class Harness:
    def __init__(self) -> None:
        self.me = "n1"
        self.replicas = ("n1", "n2", "n3")
        self.hlc = HLC()
        self.ctx = Context("n1", self.hlc, 1000, 500)
        self.hints_count = False
        self.session = None
        self.truncation = None
        self.request = None
        self.asked: dict[str, int] = {}  # node -> purpose of the last thing asked of it
        self.outstanding: set[str] = set()  # peers asked and not answered yet
        self.now_ms = 0
        self.cache = self._cache(1)
        self.routed = (1, 1)  # the range and generation the request started with

    def _cache(self, generation: int) -> RangeCache:
        """One range keyspace ``default`` of one range (id 1) over the replicas."""
        cache = RangeCache()
        cache.add_keyspace(Keyspace("default", 1, partitioner="range"), [
            RangeDescriptor.of(1, "default", b"", b"", self.replicas, generation)])
        return cache

    def _range(self) -> RangeDescriptor:
        return self.cache.by_id(1)

    def run(self, command: str) -> list[str]:
        name, *words = command.split()
        positional, named = args_of(words)
        handler = getattr(self, "do_" + name.replace("-", "_"), None)
        if handler is None:
            return [f"error: unknown command {name!r}"]
        try:
            return handler(positional, named)
        except Exception as exc:  # shown, so a script can expect it
            return [f"error: {type(exc).__name__}: {exc}"]

    def _emit(self, actions) -> list[str]:
        lines = []
        for action in actions or ():
            if type(action) is a.Send:
                self.asked[action.node] = action.purpose
                self.outstanding.add(action.node)
            elif type(action) is a.Repair:
                for node in action.nodes:
                    self.asked[node] = a.REPAIR
                    if node != self.me:
                        self.outstanding.add(node)
            elif type(action) is a.LocalWrite:
                self.asked[self.me] = action.purpose
            elif type(action) is a.LocalScan:
                self.asked[self.me] = a.SCAN
            elif type(action) is a.LocalTruncate:
                self.asked[self.me] = a.WRITE
            elif type(action) is a.Receipt and self.session is not None:
                self.session.receipts.append(action.receipt)
            elif type(action) is a.RefreshDescriptor:  # as the driver does
                self.cache.refresh((action.descriptor,))
            lines.append(show_action(action, self.request, self.routed))
        return lines

    def _now(self, named) -> int:
        if "now" in named:
            self.now_ms = int(named["now"])
        return self.now_ms

    def _start(self, request, actions) -> list[str]:
        self.request = request
        rng = self._range()
        self.routed = (rng.range_id, rng.generation)
        self.asked = {}
        self.outstanding = set()
        return self._emit(actions)

    # ---- setup --------------------------------------------------------------------

    def do_cluster(self, _, named) -> list[str]:
        self.me = named.get("me", "n1")
        self.replicas = tuple(named.get("replicas", "n1,n2,n3").split(","))
        self.ctx = Context(self.me, self.hlc, int(named.get("timeout", 1000)),
                           int(named.get("skew", 500)))
        self.hints_count = truthy(named.get("hints_count"))
        self.cache = self._cache(int(named.get("generation", 1)))
        return []

    def do_session(self, _, named) -> list[str]:
        token = pack(int(named["token"]), 0) if "token" in named else 0
        self.session = Session(token, int(named["acks"]) if "acks" in named else None,
                               truthy(named.get("enforced")))
        if truthy(named.get("receipts")):
            self.session.receipts = []
        return []

    def do_truncation(self, _, named) -> list[str]:
        self.truncation = pack(int(named["at"]), 0)
        return []

    def do_show(self, _, named) -> list[str]:
        lines = [f"hlc {wall_ms_of(self.hlc.last)}+{self.hlc.last & 0xFFFF}"]
        s = self.session
        if s is not None:
            lines.append(f"session token {wall_ms_of(s.token)} acks {s.acks}"
                         + (" enforced" if s.enforced else ""))
        return lines

    # ---- requests ---------------------------------------------------------------------

    def do_write(self, _, named, tombstone: bool = False) -> list[str]:
        key = named["key"].encode()
        at = named["at"]
        version = version_of(("~" if tombstone else named["value"]) + "@" + at + "/" + self.me)
        level = Level.parse(named.get("level", "QUORUM"))
        rng = self._range()
        write = Write(self.ctx, level, rng.replicas, self.hints_count,
                      m.Put("default", key, version, rng.range_id, rng.generation), key, key,
                      version, self.session)
        down = nodes_of(named.get("down"))
        return self._start(write, write.start(down.__contains__))

    def do_delete(self, positional, named) -> list[str]:
        return self.do_write(positional, named, tombstone=True)

    def do_truncate(self, _, named) -> list[str]:
        level = Level.parse(named.get("level", "ALL"))
        truncate = Truncate(self.ctx, level, self.replicas, self.hints_count, "default",
                            pack(int(named["at"]), 0), truthy(named.get("sync")))
        down = nodes_of(named.get("down"))
        return self._start(truncate, truncate.start(down.__contains__))

    def do_read(self, _, named) -> list[str]:
        level = Level.parse(named.get("level", "QUORUM"))
        read = Read(self.ctx, level, self._range(), "default", 1, named["key"].encode(),
                    self.session, self.truncation)
        down = nodes_of(named.get("down"))
        disconnected = nodes_of(named.get("disconnected"))
        queued = nodes_of(named.get("queued"))
        return self._start(read, read.start(self._now(named),
                                            lambda n: n not in disconnected,
                                            down.__contains__, queued.__contains__))

    def do_scan(self, _, named) -> list[str]:
        ks = Keyspace("default", 1, partitioner=named.get("partitioner", "range"))
        scan = SpanScan(self.ctx, Level.parse(named.get("level", "QUORUM")), ks,
                        self._range(), named["start"].encode(), named.get("end", "").encode(),
                        named.get("range_end", "").encode(), int(named.get("limit", 10)),
                        self.truncation)
        self._now(named)
        return self._start(scan, scan.start())

    # ---- events ---------------------------------------------------------------------

    def _purpose(self, node: str) -> int:
        if node not in self.asked:
            raise ValueError(f"nothing was asked of {node}")
        self.outstanding.discard(node)
        return self.asked[node]

    def do_ack(self, positional, named) -> list[str]:
        node = positional[0]
        return self._emit(self.request.on_reply(node, self._purpose(node), m.PUT_ACK,
                                                self._now(named)))

    def do_refuse(self, positional, named) -> list[str]:
        node = positional[0]
        reply = m.ErrorReply(m.ErrorCode.CLOCK_SKEW, named.get("reason", "refused"))
        return self._emit(self.request.on_reply(node, self._purpose(node), reply,
                                                self._now(named)))

    def do_unreachable(self, positional, _) -> list[str]:
        node = positional[0]
        return self._emit(self.request.on_failure(node, self._purpose(node), True))

    def do_local_failed(self, _, __) -> list[str]:
        return self._emit(self.request.on_failure(self.me, self._purpose(self.me), False))

    def do_answer(self, positional, named) -> list[str]:
        node, version = positional
        reply = m.GetReply(version_of(version))
        return self._emit(self.request.on_reply(node, self._purpose(node), reply,
                                                self._now(named)))

    def do_local(self, positional, _) -> list[str]:
        return self._emit(self.request.on_local(version_of(positional[0])))

    def do_page(self, positional, named) -> list[str]:
        node = positional[0]
        items = []
        for item in (positional[1].split(",") if len(positional) > 1 else ()):
            key, _, version = item.partition(":")
            items.append((key.encode(), version_of(version)))
        last = items[-1][0] if items else b""
        reply = m.ScanReply(tuple(items), truthy(named.get("truncated")), last)
        return self._emit(self.request.on_reply(node, self._purpose(node), reply,
                                                self._now(named)))

    def _typed_error(self, node: str, reply: m.ErrorReply) -> list[str]:
        """``reply`` from ``node`` through the wire codec, as the driver hands it."""
        _, reply = m.decode_body(msgpack.unpackb(m.encode(-1, reply), raw=False))
        return self._emit(self.request.on_redirect(node, self._purpose(node), reply.error(),
                                                   self.cache.by_id))

    def do_redirect(self, positional, named) -> list[str]:
        node = positional[0]
        replicas = named.get("replicas", ",".join(self.replicas)).split(",")
        theirs = RangeDescriptor.of(int(named.get("range", 1)), "default", b"", b"",
                                    replicas, int(named["generation"]))
        code = (m.ErrorCode.RANGE_NOT_FOUND if named.get("code") == "not-found"
                else m.ErrorCode.STALE_GENERATION)
        return self._typed_error(node, m.ErrorReply(code, "redirect", (theirs.to_plain(),)))

    def do_not_leader(self, positional, named) -> list[str]:
        leader = (named["leader"],) if "leader" in named else ()
        return self._typed_error(positional[0],
                                 m.ErrorReply(m.ErrorCode.NOT_LEADER, "not leader", leader))

    def do_ranges(self, _, __) -> list[str]:
        return [show_descriptor(r) for r in self.cache.all_ranges()]

    def do_hint_kept(self, positional, named) -> list[str]:
        return self._emit(self.request.on_hint_kept(positional[0],
                                                    truthy(named.get("kept"), True)))

    def do_hint_stored(self, positional, named) -> list[str]:
        return self._emit(self.request.on_hint_stored(positional[0],
                                                      truthy(named.get("ok"), True)))

    def do_slow(self, _, __) -> list[str]:
        return self._emit(self.request.on_slow())

    def do_timeout(self, positional, named) -> list[str]:
        late = sorted(nodes_of(named["late"]) if "late" in named else self.outstanding)
        self.outstanding = set()
        return self._emit(self.request.on_timeout(late))
