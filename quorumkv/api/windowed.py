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
    """``[await start(item) for item in items]``, ``window`` at a time, in order.
    On a failure the rest of its window still finishes before the first error is
    raised (the command's keys stay held until nothing of it runs), and no later
    window starts."""
    results: list[R] = []
    for i in range(0, len(items), window):
        if i:
            await asyncio.sleep(0)  # a window may finish without yielding (local reads)
        done = await asyncio.gather(*(start(item) for item in items[i:i + window]),
                                    return_exceptions=True)
        for result in done:
            if isinstance(result, BaseException):
                raise result
        results += done
    return results
