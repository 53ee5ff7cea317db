"""Anti-entropy cost: bytes exchanged to repair 1 % divergence of 100,000 keys,
against a full copy of the data, and the time to converge.

    .venv/bin/python bench/antientropy.py [--keys 100000] [--diverge 0.01]

Starts 3 nodes on free loopback ports (the test harness's launcher, hints and
background anti-entropy off), loads the keys with 100-byte values through node 1,
kills node 3, overwrites the diverging share at QUORUM, restarts node 3 and runs
`quorumkv repair` against it. Stops every process it started.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from quorumkv.core import messages as m  # noqa: E402
from quorumkv.core.version import Version  # noqa: E402
from tests.integration.cluster import ProcessCluster  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--diverge", type=float, default=0.01)
    args = ap.parse_args()
    value = b"v" * 100
    with tempfile.TemporaryDirectory() as work:
        c = ProcessCluster(work, max_hints_per_target=0, anti_entropy_interval_ms=0)
        try:
            c.start()
            n1 = c.redis("n1")
            for lo in range(0, args.keys, 1000):
                pipe = n1.pipeline(transaction=False)
                for i in range(lo, min(lo + 1000, args.keys)):
                    pipe.set(f"key:{i}", value)
                pipe.execute()
            c.kill("n3")
            c.wait_state("n1", "n3", "down")
            changed = int(args.keys * args.diverge)
            pipe = n1.pipeline(transaction=False)
            for i in range(0, args.keys, args.keys // changed):
                pipe.set(f"key:{i}", b"w" * 100)
            pipe.execute()
            c.start("n3")
            c.wait_state("n1", "n3", "up")
            started = time.monotonic()
            out = subprocess.run([sys.executable, "-m", "quorumkv", "repair", "--http",
                                  c.http("n3")], capture_output=True, text=True, timeout=3600)
            elapsed = time.monotonic() - started
        finally:
            c.close()
    # a full copy: every key as one Put message of the same shape
    put = m.encode(1, m.Put("default", b"key:50000", Version(1 << 60, "n1", value=value), 1, 1))
    full = args.keys * (len(put) + 4)
    print(out.stdout.strip() or out.stderr.strip())
    exchanged = int(out.stdout.split("; ")[-1].split()[0]) if out.returncode == 0 else -1
    print(f"keys {args.keys}, diverging {changed} ({args.diverge:.1%}) on one of three "
          f"replicas; repair of that replica took {elapsed:.1f} s")
    print(f"bytes exchanged {exchanged}; a full copy of the keys {full} "
          f"({exchanged / full:.1%} of it)")


if __name__ == "__main__":
    main()
