"""One simulated run: workload, faults, heal, quiesce, check.

``simulate(seed)`` returns a :class:`Result`; ``python -m quorumkv.sim --seed N``
replays one run and prints its trace, one line per event.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

from ..core.consistency import Level
from ..core.session import Session
from ..errors import QuorumKVError
from .cluster import SimNode
from .loop import SimLoop
from .network import SimNetwork

NODES = ["n1", "n2", "n3"]
# each keyspace's keys (sim/cluster.py declares the keyspaces): on ``users`` they
# fall in all three ranges a-k / l-q / r-z, the split points themselves included
KEYS = {
    "default": [b"k%d" % i for i in (0, 1, 2, 3, 4, 5, 6, 9)],  # in all 4 hash ranges
    "users": [b"alice", b"kate", b"l", b"mallory", b"quinn", b"r", b"sybil", b"zoe"],
}
WRITE_LEVELS = [Level.ANY, Level.ONE, Level.QUORUM, Level.ALL]
READ_LEVELS = [Level.ONE, Level.QUORUM, Level.ALL]
CLIENT_WAIT_S = 2.0


@dataclass
class Op:
    client: int
    kind: str          # write | delete | read | flush (key b"", ts: the truncation's)
    key: bytes
    level: Level
    start: float
    end: float = 0.0
    ok: bool | None = None   # None: unknown (timed out, coordinator crashed)
    ts: int = 0              # written version's, or read version's (0: none)
    session: bool = False
    keyspace: str = "default"


@dataclass
class Result:
    seed: int
    ops: list = field(default_factory=list)
    violations: list = field(default_factory=list)
    trace: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


class Sim:
    def __init__(self, seed: int, ops_per_client: int = 25, clients: int = 4,
                 faults: bool = True, trace: bool = False) -> None:
        self.seed = seed
        self.rnd = random.Random(seed)
        self.loop = SimLoop()
        self.network = SimNetwork(self)
        self.nodes = {n: SimNode(self, n) for n in NODES}
        self.ops_per_client = ops_per_client
        self.clients = clients
        self.faults = faults
        self.keep_trace = trace
        self.result = Result(seed)
        # a FLUSHDB of each keyspace in about half the runs, from its own generator
        # so that the runs without one do what they would do without flushes
        self.flush_rnd = random.Random(seed * 7919 + 1)
        self.flushes = [ks for ks in KEYS if self.faults and self.flush_rnd.random() < 0.5]

    def trace(self, text: str) -> None:
        if self.keep_trace:
            self.result.trace.append(f"{self.loop.time():9.4f} {text}")

    # ---- workload ------------------------------------------------------------------

    async def client(self, cid: int) -> None:
        rnd = self.rnd
        session = Session(enforced=True) if cid == 0 else None  # client 0 uses a session
        for _ in range(self.ops_per_client):
            await asyncio.sleep(rnd.uniform(0.001, 0.05))
            live = [n for n in self.nodes.values() if n.serving]
            if not live:
                continue
            node = rnd.choice(live)
            keyspace = rnd.choice(list(KEYS))
            key = rnd.choice(KEYS[keyspace])
            roll = rnd.random()
            kind = "read" if roll < 0.45 else "delete" if roll < 0.55 else "write"
            level = rnd.choice(READ_LEVELS if kind == "read" else WRITE_LEVELS)
            op = Op(cid, kind, key, level, self.loop.time(), session=session is not None,
                    keyspace=keyspace)
            self.result.ops.append(op)
            try:
                if kind == "read":
                    version = await asyncio.wait_for(node.read(keyspace, key, level,
                                                               session), CLIENT_WAIT_S)
                    op.ts = 0 if version is None else version.ts
                else:
                    value = None if kind == "delete" else b"c%d-%d" % (cid, len(self.result.ops))
                    version = node.coordinator.new_version(value)
                    op.ts = version.ts
                    await asyncio.wait_for(node.coordinator.write(
                        keyspace, key, version, level, session), CLIENT_WAIT_S)
                op.ok = True
            except QuorumKVError:
                op.ok = False
            except asyncio.TimeoutError:
                op.ok = None
            op.end = self.loop.time()
            self.trace(f"client {cid} {kind} {keyspace}/{key.decode()} {level.name} via "
                       f"{node.node_id}"
                       f" -> {'ok' if op.ok else 'failed' if op.ok is False else 'unknown'}"
                       f" ts={op.ts}")

    async def flusher(self, keyspace: str) -> None:
        """One FLUSHDB of ``keyspace``, through a random live node, in the middle of
        the workload."""
        rnd = self.flush_rnd
        await asyncio.sleep(rnd.uniform(0.1, 0.6))
        live = [n for n in self.nodes.values() if n.serving]
        if not live:
            return
        node = rnd.choice(live)
        level, sync = rnd.choice(WRITE_LEVELS), rnd.random() < 0.5
        op = Op(-1, "flush", b"", level, self.loop.time(), keyspace=keyspace)
        self.result.ops.append(op)
        try:
            op.ts = await asyncio.wait_for(node.coordinator.truncate(keyspace, level, sync),
                                           CLIENT_WAIT_S)
            op.ok = True
        except QuorumKVError:
            op.ok = False
        except asyncio.TimeoutError:
            op.ok = None
        op.end = self.loop.time()
        self.trace(f"flush {keyspace} {level.name} via {node.node_id} -> {op.ok} "
                   f"ts={op.ts}")

    async def nemesis(self, until: asyncio.Future) -> None:
        rnd, net = self.rnd, self.network
        while not until.done():
            await asyncio.sleep(rnd.uniform(0.05, 0.3))
            fault = rnd.choice(["partition", "crash", "loss", "skew", "clog", "heal"])
            a, b = rnd.sample(NODES, 2)
            if fault == "partition":
                net.cut.add(frozenset((a, b)))
            elif fault == "crash" and self.nodes[a].up:
                self.nodes[a].crash()
                self.loop.call_later(rnd.uniform(0.05, 0.5), self._restart, a)
            elif fault == "loss":
                net.loss = rnd.choice([0.0, 0.05, 0.2])
                net.duplicate = rnd.choice([0.0, 0.05])
            elif fault == "skew":
                self.nodes[a].skew_ms = rnd.randint(-200, 200)  # within the tolerated skew
            elif fault == "clog":
                net.slow[a] = rnd.choice([0.0, 0.02, 0.2])
            else:
                self.heal()
            self.trace(f"nemesis {fault} {a} {b}")

    def _restart(self, node_id: str) -> None:
        if not self.nodes[node_id].up:
            self.nodes[node_id].start()

    def heal(self) -> None:
        net = self.network
        net.cut.clear()
        net.loss = net.duplicate = 0.0
        net.slow.clear()
        for node_id, node in self.nodes.items():
            if not node.up:
                node.start()

    # ---- the run -------------------------------------------------------------------

    async def main(self) -> Result:
        for node in self.nodes.values():
            node.start()
        await asyncio.sleep(0.2)  # first heartbeats
        done = self.loop.create_future()
        nemesis = asyncio.ensure_future(self.nemesis(done)) if self.faults else None
        flusher = [self.flusher(keyspace) for keyspace in self.flushes]
        await asyncio.gather(*(self.client(c) for c in range(self.clients)), *flusher)
        done.set_result(None)
        if nemesis is not None:
            await nemesis
        self.heal()
        self.trace("healed")
        await asyncio.sleep(2.0)  # hints delivered, detectors agree
        for node in self.nodes.values():  # a full anti-entropy pass from every node
            await node.anti_entropy.repair()
        await asyncio.sleep(0.5)
        from .checkers import check
        self.result.violations = check(self)
        return self.result


class _TraceHandler(logging.Handler):
    """Node log lines go into the run's trace (and nowhere else). A line logged
    with an exception (``log.exception``: the node's code raised where it should
    not) is also kept in ``raised``: the run reports it as a violation."""

    def __init__(self, sim: Sim) -> None:
        super().__init__(logging.INFO)
        self.sim = sim
        self.raised: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = f"log {record.name.rsplit('.', 1)[-1]}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            line += f" ({record.exc_info[1]!r})"
            self.raised.append(f"(B) {line}")
        self.sim.trace(line)


def with_raised(result, handler: _TraceHandler):
    """``result`` with the exceptions the nodes logged among its violations."""
    result.violations += [r for r in handler.raised if r not in result.violations]
    return result


def simulate(seed: int, **kw) -> Result:
    sim = Sim(seed, **kw)
    root = logging.getLogger("quorumkv")
    handler, saved = _TraceHandler(sim), (root.handlers[:], root.propagate, root.level)
    root.handlers, root.propagate = [handler], False
    root.setLevel(logging.INFO)
    try:
        return with_raised(sim.loop.run_until_complete(sim.main()), handler)
    finally:
        root.handlers, root.propagate = saved[0], saved[1]
        root.setLevel(saved[2])
        for task in asyncio.all_tasks(sim.loop):
            task.cancel()
        sim.loop.run_until_complete(asyncio.sleep(0))
        sim.loop.close()
