"""An asyncio event loop on virtual time.

The loop never waits: when nothing is ready it jumps its clock to the next timer.
Ready callbacks run in FIFO order and timers in (time, scheduling) order, so one
seed replays the same run exactly. Real I/O is not supported (nothing in a
simulation does any).
"""

from __future__ import annotations

import asyncio
import selectors


class _VirtualSelector(selectors.BaseSelector):
    def __init__(self) -> None:
        self.loop: "SimLoop | None" = None
        self._map: dict = {}

    def register(self, fileobj, events, data=None):
        key = selectors.SelectorKey(fileobj, fileobj if isinstance(fileobj, int)
                                    else fileobj.fileno(), events, data)
        self._map[fileobj] = key
        return key

    def unregister(self, fileobj):
        return self._map.pop(fileobj)

    def select(self, timeout=None):
        if timeout:
            self.loop.now += timeout  # nothing can happen before the next timer
        return []

    def get_map(self):
        return self._map

    def close(self) -> None:
        self._map.clear()


class SimLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self.now
