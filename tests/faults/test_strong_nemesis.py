"""A strong keyspace on five nodes (127.0.0.2-6; the clients on 127.0.0.1) under a
nemesis: nftables partitions (one node isolated, or two against three), SIGKILL and
restart, SIGSTOP/SIGCONT. Concurrent redis-py clients, each with its own connection
to a random live node, read, write unique values, compare-and-set and increment,
and record a history; after healing, the final value of every key is read.

Checked: the history, final reads included, is linearizable for every key
(sim/linearizability.py: a timeout or lost connection is an indeterminate
operation that may or may not have applied); no acknowledged write is lost (the
final reads are part of that check); every counter's final value lies between
its acknowledged increments and those plus the indeterminate ones.
"""

from __future__ import annotations

import random
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from quorumkv.config import KeyspaceSettings
from quorumkv.sim.history import History
from quorumkv.sim.linearizability import check, check_final_values, check_incr_totals

NODES = [f"n{i}" for i in range(1, 6)]
REGISTERS = [f"r{i}".encode() for i in range(6)]
COUNTERS = [f"c{i}".encode() for i in range(3)]
CLIENTS = 6
MAX_OPS = 20000      # all clients together (a bound: the faults' time ends the run)
FAULT_SECONDS = 24   # of faults, with load throughout
FAULT_EVERY_S = 1.5
DB = 1               # the strong keyspace's Redis database number


class Client(threading.Thread):
    """One client process of the history: one operation outstanding at a time."""

    def __init__(self, name: str, cluster, history: History, lock: threading.Lock,
                 live, budget, seed: int) -> None:
        super().__init__(daemon=True)
        self.name_, self.cluster, self.history, self.lock = name, cluster, history, lock
        self.live, self.budget = live, budget
        self.rnd = random.Random(seed)
        self.conn: redis.Redis | None = None
        self.written = 0

    def connect(self) -> redis.Redis:
        if self.conn is None:
            a = self.cluster.address(self.rnd.choice(self.live()))
            # no retries: redis-py (6 and later) retries a timed-out command on a new
            # connection, which the node cannot tell from a new request (its
            # exactly-once session is per connection): an INCR would apply twice
            self.conn = redis.Redis(host=a.host, port=a.resp_port, db=DB, socket_timeout=3,
                                    socket_connect_timeout=1, single_connection_client=True,
                                    retry=Retry(NoBackoff(), 0))
        return self.conn

    def run(self) -> None:
        while self.budget():
            self.one()

    def one(self) -> None:
        rnd = self.rnd
        if rnd.random() < 0.3:
            key = rnd.choice(COUNTERS)
            f, value = ("incr", 1) if rnd.random() < 0.7 else ("read", None)
        else:
            key = rnd.choice(REGISTERS)
            f = rnd.choice(["read", "read", "write", "cas"])
            self.written += 1
            new = f"{self.name_}-{self.written}".encode()
            value = {"read": None, "write": new,
                     "cas": (f"{self.name_}-{self.written - 1}".encode(), new)}[f]
        with self.lock:
            op = self.history.invoke(self.name_, key, f, value, time.monotonic())
        try:
            conn = self.connect()
            if f == "read":
                output = conn.get(key)
            elif f == "write":
                conn.set(key, value)
                output = None
            elif f == "cas":
                output = conn.execute_command("QKV.CAS", key, *value) == 1
            else:
                output = conn.incr(key, value)
        except redis.ResponseError as exc:
            self.done(op, "fail" if str(exc).startswith("CROSSSLOT") else "info")
            return
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            self.conn = None  # the node died or hung mid-request: maybe applied
            self.done(op, "info")
            return
        self.done(op, "ok", output)

    def done(self, op, status: str, output=None) -> None:
        with self.lock:
            now = time.monotonic()
            if status == "ok":
                self.history.ok(op, output, now)
            elif status == "fail":
                self.history.fail(op, now)
            else:
                self.history.info(op, now)


def test_strong_history_under_a_nemesis_is_linearizable(faulty):
    make_cluster, make_nemesis = faulty
    keyspace = KeyspaceSettings("locks", mode="strong", ranges=2, replication_factor=3,
                                db=DB)
    c = make_cluster(5, keyspaces=(keyspace,), request_timeout_ms=2000,
                     anti_entropy_interval_ms=0).start()
    nemesis = make_nemesis(c)
    rnd = random.Random(20261202)
    history, lock = History(), threading.Lock()
    killed: set[str] = set()
    started = time.monotonic()
    issued = [0]

    def budget() -> bool:
        with lock:
            issued[0] += 1
            return issued[0] <= MAX_OPS and time.monotonic() - started < FAULT_SECONDS

    def live() -> list[str]:
        return [n for n in NODES if n not in killed and n not in nemesis.paused]

    clients = [Client(f"p{i}", c, history, lock, live, budget, rnd.randrange(1 << 30))
               for i in range(CLIENTS)]
    for client in clients:
        client.start()
    faults = []
    try:
        while time.monotonic() - started < FAULT_SECONDS:
            time.sleep(FAULT_EVERY_S)
            fault = rnd.choice(["isolate", "halves", "kill", "pause", "heal"])
            victim = rnd.choice(NODES)
            faults.append(f"{fault} {victim}")
            if fault == "isolate":
                nemesis.isolate(victim)
            elif fault == "halves":
                nemesis.partition(NODES[:2], NODES[2:])
            elif fault == "kill" and victim not in killed and len(killed) < 2:
                c.kill(victim)
                killed.add(victim)
            elif fault == "pause" and victim not in killed and not nemesis.paused:
                nemesis.pause(victim)
            else:
                nemesis.heal()
                for node_id in sorted(killed):
                    c.start(node_id)
                killed.clear()
        for client in clients:
            client.join(timeout=30)
            assert not client.is_alive(), f"client {client.name_} hangs"
    finally:
        nemesis.heal()
        for node_id in sorted(killed):
            c.start(node_id)
    finals = final_values(c)
    ops = list(history)
    acknowledged = sum(1 for op in ops if op.status == "ok")
    assert acknowledged > len(ops) // 4, f"only {acknowledged} of {len(ops)} acknowledged"
    counts = {s: sum(1 for op in ops if op.status == s) for s in ("ok", "fail", "info")}
    print(f"{len(ops)} operations: {counts}; faults: {', '.join(faults)}")
    assert len(faults) >= 10, faults
    result = check(ops)
    assert result.ok, result.explain()
    final = check_final_values(ops, finals)
    assert final.ok, final.explain()
    assert check_incr_totals(ops, {k: finals[k] for k in COUNTERS}) == []


def final_values(c) -> dict:
    """Every key's value after healing, read through each node in turn until one
    answers (a linearizable read: once the groups have leaders again)."""
    deadline = time.monotonic() + 60
    while True:
        for node_id in NODES:
            a = c.address(node_id)
            client = redis.Redis(host=a.host, port=a.resp_port, db=DB, socket_timeout=5)
            try:
                return {key: client.get(key) for key in REGISTERS + COUNTERS}
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                if time.monotonic() > deadline:
                    raise
            finally:
                client.close()
