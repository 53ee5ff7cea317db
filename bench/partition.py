"""One node of three partitioned away (nftables) for a while under a steady QUORUM
write load: failed requests seen by the client, and how long after healing the
partitioned replica agrees on every key.

    sudo .venv/bin/python bench/partition.py [--seconds 30] [--keys 100000]

Nodes on 127.0.0.2-4 (the clients on 127.0.0.1): 8 client threads write through
node 1 in pipelines of 100 SETs until --keys keys are written or the partition
ends. "Agreed" is when nodes 1 and 2 hold no more hints for node 3; node 3 is then
checked key by key (at ONE, its own storage). Needs root and nftables. Stops every process it started and removes its nftables table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tests.faults.nemesis import Nemesis, available  # noqa: E402
from tests.integration.cluster import ProcessCluster  # noqa: E402

THREADS = 8


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--keys", type=int, default=100_000)
    args = ap.parse_args()
    reason = available()
    if reason:
        sys.exit(reason)
    with tempfile.TemporaryDirectory() as work:
        c = ProcessCluster(work, nodes=3, host_per_node=True, first_host=2)
        nemesis = None
        try:
            c.start()
            nemesis = Nemesis(c)
            nemesis.isolate("n3")
            started = time.monotonic()
            counts = [0] * THREADS
            fails = [0] * THREADS

            def load(t: int) -> None:  # keys t, t+THREADS, ... in pipelines of 100
                client = c.redis("n1")
                keys = range(t, args.keys, THREADS)
                for lo in range(0, len(keys), 100):
                    if time.monotonic() - started >= args.seconds:
                        return
                    pipe = client.pipeline(transaction=False)
                    for i in keys[lo:lo + 100]:
                        pipe.set(f"k:{i}", f"v{i}")
                    results = pipe.execute(raise_on_error=False)
                    fails[t] += sum(1 for r in results if isinstance(r, Exception))
                    counts[t] += len(results)

            threads = [threading.Thread(target=load, args=(t,)) for t in range(THREADS)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            written, failures = sum(counts), sum(fails)
            load_s = time.monotonic() - started
            remaining = args.seconds - load_s
            if remaining > 0:
                time.sleep(remaining)  # the partition lasts its full time
            nemesis.heal()
            healed = time.monotonic()
            # agreed once n1 and n2 hold no more hints for n3 ...
            while any(next(n for n in c.cluster_json(o)["nodes"] if n["id"] == "n3")
                      ["hints_pending"] for o in ("n1", "n2")):
                if time.monotonic() - healed > 600:
                    sys.exit("hints for n3 still pending after 600 s")
                time.sleep(0.1)
            agreed_s = time.monotonic() - healed
            # ... and then n3, asked at ONE (its own storage), has every key written
            one = c.redis("n3", consistency="ONE")
            lacking = [i for t in range(THREADS) for i in range(t, args.keys, THREADS)
                       [:counts[t]] if one.get(f"k:{i}") != f"v{i}".encode()]
            if lacking:
                sys.exit(f"n3 lacks {len(lacking)} keys after the hints were delivered")
        finally:
            if nemesis is not None:
                nemesis.close()
            c.close()
    print(f"partition {args.seconds:.0f} s; {written} keys written at QUORUM through n1 in "
          f"{load_s:.1f} s ({written / load_s:.0f}/s), {failures} failed; n3 agreed on "
          f"every key {agreed_s:.1f} s after healing (hints delivered, checked key by key)")


if __name__ == "__main__":
    main()
