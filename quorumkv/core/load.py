"""Per-range load: how many reads and writes each range serves, and their rates.

A coordinator counts every client read and write against the range it routed to
(one dict increment on the request path). A sampler takes a snapshot of the totals
every few seconds (``sample(now_s)``), and a rate is the difference between the
totals now and the oldest snapshot still inside the window, over the time between
them: reads/s and writes/s over the last minute (or since the node started, if that
is less), as a Key Visualizer shows them. Time is an input, so tests and the
simulation drive it.

Each client request is coordinated by exactly one node, so the cluster's load of a
range is the sum of every node's figures (``merge_views``). Sizes are different:
every replica stores the range, so its keys and bytes are the largest a replica
reports (the most complete one), not a sum.
"""

from __future__ import annotations

from collections import defaultdict, deque

WINDOW_S = 60.0


class RangeLoad:
    __slots__ = ("reads", "writes", "window_s", "_samples")

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.reads: defaultdict[int, int] = defaultdict(int)  # range id -> total
        self.writes: defaultdict[int, int] = defaultdict(int)
        self.window_s = window_s
        self._samples: deque = deque()  # (now_s, reads copy, writes copy), oldest first

    def count_read(self, range_id: int) -> None:
        """(The coordinator increments ``reads`` itself: one call less per request.)"""
        self.reads[range_id] += 1

    def count_write(self, range_id: int) -> None:
        self.writes[range_id] += 1

    def sample(self, now_s: float) -> None:
        """Snapshot the totals; snapshots older than the window are dropped, except
        the newest of them (a rate needs a starting point a window back)."""
        self._samples.append((now_s, dict(self.reads), dict(self.writes)))
        while len(self._samples) > 1 and self._samples[1][0] <= now_s - self.window_s:
            self._samples.popleft()

    def rates(self, now_s: float) -> dict[int, tuple[float, float]]:
        """range id -> (reads/s, writes/s) from the oldest snapshot in the window to
        the totals at ``now_s``; empty before the first snapshot."""
        if not self._samples:
            return {}
        t0, reads0, writes0 = self._samples[0]
        elapsed = now_s - t0
        if elapsed <= 0:
            return {}
        reads, writes = self.reads, self.writes
        return {range_id: ((reads.get(range_id, 0) - reads0.get(range_id, 0)) / elapsed,
                           (writes.get(range_id, 0) - writes0.get(range_id, 0)) / elapsed)
                for range_id in set(reads) | set(writes)}


def merge_views(views: list[list[dict]]) -> list[dict]:
    """One row per range from every node's rows (see ``RangeStats.local_rows``):
    loads summed (each request is counted by the node that coordinated it), sizes
    the largest a replica reports, and which nodes answered for sizes."""
    merged: dict[int, dict] = {}
    for rows in views:
        for row in rows:
            entry = merged.get(row["range_id"])
            if entry is None:
                entry = merged[row["range_id"]] = {
                    k: row[k] for k in ("range_id", "keyspace", "start", "end", "replicas")}
                entry.update(reads=0, writes=0, reads_per_s=0.0, writes_per_s=0.0,
                             keys=None, bytes=None, sized_by=[])
            for name in ("reads", "writes", "reads_per_s", "writes_per_s"):
                entry[name] += row[name]
            if row.get("keys") is not None:
                entry["sized_by"].append(row["node_id"])
                entry["keys"] = max(entry["keys"] or 0, row["keys"])
                entry["bytes"] = max(entry["bytes"] or 0, row["bytes"])
    return sorted(merged.values(), key=lambda r: r["range_id"])


def order_rows(rows: list[dict], by: str) -> list[dict]:
    """Hottest first (``load``: reads/s + writes/s), largest first (``size``:
    bytes), or in range order (``range``); ties keep range order."""
    if by == "load":
        return sorted(rows, key=lambda r: (-(r["reads_per_s"] + r["writes_per_s"]),
                                           r["range_id"]))
    if by == "size":
        return sorted(rows, key=lambda r: (-(r["bytes"] or 0), r["range_id"]))
    if by == "range":
        return sorted(rows, key=lambda r: r["range_id"])
    raise ValueError(f"sort must be load, size or range, not {by!r}")
