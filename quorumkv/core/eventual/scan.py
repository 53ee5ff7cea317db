"""A coordinated scan of a span of placement keys within one range.

Every replica of the range is sent the same ``Scan`` (this node serves its own
page, ``LocalScan``), and a ``Quorum`` at the level counts the pages. Once it
decides, the pages are merged like a read (``core.scan.merge_span``): union, last
write wins per key, cut where the shortest truncated page ends. What a truncation
held here hides is left out, and the replica that sent it is told of the
truncation. The result is a ``SpanPage`` whose ``resume`` is where the next page
of the span asked for starts: inside the range after a cut, else the next range's
start while the span goes on past this range, else None.

A reverse scan (a range keyspace's, keys descending) is the mirror image: it
starts in the range that holds the keys just below ``end``, and ``resume`` is
where the next page ends: the cut, else this range's start while the span goes
on below it, else None.

Pages that arrive after the decision are not used (a scan does not repair).
A replica's typed redirect with a newer descriptor that still holds the span
(``on_redirect``, core/eventual/redirect.py) gets the Scan once more, routed by
it; otherwise it has failed.
"""

from __future__ import annotations

from ..messages import Scan, ScanReply
from ..quorum import Quorum
from ..scan import SpanPage, merge_span
from .actions import SCAN, LocalScan, Reply, Send, TellTruncation
from ..placement.addressing import within
from .receipts import failed
from .redirect import RETRY, judge


class SpanScan:
    __slots__ = ("ctx", "tracker", "keyspace", "message", "range_end", "end", "pages",
                 "truncation", "notices", "now_ms", "retried", "start_", "range_start",
                 "reverse")

    def __init__(self, ctx, level, keyspace, rng, start: bytes, end: bytes,
                 range_end: bytes, limit: int, truncation: int | None = None,
                 reverse: bool = False, range_start: bytes = b"") -> None:
        """``[start, end)`` is the span asked for (``end`` b"": unbounded), which
        starts in the range ``rng`` (the descriptor it is routed by) and which
        ends at ``range_end`` (b"": the last range). A ``reverse`` scan starts at
        ``end`` in the range that begins at ``range_start`` and holds the keys
        below it."""
        self.ctx = ctx
        self.tracker = Quorum(level, rng.replicas)
        self.keyspace = keyspace  # the core.placement.Keyspace
        if reverse:
            self.message = Scan(keyspace.name, max(start, range_start), end, limit,
                                rng.range_id, rng.generation, True)
        else:
            stop = range_end if not end or (range_end and range_end < end) else end
            self.message = Scan(keyspace.name, start, stop, limit, rng.range_id,
                                rng.generation)
        self.retried = None
        self.range_end = range_end
        self.end = end
        self.start_ = start
        self.range_start = range_start
        self.reverse = reverse
        self.pages: dict[str, ScanReply] = {}
        self.truncation = truncation
        self.notices: list = []
        self.now_ms = 0  # the latest time an event brought

    def start(self) -> list:
        me = self.ctx.me
        return [LocalScan(self.message) if node == me else Send(node, self.message, SCAN)
                for node in self.tracker.replicas]

    def on_reply(self, node: str, purpose: int, reply, now_ms: int) -> list | None:
        if type(reply) is not ScanReply:
            return self.on_failure(node, purpose, False)
        self.now_ms = now_ms
        if self.truncation is not None:
            reply = self._visible(node, reply, now_ms)
        self.pages[node] = reply
        return self._decided(self.tracker.on_ack(node))

    def on_failure(self, node: str, purpose: int, unreachable: bool) -> list | None:
        return self._decided(self.tracker.on_failure(node))

    def on_timeout(self, late: list) -> list | None:
        return self._decided(self.tracker.on_timeout())

    def on_redirect(self, node: str, purpose: int, error, known) -> list | None:
        """``node`` answered a typed redirect; ``known``: the cache's ``by_id``."""
        if self.retried is None:
            self.retried = set()
        message = self.message
        verdict, theirs, actions = judge(error, node, message.range_id, message.generation,
                                         known, self.retried, False)
        if verdict == RETRY and within(theirs, message.start, message.end):
            actions.append(Send(node, message._replace(range_id=theirs.range_id,
                                                       generation=theirs.generation), purpose))
            return actions
        actions.extend(self.on_failure(node, purpose, False) or ())
        return actions or None

    def _visible(self, node: str, reply: ScanReply, now_ms: int) -> ScanReply:
        """The page without what the truncation held here hides."""
        ts = self.truncation
        items = tuple(item for item in reply.items if item[1].ts > ts)
        if len(items) == len(reply.items):
            return reply
        if node != self.ctx.me and self.ctx.notices.due(node, self.keyspace.keyspace_id,
                                                        now_ms):
            self.notices.append(TellTruncation(node, ts))
        return reply._replace(items=items)

    def _decided(self, decision) -> list | None:
        notices, self.notices = self.notices, []
        if decision is None:
            return notices or None
        if not decision.ok:
            return notices + [Reply(None, failed(self.ctx, decision))]
        page = merge_span(list(self.pages.values()), self.keyspace, self.now_ms,
                          self.reverse)
        if self.reverse:
            return notices + [Reply(SpanPage(page.items, self._below(page.resume)), None)]
        resume = page.resume
        if resume is not None and self.end and resume >= self.end:
            resume = None
        elif resume is None and self.range_end and (not self.end or self.range_end < self.end):
            resume = self.range_end  # the span goes on in the next range
        return notices + [Reply(SpanPage(page.items, resume), None)]

    def _below(self, cut: bytes | None) -> bytes | None:
        """Where the next reverse page ends: the cut, else this range's start while
        the span goes on below it, else None (done)."""
        if cut is not None:
            return cut if cut > self.start_ else None
        return self.range_start if self.range_start > self.start_ else None
