"""Many-key commands in windows, so that one MGET or DEL of 100,000 keys cannot
hold the event loop: at most ``WINDOW`` keys are coordinated at once, and the
loop runs other connections between windows."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")
WINDOW = 64


async def windowed(items: Sequence[T], start: Callable[[T], Awaitable[R]],
                   window: int = WINDOW) -> list[R]:
    """``[await start(item) for item in items]``, ``window`` at a time, in order."""
    if len(items) <= window:
        return list(await asyncio.gather(*(start(item) for item in items)))
    results: list[R] = []
    for i in range(0, len(items), window):
        if i:
            await asyncio.sleep(0)  # a window may finish without yielding (local reads)
        results += await asyncio.gather(*(start(item) for item in items[i:i + window]))
    return results
