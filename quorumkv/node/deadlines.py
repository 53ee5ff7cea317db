"""Request timers without a timer per request.

Requests are filed in slots of ``slot_s`` by due time; one loop timer per slot
calls ``on_due(run)`` for every request in it (the callback checks whether the
request still needs it). A request may so wait up to one slot longer than asked,
never less. The coordinator keeps two: request deadlines and read speculation.
"""

from __future__ import annotations

import asyncio
import math
from typing import Callable


class Deadlines:
    def __init__(self, delay_s: float, loop: asyncio.AbstractEventLoop,
                 on_due: Callable, slot_s: float = 0.05) -> None:
        self.delay_s = delay_s
        self.loop = loop
        self.on_due = on_due
        self.slot_s = slot_s
        self._slots: dict[int, list] = {}

    def add(self, run) -> float:
        """File ``run``; returns its due time on the loop clock."""
        due = self.loop.time() + self.delay_s
        slot = math.ceil(due / self.slot_s)
        runs = self._slots.get(slot)
        if runs is None:
            runs = self._slots[slot] = []
            self.loop.call_at(slot * self.slot_s, self._fire, slot)
        runs.append(run)
        return due

    def _fire(self, slot: int) -> None:
        on_due = self.on_due
        for run in self._slots.pop(slot, ()):
            on_due(run)

    def remaining(self, due: float) -> float:
        return max(0.0, due - self.loop.time())
