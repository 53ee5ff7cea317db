"""Five nodes on 127.0.0.2-6 (the client on 127.0.0.1) under a nemesis (nftables partitions, SIGKILL and
restart, SIGSTOP/SIGCONT) while a redis-py client records a history; after healing
and repair, the simulation's checkers run on the history and the final state."""

import json
import random
import time
import urllib.request

import redis

from quorumkv.core.consistency import Level
from quorumkv.sim.checkers import check_history
from quorumkv.sim.run import Op

NODES = [f"n{i}" for i in range(1, 6)]
KEYS = [f"nk:{i}" for i in range(12)]
OPS = 250
MAX_SECONDS = 35


class Recorder:
    """One RESP connection per node with receipts on: each command's receipt gives
    the timestamp of the version written or read."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.conns: dict[str, redis.Connection] = {}

    def conn(self, node_id: str) -> redis.Connection:
        if node_id not in self.conns:
            a = self.cluster.address(node_id)
            c = redis.Connection(host=a.host, port=a.resp_port, socket_timeout=3,
                                 socket_connect_timeout=1)
            c.connect()
            c.send_command("QKV.RECEIPT", "ON")
            c.read_response()
            self.conns[node_id] = c
        return self.conns[node_id]

    def run(self, op: Op, node_id: str, value: str) -> None:
        try:
            c = self.conn(node_id)
            c.send_command("QKV.CONSISTENCY", op.level.name)
            c.read_response()
            if op.kind == "write":
                c.send_command("SET", op.key, value)
            else:
                c.send_command("GET", op.key)
            c.send_command("QKV.RECEIPT")
            error = None
            try:
                c.read_response()
            except redis.ResponseError as exc:
                error = exc
            receipts = json.loads(c.read_response())
            if error is None:
                r = receipts[-1]
                op.ts = r["version"]["ts"] if op.kind == "write" else (
                    r["newest"]["ts"] if r["newest"] else 0)
            op.ok = error is None
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            op.ok = None  # unknown: the node died or hung mid-request
            self.conns.pop(node_id, None)

    def close(self) -> None:
        for c in self.conns.values():
            c.disconnect()


def final_state(c) -> tuple[dict, list]:
    """Each key's newest version timestamp, and replicas that disagree, from the
    receipts of ALL reads (the replicas' versions as they were before the read)."""
    finals, violations = {}, []
    for key in KEYS:
        url = c.http("n1") + f"/v1/kv/default/{key}?consistency=ALL&receipt=1"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                receipt = json.loads(r.headers["X-QKV-Receipt"])[-1]
        except urllib.error.HTTPError as exc:
            receipt = json.loads(exc.headers["X-QKV-Receipt"])[-1]
        versions = {n: (v["ts"] if v else 0) for n, v in receipt["versions"].items()}
        if len(set(versions.values())) > 1:
            violations.append(f"(a) {key} did not converge: {versions}")
        finals[key.encode()] = max(versions.values())
    return finals, violations


def test_history_under_a_nemesis_passes_the_checkers(faulty):
    make_cluster, make_nemesis = faulty
    c = make_cluster(5, request_timeout_ms=1000, anti_entropy_interval_ms=0).start()
    nemesis = make_nemesis(c)
    rnd = random.Random(20261127)
    rec = Recorder(c)
    ops: list[Op] = []
    killed: set[str] = set()
    started = time.monotonic()
    try:
        for i in range(OPS):
            if time.monotonic() - started > MAX_SECONDS:
                break
            if i % 25 == 24:  # a fault every 25 operations
                fault = rnd.choice(["isolate", "halves", "kill", "pause", "heal"])
                victim = rnd.choice(NODES)
                if fault == "isolate":
                    nemesis.isolate(victim)
                elif fault == "halves":
                    nemesis.partition(NODES[:2], NODES[2:])
                elif fault == "kill" and victim not in killed:
                    c.kill(victim)
                    killed.add(victim)
                elif fault == "pause" and victim not in killed:
                    nemesis.pause(victim)
                else:
                    nemesis.heal()
                    for node_id in sorted(killed):
                        c.start(node_id)
                    killed.clear()
            live = [n for n in NODES if n not in killed and n not in nemesis.paused]
            node_id = rnd.choice(live)
            kind = "read" if rnd.random() < 0.5 else "write"
            op = Op(0, kind, rnd.choice(KEYS).encode(),
                    rnd.choice([Level.ONE, Level.QUORUM, Level.QUORUM, Level.ALL]),
                    time.monotonic())
            rec.run(op, node_id, f"v{i}")
            op.end = time.monotonic()
            ops.append(op)
        nemesis.heal()
        for node_id in sorted(killed):
            c.start(node_id)
        for node_id in NODES:  # everyone sees everyone again, then a full repair
            for peer in NODES:
                if peer != node_id:
                    c.wait_state(node_id, peer, "up", timeout_s=20)
        time.sleep(1.0)  # hints in flight land
        for node_id in NODES:
            req = urllib.request.Request(c.http(node_id) + "/v1/repair", method="POST")
            with urllib.request.urlopen(req, timeout=120) as r:
                summary = json.loads(r.read().decode().strip().splitlines()[-1])["summary"]
            assert summary["errors"] == [], summary
    finally:
        rec.close()
    finals, violations = final_state(c)
    violations += check_history(ops, finals)
    acknowledged = sum(1 for o in ops if o.ok)
    assert acknowledged > len(ops) // 3, f"only {acknowledged} of {len(ops)} acknowledged"
    assert violations == [], violations[:10]
