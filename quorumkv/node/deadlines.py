"""Request deadlines without a timer per request.

Requests are filed in slots of ``SLOT_S`` by deadline; one timer per slot expires
every request in it that has not finished. A request may so get up to one slot
longer than its timeout, never less.
"""

from __future__ import annotations

import asyncio
import math

SLOT_S = 0.05


class Deadlines:
    def __init__(self, timeout_s: float, loop: asyncio.AbstractEventLoop) -> None:
        self.timeout_s = timeout_s
        self.loop = loop
        self._slots: dict[int, list] = {}

    def add(self, run) -> float:
        """File ``run`` (which has ``finished`` and ``expire()``); its deadline."""
        loop = self.loop
        deadline = loop.time() + self.timeout_s
        slot = math.ceil(deadline / SLOT_S)
        runs = self._slots.get(slot)
        if runs is None:
            runs = self._slots[slot] = []
            loop.call_at(slot * SLOT_S, self._expire, slot)
        runs.append(run)
        return deadline

    def _expire(self, slot: int) -> None:
        for run in self._slots.pop(slot, ()):
            if not run.finished:
                run.expire()

    def remaining(self, deadline: float) -> float:
        return max(0.0, deadline - self.loop.time())
