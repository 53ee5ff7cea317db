"""Server CPU per strong write: a write load against a running 3-node cluster,
and what its node processes spent on it.

    .venv/bin/python bench/strong/cpu_per_write.py --pids 4101,4102,4103 \\
        [--http-ports 27401,27402,27403] [--keyspace locks] [-- LOAD.PY OPTIONS]

Runs ``load.py --target quorumkv --workloads write --keys 10000 --seconds 8
--warmup 1 --no-preload`` (anything after ``--`` is added) against the RESP
ports 27301-27303 and prints its line, then the CPU (utime + stime, every thread)
the given node processes used over the run divided by the writes they proposed
(``qkv_raft_proposals_total`` of the keyspace, summed over the nodes), and the
loop turns that persisted something (``qkv_raft_turns_total``). A single run
moves by up to 40 % on a shared machine: alternate the two builds you compare.
The pids are the node processes (``pgrep -P`` of ``quorumkv cluster up``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from idle_cpu import cpu_s  # noqa: E402  (the same /proc reading)


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_s(pid) for pid in pids)  # every thread's utime + stime


def counter(ports: list[int], pattern: str) -> float:
    total = 0.0
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        total += sum(float(v) for v in re.findall(pattern, text, re.M))
    return total


def main() -> int:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pids", required=True, help="the node processes, comma-separated")
    ap.add_argument("--http-ports", default="27401,27402,27403")
    ap.add_argument("--resp", default="127.0.0.1:27301,127.0.0.1:27302,127.0.0.1:27303")
    ap.add_argument("--keyspace", default="locks")
    args = ap.parse_args(argv)
    pids = [int(p) for p in args.pids.split(",")]
    ports = [int(p) for p in args.http_ports.split(",")]
    proposals = rf'^qkv_raft_proposals_total\{{keyspace="{re.escape(args.keyspace)}"[^}}]*\}} (\S+)'
    turns = r"^qkv_raft_turns_total (\S+)"
    c0, p0, t0 = cpu_seconds(pids), counter(ports, proposals), counter(ports, turns)
    load = subprocess.run(
        [sys.executable, os.path.join(HERE, "load.py"), "--target", "quorumkv",
         "--keyspace", args.keyspace, "--endpoints", args.resp, "--workloads", "write",
         "--keys", "10000", "--seconds", "8", "--warmup", "1", "--no-preload", *extra],
        capture_output=True, text=True, timeout=300)
    c1, p1, t1 = cpu_seconds(pids), counter(ports, proposals), counter(ports, turns)
    lines = [line for line in load.stdout.splitlines() if line.startswith("write")]
    if load.returncode or not lines or p1 <= p0:
        print(load.stdout + load.stderr, file=sys.stderr)
        return 1
    writes, cpu = p1 - p0, c1 - c0
    print(lines[0])
    print(f"{writes:.0f} writes proposed, {t1 - t0:.0f} node turns, node CPU {cpu:.1f} s: "
          f"{1e6 * cpu / writes:.0f} us per write")
    return 0


if __name__ == "__main__":
    sys.exit(main())
