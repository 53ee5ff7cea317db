"""The node's physical clock, in milliseconds since the epoch.

A module of its own so that the compiled build (accel.MODULES) covers it: every
write a node coordinates reads it, and the core never does (it takes the time as
an input).
"""

from __future__ import annotations

import time


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000
