"""Request timers without a timer per request.

Every request filed in one ``Deadlines`` waits the same delay, so due times are
filed in order: a deque, and one loop timer armed for the oldest entry (rounded
up to ``slot_s`` so that one timer serves many). When it fires, ``on_due(run)``
is called for every entry that is due and not cancelled. A request may so wait
up to one slot longer than asked, never less. The coordinator keeps two: request
deadlines and read speculation.

``add`` returns the entry; ``cancel(entry)`` drops the request from it at once,
so a finished request is freed while it is still in the CPU caches rather than
seconds later (and the cyclic GC never has to walk it).
"""

from __future__ import annotations

import asyncio
import collections
import math
from typing import Callable


class Deadlines:
    def __init__(self, delay_s: float, loop: asyncio.AbstractEventLoop,
                 on_due: Callable, slot_s: float = 0.05) -> None:
        self.delay_s = delay_s
        self.loop = loop
        self.on_due = on_due
        self.slot_s = slot_s
        self._queue: collections.deque = collections.deque()
        self._armed = False

    def add(self, run) -> list:
        """File ``run``; returns its entry ``[due time on the loop clock, run]``."""
        due = self.loop.time() + self.delay_s
        entry = [due, run]
        self._queue.append(entry)
        if not self._armed:
            self._arm(due)
        return entry

    @staticmethod
    def cancel(entry: list) -> None:
        entry[1] = None

    def _arm(self, due: float) -> None:
        self._armed = True
        self.loop.call_at(max(due, math.ceil(due / self.slot_s) * self.slot_s), self._fire)

    def _fire(self) -> None:
        self._armed = False
        queue, now, on_due = self._queue, self.loop.time(), self.on_due
        while queue and queue[0][0] <= now:
            run = queue.popleft()[1]
            if run is not None:
                on_due(run)
        if queue:
            self._arm(queue[0][0])

    def remaining(self, due: float) -> float:
        return max(0.0, due - self.loop.time())
