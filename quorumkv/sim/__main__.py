"""``python -m quorumkv.sim --seed N``: replay one simulated run with its trace
(``--strong``: a run of the strong keyspace simulation, sim/strong.py)."""

from __future__ import annotations

import argparse
import sys

from .run import simulate
from .strong import BUGS, simulate_strong


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m quorumkv.sim")
    ap.add_argument("--seed", type=int, default=None, help="Replay this seed.")
    ap.add_argument("--seeds", type=int, default=1, help="Run seeds 0..N-1 (no trace).")
    ap.add_argument("--no-faults", action="store_true")
    ap.add_argument("--strong", action="store_true",
                    help="Simulate the strong keyspace (Raft) instead of the eventual ones.")
    ap.add_argument("--bug", choices=sorted(BUGS), default=None,
                    help="With --strong: inject this bug into the nodes (a test hook).")
    args = ap.parse_args()
    if args.strong:
        return strong(args)
    seeds = [args.seed] if args.seed is not None else list(range(args.seeds))
    failed = 0
    for seed in seeds:
        result = simulate(seed, faults=not args.no_faults, trace=args.seed is not None)
        for line in result.trace:
            print(line)
        status = "ok" if result.ok else "FAILED"
        print(f"seed {seed}: {status}, {len(result.ops)} operations, "
              f"{sum(1 for o in result.ops if o.ok)} acknowledged")
        for v in result.violations:
            print(f"  violation: {v}")
        failed += not result.ok
    return 1 if failed else 0


def strong(args) -> int:
    seeds = [args.seed] if args.seed is not None else list(range(args.seeds))
    failed = 0
    for seed in seeds:
        result = simulate_strong(seed, bug=args.bug, faults=not args.no_faults,
                                 trace=args.seed is not None)
        for line in result.trace:
            print(line)
        ops = result.ops
        print(f"seed {seed}: {'ok' if result.ok else 'FAILED'}, {len(ops)} operations, "
              f"{sum(1 for o in ops if o.status == 'ok')} ok, "
              f"{sum(1 for o in ops if o.status != 'ok')} indeterminate or failed; "
              f"linearizability: {result.verdict}")
        if not result.ok:
            print(result.report())
        failed += not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
