"""One simulated run of a strong keyspace: Raft under faults, checked for
linearizability.

The cluster (3 nodes; 5 for one seed in five, so that some nodes hold no replica
and forward) has one strong keyspace, ``locks``: hash-partitioned into 2 ranges,
replication factor 3, each range a Raft group. Client processes send reads (Get),
writes of unique values (Set), compare-and-sets (Cas) and increments (Incr) through
the StrongReplicator of random serving nodes, recorded in a
:class:`~quorumkv.sim.history.History` on virtual time. Meanwhile a nemesis
partitions nodes (also the leader of a group from everyone), crashes and restarts
them (losing what they had not synced, or in half the crashes all but a prefix
of it, as a torn write-ahead log), loses, duplicates and delays frames (which
reorders them), and skews their clocks. Then the network heals, the cluster
settles and every key is read once more.

What must hold (``StrongSim.check``):

(L) every key's history, the final reads included, is linearizable (so no
    acknowledged write is lost); a verdict the step budget could not reach is
    "unknown", reported as such;
(I) each counter's final value lies between its acknowledged increments and those
    plus the indeterminate ones;
(R) Raft seen from outside, sampled every few milliseconds from the hosts: at most
    one leader per group per term; within a process, a group's applied index never
    goes back; across restarts its term never goes back (the hard state is durable).

``python -m quorumkv.sim --strong --seed N`` replays one run with its trace; the
same seed replays the same run. One seed in three keeps the groups' logs short,
so that snapshots are sent and installed under the same faults. ``BUGS`` are
injectable faults in the node's own code (test hooks, never configuration) that
the checks must catch.
"""

from __future__ import annotations

import asyncio
import logging
import random
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..config import KeyspaceSettings
from ..core.raft.raft import ProposalDropped
from ..core.raft.types import Role
from ..core.strong import commands as c
from ..core.strong import replies as r
from ..errors import CrossSlotError, QuorumKVError
from ..node.raft import host as host_module
from ..node.raft.host import ProposalLost, RaftHost
from ..storage.raftlog import RaftLogStore
from . import linearizability as lin
from .cluster import SimNode, sim_config
from .history import History
from .loop import SimLoop
from .network import SimNetwork
from .run import Sim, _TraceHandler, with_raised

KEYSPACE = "locks"
KEYSPACES = (KeyspaceSettings(KEYSPACE, mode="strong", ranges=2, replication_factor=3),)
# registers (read / write / cas) and counters (read / incr): each kind in both ranges
REGISTERS = [b"r1", b"r2"]
COUNTERS = [b"ctr1", b"ctr2"]
# a faster Raft clock than a real node's, so that a run of a few virtual seconds
# sees elections: 20 ms ticks, elections after 100-200 ms of silence
SETTINGS = dict(raft_tick_ms=20, raft_election_ticks=5, request_timeout_ms=500)
SAMPLE_S = 0.005        # how often the Raft invariants are sampled
SETTLE_S = 1.0          # after heal: elections, catching up
FINAL_TRIES = 10        # final reads, each bounded by the replicator's timeout
MAX_STEPS = 300_000     # the linearizability search's budget per run
# one seed in three keeps short Raft logs (compacted past 12 applied entries, 3
# kept), so that a follower back from a crash or a partition gets a snapshot
SHORT_LOGS = dict(COMPACT_AFTER=12, KEEP_ENTRIES=3)


@dataclass
class StrongResult:
    seed: int
    history: History = field(default_factory=History)
    violations: list = field(default_factory=list)
    trace: list = field(default_factory=list)
    nodes: list = field(default_factory=list)   # one line per node, at the end
    verdict: str = lin.LINEARIZABLE
    explanation: str = ""

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def ops(self) -> list:
        return self.history.ops

    def report(self) -> str:
        """What to print on failure: seed, violations, one line per node."""
        return "\n".join([f"seed {self.seed} violated:", *self.violations,
                          "nodes at the end:", *self.nodes,
                          f"replay: python -m quorumkv.sim --strong --seed {self.seed}"])


class StrongSim(Sim):
    def __init__(self, seed: int, ops_per_client: int = 25, clients: int = 4,
                 faults: bool = True, trace: bool = False, node_count: int | None = None,
                 sessions: bool = True, short_logs: bool | None = None):
        self.seed = seed
        self.rnd = random.Random(seed)
        self.loop = SimLoop()
        self.network = SimNetwork(self)
        count = node_count or (5 if seed % 5 == 4 else 3)
        self.node_ids = [f"n{i}" for i in range(1, count + 1)]
        self.nodes = {n: SimNode(self, n, sim_config(n, KEYSPACES, count, **SETTINGS),
                                 random.Random(seed * 1000 + i))
                      for i, n in enumerate(self.node_ids)}
        self.ops_per_client = ops_per_client
        self.clients = clients
        self.faults = faults
        self.keep_trace = trace
        self.result = StrongResult(seed)
        self.values: dict[bytes, list] = {k: [None] for k in REGISTERS}  # seen, for CAS
        self.written = 0
        # with a session (client id, seq) a retried or duplicated request applies
        # once; without one the network never duplicates a frame, as TCP never does
        self.sessions = sessions
        self.seqs: dict = {}
        self.short_logs = seed % 3 == 1 if short_logs is None else short_logs
        self._leaders: dict[tuple, str] = {}   # (group, term) -> its leader
        self._applied: dict[tuple, tuple] = {}  # (node, group) -> (parts, applied)
        self._terms: dict[tuple, int] = {}     # (node, group) -> highest term seen

    # ---- workload ------------------------------------------------------------------

    def _pick(self, rnd: random.Random, cid: int, key: bytes):
        """(function, its input, the command) for one operation on ``key``."""
        roll = rnd.random()
        if key in COUNTERS:
            if roll < 0.4:
                return "read", None, c.Get(key)
            by = rnd.randint(1, 5)
            return "incr", by, c.Incr(key, by)
        if roll < 0.4:
            return "read", None, c.Get(key)
        self.written += 1
        value = b"c%d-%d" % (cid, self.written)  # unique: the checker relies on it
        if roll < 0.7:
            return "write", value, c.Set(key, value)
        seen = self.values[key][-3:]
        expected = seen[int(rnd.random() * len(seen))]  # one draw, however many
        return "cas", (expected, value), c.Cas(key, expected, value)

    async def client(self, cid: int) -> None:
        # a stream of its own, drawn from the same number of times whatever
        # happened: a change in the nodes' timing leaves the workload as it was
        rnd = random.Random(f"{self.seed}/client/{cid}")
        for _ in range(self.ops_per_client):
            await asyncio.sleep(rnd.uniform(0.001, 0.04))
            pick, key = rnd.random(), rnd.choice(REGISTERS + COUNTERS)
            f, value, command = self._pick(rnd, cid, key)
            live = [n for n in self.nodes.values() if n.serving]
            if live:
                node = live[int(pick * len(live))]
                await self.execute(node, cid, key, f, value, command)

    async def execute(self, node, process, key: bytes, f: str, value, command):
        """Run one command through ``node``'s replicator and record it: ok with
        the reply's output, fail when it certainly did not apply, info when it may
        have. Returns the recorded operation."""
        history, now = self.result.history, self.loop.time
        op = history.invoke(process, key, f, value, now())
        seq = self.seqs[process] = self.seqs.get(process, 0) + 1
        client_id = b"client-%s" % str(process).encode() if self.sessions else b""
        try:
            reply = await node.strong_replicators[KEYSPACE].execute(command, client_id, seq)
        except CrossSlotError:  # refused before anything was proposed
            history.fail(op, now())
        except (QuorumKVError, ProposalLost, ProposalDropped, asyncio.TimeoutError) as exc:
            history.info(op, now())
            self.trace(f"client {process} {f} {key.decode()} via {node.node_id}: "
                       f"{type(exc).__name__}")
        except Exception as exc:  # a bug in the node: indeterminate, and reported
            history.info(op, now())
            self._violate(f"{f} of {key.decode()} via {node.node_id} raised "
                          f"{type(exc).__name__}: {exc}")
        else:
            output = self._output(f, reply)
            history.ok(op, output, now())
            if f == "read" and key in self.values:
                self.values[key].append(output)
            if f in ("write", "cas") and output is not False:
                self.values[key].append(command.value)
        self.trace(f"client {process} {op}")
        return op

    def _output(self, f: str, reply):
        if f == "read" and type(reply) in (r.Bulk, r.Nil):
            return reply.value if type(reply) is r.Bulk else None
        if f == "write" and type(reply) is r.Ok:
            return None
        if f == "cas" and type(reply) is r.Int:
            return reply.value == 1
        if f == "incr" and type(reply) in (r.Int, r.Error):
            return reply.value if type(reply) is r.Int else lin.ERROR
        self.result.violations.append(f"unexpected reply to {f}: {reply}")
        return lin.UNKNOWN

    # ---- faults --------------------------------------------------------------------

    async def nemesis(self, until: asyncio.Future) -> None:
        # a stream of its own with the same draws for every event: the faults of a
        # seed come in the same order and at the same times whatever the nodes do
        # (only how many there are depends on when the clients finish)
        rnd, net = random.Random(f"{self.seed}/nemesis"), self.network
        while not until.done():
            await asyncio.sleep(rnd.uniform(0.05, 0.3))
            fault = rnd.choice(["partition", "isolate-leader", "crash", "loss", "skew",
                                "clog", "heal"])
            a, b = rnd.sample(self.node_ids, 2)
            restart_s, loss = rnd.uniform(0.05, 0.4), rnd.choice([0.0, 0.05, 0.2])
            duplicate, skew_ms = rnd.choice([0.0, 0.05, 0.2]), rnd.randint(-2000, 2000)
            slow = rnd.choice([0.0, 0.02, 0.2])
            # half the crashes tear the log: a prefix of the unsynced writes survives
            torn, kept = rnd.random() < 0.5, rnd.random()
            if fault == "partition":
                net.cut.add(frozenset((a, b)))
            elif fault == "isolate-leader":
                a = self._a_leader() or a
                net.cut.update(frozenset((a, o)) for o in self.node_ids if o != a)
            elif fault == "crash" and self.nodes[a].up:
                self.nodes[a].crash(kept if torn else 0.0)
                self.loop.call_later(restart_s, self._restart, a)
            elif fault == "loss":
                net.loss = loss
                net.duplicate = duplicate if self.sessions else 0.0
            elif fault == "skew":  # the leader stamps proposals with its clock
                self.nodes[a].skew_ms = skew_ms
            elif fault == "clog":
                net.slow[a] = slow
            elif fault == "heal":
                self.heal()
            self.trace(f"nemesis {fault} {a} {b}")

    def _a_leader(self) -> str | None:
        """The node that leads some group (the first found), if any."""
        for node_id, node in self.nodes.items():
            if node.up and any(g.role is Role.LEADER for g in node.raft_host.groups.values()):
                return node_id
        return None

    # ---- Raft seen from outside ----------------------------------------------------

    async def monitor(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_S)

    def sample(self) -> None:
        """Check (R) on every running node's groups as they stand now."""
        for node_id, node in self.nodes.items():
            if not node.up:
                continue
            for gid, group in node.raft_host.groups.items():
                raft = group.node.raft
                if raft.role is Role.LEADER:
                    other = self._leaders.setdefault((gid, raft.term), node_id)
                    if other != node_id:
                        self._violate(f"(R) group {gid} has two leaders in term "
                                      f"{raft.term}: {other} and {node_id}")
                parts, applied = self._applied.get((node_id, gid), (None, 0))
                if parts is node.parts and group.applied < applied:
                    self._violate(f"(R) {node_id} group {gid}: applied index went back "
                                  f"from {applied} to {group.applied}")
                self._applied[(node_id, gid)] = (node.parts, group.applied)
                term = self._terms.get((node_id, gid), 0)
                if raft.term < term:
                    self._violate(f"(R) {node_id} group {gid}: term went back from "
                                  f"{term} to {raft.term}")
                self._terms[(node_id, gid)] = max(term, raft.term)

    def _violate(self, text: str) -> None:
        if text not in self.result.violations:
            self.result.violations.append(text)
            self.trace(text)

    def node_lines(self) -> list[str]:
        lines = []
        for node_id, node in self.nodes.items():
            state = "serving" if node.serving else "up" if node.up else "down"
            groups = " ".join(
                f"g{gid}={g.role.value}/t{g.node.raft.term}/commit{g.node.raft.log.committed}"
                f"/applied{g.applied}/lead={g.leader or '-'}"
                for gid, g in sorted(node.raft_host.groups.items())) if node.up else ""
            lines.append(f"{node_id} {state} skew={node.skew_ms}ms {groups}".rstrip())
        return lines

    # ---- the run -------------------------------------------------------------------

    async def main(self) -> StrongResult:
        for node in self.nodes.values():
            node.start()
        monitor = asyncio.ensure_future(self.monitor())
        await asyncio.sleep(0.3)  # first elections
        done = self.loop.create_future()
        nemesis = asyncio.ensure_future(self.nemesis(done)) if self.faults else None
        await asyncio.gather(*(self.client(cid) for cid in range(self.clients)))
        done.set_result(None)
        if nemesis is not None:
            await nemesis
        self.heal()
        self.trace("healed")
        await asyncio.sleep(SETTLE_S)
        finals = await self.final_reads()
        monitor.cancel()
        self.sample()
        self.check(finals)
        self.result.nodes = self.node_lines()
        return self.result

    async def final_reads(self) -> dict:
        """Each key's value read after the heal (retried until one answers); a key
        no read reached is left out, and is a violation."""
        finals = {}
        for key in REGISTERS + COUNTERS:
            for _ in range(FINAL_TRIES):
                node = self.rnd.choice([n for n in self.nodes.values() if n.serving])
                op = await self.execute(node, "final", key, "read", None, c.Get(key))
                if op.status == "ok":
                    finals[key] = op.output
                    break
            else:
                self.result.violations.append(f"no final read of {key.decode()} answered")
        return finals

    def check(self, finals: dict) -> None:
        result = self.result
        verdict = lin.check(result.history, max_steps=MAX_STEPS)
        result.verdict, result.explanation = verdict.verdict, verdict.explain()
        if verdict.verdict == lin.NOT_LINEARIZABLE:
            result.violations.append(f"(L) {verdict.explain()}")
        counters = {k: v for k, v in finals.items() if k in COUNTERS}
        result.violations += [f"(I) {v}" for v in lin.check_incr_totals(result.history,
                                                                          counters)]


# ---- injected bugs (test hooks; the real node has no such switch) ------------------

def _stale_follower_reads():
    """A follower answers a read from its own state machine, without ReadIndex."""
    real = RaftHost.read_index

    def read_index(self, group_id):
        if self.groups[group_id].role is not Role.LEADER:
            future = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future
        return real(self, group_id)

    return RaftHost, "read_index", read_index


def _ack_before_fsync():
    """The host's log writes are never synced: it sends, applies and answers as if
    its entries and votes were durable, and a crash loses them."""

    async def commit_async(self, batch):
        self.commit(batch, sync=False)

    return RaftLogStore, "commit_async", commit_async


BUGS = {"stale-follower-reads": _stale_follower_reads,
        "ack-before-fsync": _ack_before_fsync}


@contextmanager
def patched(owner, values: dict):
    """``owner``'s attributes set to ``values`` for the duration."""
    saved = {name: getattr(owner, name) for name in values}
    for name, value in values.items():
        setattr(owner, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(owner, name, value)


def injected(bug: str | None):
    """Run with ``bug`` (a name in BUGS) injected, if any."""
    if bug is None:
        return patched(None, {})
    owner, name, replacement = BUGS[bug]()
    return patched(owner, {name: replacement})


def simulate_strong(seed: int, bug: str | None = None, **kw) -> StrongResult:
    sim = StrongSim(seed, **kw)
    root = logging.getLogger("quorumkv")
    handler, saved = _TraceHandler(sim), (root.handlers[:], root.propagate, root.level)
    root.handlers, root.propagate = [handler], False
    root.setLevel(logging.INFO)
    try:
        with injected(bug), patched(host_module, SHORT_LOGS if sim.short_logs else {}):
            return with_raised(sim.loop.run_until_complete(sim.main()), handler)
    finally:
        root.handlers, root.propagate = saved[0], saved[1]
        root.setLevel(saved[2])
        for task in asyncio.all_tasks(sim.loop):
            task.cancel()
        sim.loop.run_until_complete(asyncio.sleep(0))
        sim.loop.close()
