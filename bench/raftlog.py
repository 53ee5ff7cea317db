"""Raft log writes: one batch and one fsync per loop turn for all groups, against
one commit (and one fsync) per group.

    .venv/bin/python bench/raftlog.py [--groups 64] [--per-turn 32] [--seconds 3]

A RocksEngine in a temporary directory under /tmp holds the logs of ``--groups``
groups. Each loop turn appends one entry (``--entry-bytes`` of data) to each of
``--per-turn`` groups drawn at random (seeded) and sets their hard states, then
commits durably:

  batched    one write batch for the turn, ``commit(sync=True)``: one write, one fsync
  async      the same batch through ``await store.commit_async(batch)`` (write on
             the loop, WAL sync in an executor thread)
  per-group  one batch per group, each ``commit(sync=True)``: one fsync per entry

Each mode runs at most ``--seconds`` and ``--max-turns``; prints turns/s,
entries/s and fsyncs/s. The directory is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from quorumkv.core.raft.types import Entry, HardState  # noqa: E402
from quorumkv.storage.engine import RocksEngine  # noqa: E402
from quorumkv.storage.raftlog import RaftLogStore  # noqa: E402


class Turns:
    """The random groups of each turn and each group's next index."""

    def __init__(self, groups: int, per_turn: int, entry_bytes: int, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.ids = list(range(1, groups + 1))
        self.per_turn = per_turn
        self.data = b"v" * entry_bytes
        self.next = dict.fromkeys(self.ids, 1)

    def pick(self):
        for gid in self.rnd.sample(self.ids, self.per_turn):
            index = self.next[gid]
            self.next[gid] = index + 1
            yield gid, Entry(1, index, self.data), HardState(1, "n1", index - 1)


def add(batch, gid, entry, hs) -> None:
    batch.append(gid, [entry])
    batch.set_hard_state(gid, hs)


def run_sync(store, turns: Turns, per_group: bool, seconds: float, max_turns: int):
    done, fsyncs, start = 0, 0, time.perf_counter()
    while done < max_turns and time.perf_counter() - start < seconds:
        if per_group:
            for gid, entry, hs in turns.pick():
                batch = store.write_batch()
                add(batch, gid, entry, hs)
                batch.commit(sync=True)
                fsyncs += 1
        else:
            batch = store.write_batch()
            for gid, entry, hs in turns.pick():
                add(batch, gid, entry, hs)
            batch.commit(sync=True)
            fsyncs += 1
        done += 1
    return done, fsyncs, time.perf_counter() - start


async def run_async(store, turns: Turns, seconds: float, max_turns: int):
    done, start = 0, time.perf_counter()
    while done < max_turns and time.perf_counter() - start < seconds:
        batch = store.write_batch()
        for gid, entry, hs in turns.pick():
            add(batch, gid, entry, hs)
        await store.commit_async(batch)
        done += 1
    return done, done, time.perf_counter() - start


def new_loop():
    """uvloop, as a node runs, if installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=64)
    ap.add_argument("--per-turn", type=int, default=32)
    ap.add_argument("--entry-bytes", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--max-turns", type=int, default=100_000)
    ap.add_argument("--modes", default="batched,async,per-group")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(f"{args.groups} groups, {args.per_turn} random groups a turn, one entry of "
          f"{args.entry_bytes} bytes + hard state each, sync=True")
    print(f"{'mode':<10} {'turns':>7} {'turns/s':>9} {'entries/s':>10} {'fsyncs/s':>9}")
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory(prefix="raftlog-bench-", dir="/tmp") as work:
            engine = RocksEngine(os.path.join(work, "db"))
            try:
                store = RaftLogStore(engine)
                turns = Turns(args.groups, args.per_turn, args.entry_bytes, args.seed)
                if mode == "async":
                    n, fsyncs, took = new_loop().run_until_complete(
                        run_async(store, turns, args.seconds, args.max_turns))
                else:
                    n, fsyncs, took = run_sync(store, turns, mode == "per-group",
                                               args.seconds, args.max_turns)
            finally:
                engine.close()
        print(f"{mode:<10} {n:>7} {n / took:>9.0f} {n * args.per_turn / took:>10.0f} "
              f"{fsyncs / took:>9.0f}")


if __name__ == "__main__":
    main()
